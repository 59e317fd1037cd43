"""The ``data``, ``teacher`` and ``augment`` steps: fixed splits, a ready teacher, augmented train.

- ``data`` loads teacher.yaml's ``data:`` (any source, the embedded tweets included) once, with its
  split, seed and caps, and writes ``train/dev/test.jsonl`` (columns ``text``, ``text_pair`` for
  pair tasks, ``label`` as the label name). Every later step reads these files, so augmentation and
  distillation see exactly the same dev and test examples as the teacher.
- ``teacher`` fine-tunes (or loads) the teacher on the *original* train split and saves it, labels
  aligned, as a ready classifier. Distilling on augmented data then never fine-tunes the teacher on
  the augmented copies: the distill step gets this folder with ``finetune.mode: never``.
- ``augment`` runs augment.yaml over ``train.jsonl`` (the text columns and format are set to the
  exported files'); dev and test are passed through untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distill.config import TeacherConfig
from distill.core.schema import validate
from distill.data.dataset import JSONL_LABEL, JSONL_PAIR, JSONL_TEXT
from distill.pipeline.context import Done, Result, StepContext
from distill.train.evaluate import PRIMARY

TASKS = ("classification", "regression")  # what a pipeline trains (multi-label: distill run only so far)

log = logging.getLogger("distill")

TEXT, PAIR, LABEL = JSONL_TEXT, JSONL_PAIR, JSONL_LABEL


def derived_data(data: Done) -> dict[str, Any]:
    """A teacher.yaml ``data:`` section that reads a data/augment step's files, caps removed; the
    task as the data step found it (a regression's targets are numbers: declared, never re-inferred)."""
    regression = data.info.get("task") == "regression"
    return {
        "source": str(data.outputs["train"]),
        "format": "jsonl",
        "text_column": TEXT,
        "label_column": LABEL,
        "text_pair_column": PAIR if data.info["pair"] else None,
        **({"task": "regression"} if regression else {"labels": data.info["labels"]}),
        "dev": str(data.outputs["dev"]),
        "test": str(data.outputs["test"]),
    }


def derived_teacher(raw: dict[str, Any], data: Done, model: Path | None = None) -> dict[str, Any]:
    """teacher.yaml with its data replaced by ``data``'s files and, given ``model``, that ready
    classifier as the model (never fine-tuned again)."""
    out = {**raw, "data": derived_data(data)}
    if model is not None:
        out["model"] = str(model)
        out["finetune"] = {**(raw.get("finetune") or {}), "mode": "never"}
        out.pop("label_map", None)  # the saved teacher's id2label already names the data's labels
    return out


def run_data(ctx: StepContext) -> Result:
    from distill.data.dataset import load_splits

    raw = dict(ctx.teacher_raw["data"])
    caps = ctx.step.options.model_dump(exclude_none=True)
    cfg = validate(TeacherConfig, {**ctx.teacher_raw, "data": {**raw, **caps}}, str(ctx.recipe.teacher)).data
    splits = load_splits(cfg, TASKS)  # the steps a task cannot take are refused after this one
    outputs = {}
    for name in ("train", "dev", "test"):
        outputs[name] = ctx.tmp / f"{name}.jsonl"
        with open(outputs[name], "w", encoding="utf-8") as f:
            getattr(splits, name).write_jsonl(f, splits.label_names)
    info = {
        "labels": splits.label_names,
        "task": splits.task,
        "pair": splits.train.pairs is not None,
        "rows": {s: len(getattr(splits, s)) for s in ("train", "dev", "test")},
    }
    log.info("data: train %d, dev %d, test %d rows; labels %s", *info["rows"].values(), splits.label_names)
    return Result(outputs, info)


def run_teacher(ctx: StepContext) -> Result:
    from distill.data.dataset import load_splits
    from distill.distillation.run import pick_device
    from distill.train.teacher import check_teacher, evaluate_teacher, load_teacher

    data = ctx.one("data")
    source = str(ctx.recipe.teacher)
    cfg = validate(TeacherConfig, derived_teacher(ctx.teacher_raw, data), source)
    splits = load_splits(cfg.data, TASKS)
    device = pick_device(cfg.device)
    teacher = load_teacher(cfg, splits, device, source)
    scores = evaluate_teacher(teacher, splits, cfg.max_length, device)
    check_teacher(scores["dev"], splits, source)
    out = ctx.tmp / "model"
    teacher.model.to("cpu").save_pretrained(out)
    teacher.tokenizer.save_pretrained(out)
    metric = PRIMARY[splits.task]
    log.info(
        "teacher: dev %s %.4f, test %s %.4f", metric, scores["dev"][metric], metric, scores["test"][metric]
    )
    return Result(
        {"model": out},
        {"scores": scores, "base_model": cfg.model, "finetune_seconds": teacher.finetune_seconds},
    )


def run_augment(ctx: StepContext) -> Result:
    from augment.config import build_pipeline, parse_config
    from augment.runner import prepare_run, run_file
    from distill.core.schema import load_yaml
    from distill.distillation.augmented import for_split

    data = ctx.one("data")
    source = str(ctx.step.config)
    raw = load_yaml(ctx.step.config)
    if ctx.step.options.n_iter is not None:
        raw.pop("N", None)
        raw["n_iter"] = ctx.step.options.n_iter
    cfg, strategies = parse_config(raw, source)
    cfg = for_split(cfg, data.info["pair"], source)
    out = ctx.tmp / "train.jsonl"
    # before models load
    plan = prepare_run(cfg, data.outputs["train"], out, source, flag=f"{source}: the augment step's output")
    pipeline = build_pipeline(cfg, strategies, source=source)
    stats = run_file(
        pipeline, cfg, data.outputs["train"], out, plan=plan, workers=ctx.step.options.workers, progress=False
    )
    log.info("augment: %d rows -> %d rows (%.1f s)", stats.rows_in, stats.rows_out, stats.seconds)
    info = {
        **data.info,
        "augmented": {"rows_in": stats.rows_in, "rows_out": stats.rows_out, "seconds": stats.seconds},
    }
    return Result({"train": out, "dev": data.outputs["dev"], "test": data.outputs["test"]}, info)

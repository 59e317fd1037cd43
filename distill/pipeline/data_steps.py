"""The ``data``, ``teacher`` and ``augment`` steps: fixed splits, a ready teacher, augmented train.

- ``data`` loads teacher.yaml's ``data:`` (any source, the embedded tweets included) once, with its
  split, seed and caps, and writes ``train/dev/test.jsonl`` (columns ``text``, ``text_pair`` for
  pair tasks, ``label`` as the label name: a regression's target, a multi-label row's list of
  names). Every later step reads these files, so augmentation and
  distillation see exactly the same dev and test examples as the teacher.
- ``teacher`` fine-tunes (or loads) the teacher on the *original* train split and saves it, labels
  aligned, as a ready classifier (a multi-label one with its per-label thresholds tuned on dev). Distilling on augmented data then never fine-tunes the teacher on
  the augmented copies: the distill step gets this folder with ``finetune.mode: never``.
- ``augment`` runs augment.yaml over ``train.jsonl`` (the text columns and format are set to the
  exported files'); dev and test are passed through untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distill.config import TeacherConfig
from distill.core.metrics import PRIMARY
from distill.core.schema import validate
from distill.data.dataset import JSONL_LABEL, JSONL_PAIR, JSONL_TEXT
from distill.pipeline.context import Done, Result, StepContext

TASKS = ("classification", "regression", "multi_label")  # what a pipeline trains: every task

log = logging.getLogger("distill")

TEXT, PAIR, LABEL = JSONL_TEXT, JSONL_PAIR, JSONL_LABEL


def derived_data(data: Done) -> dict[str, Any]:
    """A teacher.yaml ``data:`` section that reads a data/augment step's files, caps removed; the
    task as the data step found it, declared, never re-inferred (a regression's targets are numbers,
    a multi-label row's labels a JSON list of names, in the data step's label order)."""
    task = data.info.get("task", "classification")
    return {
        "source": str(data.outputs["train"]),
        "format": "jsonl",
        "text_column": TEXT,
        "label_column": LABEL,
        "text_pair_column": PAIR if data.info["pair"] else None,
        **({"task": task} if task != "classification" else {}),
        **({"labels": data.info["labels"]} if task != "regression" else {}),
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
    splits = load_splits(cfg, TASKS)
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
    if splits.task == "multi_label":  # its decisions at thresholds tuned on dev, saved with it
        scores = _tuned(teacher, splits, cfg.max_length, device)
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


def _tuned(teacher, splits, max_length: int, device) -> dict:
    """A multi-label teacher's dev/test scores at per-label thresholds tuned on dev, the thresholds
    set in its config (``label_thresholds``: export and bench decide as `distill run` scores)."""
    from distill.data.batching import encode
    from distill.distillation.tasks import tuned_scores
    from distill.train.distributed import SINGLE

    dev, test = (encode(getattr(splits, s), teacher.tokenizer, max_length) for s in ("dev", "test"))
    scores, thresholds = tuned_scores(teacher.model, dev, test, 64, device, SINGLE)
    teacher.model.config.label_thresholds = thresholds
    return {**scores, "thresholds": thresholds}


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

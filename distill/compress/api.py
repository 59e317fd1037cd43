"""`distill compress`, `distill export` and `distill bench` as library functions.

Each takes typed options and does everything the command does: the same checks, in the same order,
the same defaults and the same one-line errors (:class:`~distill.core.errors.DistillError`). The command
line (distill/compress/cli.py) only turns argv into these calls and prints their results; the
pipeline's compress, export and bench steps call them directly. Error messages name the options by
their command-line flags (``--recover-epochs needs --train-data``), the spelling users read in the
docs (docs/cli.md); the keyword arguments have the same names with underscores.

Heavy modules (torch, transformers, onnxruntime) are imported inside the functions, so importing
this module (as the CLI does to build its parser) stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from distill.core.errors import ConfigError
from distill.core.schema import load_yaml


def _positive(value: Any, what: str) -> None:
    """An integer >= 1: argparse checks the flag's text; a Python caller gets the same words."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what}: expected an integer >= 1, got {value!r}")


@dataclasses.dataclass(frozen=True)
class DataFile:
    """A csv/tsv/glue/jsonl file of texts (pairs, labels): what ``--<prefix>-data`` and the
    ``--<prefix>-*-column``/``-format``/``-encoding``/``-limit`` flags name."""

    path: str | Path
    text_column: str = "text"
    text_pair_column: str | None = None  # the second text of sentence pairs
    label_column: str = "label"
    format: str | None = None  # csv, tsv, glue or jsonl; default: from the extension
    encoding: str = "utf-8"
    limit: int = 1000  # rows read

    def __post_init__(self) -> None:
        _positive(self.limit, f"{self.path}: limit")

    def read(self, labels: bool, label2id: dict[str, int] | None = None, task: str = "classification"):
        """The rows as an :class:`~distill.compress.evalset.EvalSet` (``labels``: read the label column,
        names mapped through the model's ``label2id``; ``task``: the model's, which says what a
        label is: a class, a number or a list of label names)."""
        from distill.compress.evalset import read_eval_set

        return read_eval_set(
            self.path,
            self.text_column,
            self.label_column if labels else None,
            self.text_pair_column,
            fmt=self.format,
            encoding=self.encoding,
            limit=self.limit,
            label2id=label2id,
            task=task,
        )


def quiet_transformers() -> None:
    """Keep stderr for our one-line errors: no HF loading bars or warnings."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def compress_model(
    model_dir: str | Path,
    output_dir: str | Path,
    *,
    prune_heads: float = 0.0,
    prune_ffn: float = 0.0,
    importance: str = "magnitude",
    recover_epochs: int = 0,
    recover_lr: float = 5e-5,
    recover_objectives: str | Path | Mapping | None = None,
    max_len: int = 128,
    train_data: DataFile | None = None,
) -> dict:
    """Prune a saved BERT classifier's heads and FFN neurons (optionally recover by distillation from
    the unpruned model on ``train_data``, and verify against it there) and save it to ``output_dir``
    (atomically), with its run's *.yaml and compress.json. Returns compress.json's summary.

    ``recover_objectives``: as a student.yaml stage's objectives (default ``{kd_kl: {temperature: 2}}``),
    checked before anything loads.
    """
    import copy

    import torch

    from distill.compress.evalset import encode_batches
    from distill.compress.export import torch_predict, verify
    from distill.compress.models import (
        BILSTM_TYPE,
        as_logits_module,
        check_model_dir,
        count_parameters,
        input_names,
        load_classifier,
    )
    from distill.compress.prune import prune
    from distill.compress.recover import objectives_spec, recover
    from distill.compress.sources import label2id_of
    from distill.core.atomic import atomic_dir
    from distill.models.adapters import adapter_for

    quiet_transformers()
    _positive(max_len, "--max-len")
    from distill.compress.scoring import task_of_model

    # Objectives are checked before anything loads: a typo (or one the task has no use for) costs no pruning.
    task = task_of_model(model_dir)
    objectives, where = objectives_spec(recover_objectives, recover_epochs, task.name)
    mt = check_model_dir(model_dir)["model_type"]
    no_prune = "a BiLSTM has no heads or FFN to prune" if mt == BILSTM_TYPE else adapter_for(mt).prune.why
    if no_prune:
        raise ConfigError(
            f"{model_dir}: model_type {mt}: distill compress (pruning) does not apply: {no_prune}; "
            "export and benchmark it with distill export / distill bench"
        )
    model, tok = load_classifier(model_dir)
    original = copy.deepcopy(model)
    data = train_data.read(True, label2id_of(model_dir), task.name) if train_data is not None else None
    taylor = None
    batches = []
    names = input_names(as_logits_module(model, tok))  # what the tokenizer produces: token types too
    if data is not None:
        for arrays in encode_batches(tok, data.texts, data.pairs, max_len, 16, "token_type_ids" in names):
            batches.append({n: torch.from_numpy(a) for n, a in zip(names, arrays, strict=True)})
        if data.labels is not None:
            for i, b in enumerate(batches):
                b["labels"] = torch.tensor(data.labels[i * 16 : i * 16 + len(b["input_ids"])])
            taylor = batches[0]
    before = count_parameters(model)
    prune(model, head_ratio=prune_heads, ffn_ratio=prune_ffn, importance=importance, taylor_batch=taylor)
    recovery = None
    if recover_epochs:
        if not batches:
            raise ConfigError("--recover-epochs needs --train-data (training texts to distil on)")
        recovery = recover(
            model, original, batches, objectives, recover_epochs, recover_lr, source=where, task=task.name
        )
    summary = {
        "params_before": before,
        "params_after": count_parameters(model),
        "num_attention_heads": model.config.num_attention_heads,
        "hidden_size": model.config.hidden_size,
        "intermediate_size": model.config.intermediate_size,
        "recovery": None if recovery is None else dataclasses.asdict(recovery),
    }
    if data is not None:
        inputs = [tuple(b[n].numpy() for n in names) for b in batches]
        summary["verify"] = verify(
            torch_predict(as_logits_module(original, tok)),
            torch_predict(as_logits_module(model, tok)),
            inputs,
            data.labels,
            task,
        )
    with atomic_dir(output_dir) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        for extra in Path(model_dir).glob(
            "*.yaml"
        ):  # the run's config: how the model was trained and evaluated
            shutil.copy(extra, tmp / extra.name)  # (export and bench read its max_length and pair column)
        (tmp / "compress.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def export_model(
    model_dir: str | Path,
    output_dir: str | Path,
    *,
    opset: int = 17,
    optimize: bool = True,
    int8: str | None = None,
    min_agreement: float = 0.99,
    min_agreement_int8: float = 0.97,
    max_len: int | None = None,
    verify_data: DataFile | None = None,
    calibration_data: DataFile | None = None,
) -> dict:
    """`distill export`: :func:`distill.compress.export.export_onnx` on a model folder, verified on
    ``verify_data`` (labels read through the model's label2id; default: a built-in set) and, for
    ``int8="static"``, calibrated on ``calibration_data``. Returns graph file name -> verification."""
    from distill.compress.export import export_onnx
    from distill.compress.models import check_model_dir

    quiet_transformers()
    if max_len is not None:
        _positive(max_len, "--max-len")
    check_model_dir(model_dir)
    if int8 == "static" and calibration_data is None:
        raise ConfigError("--int8 static needs --calibration-data (training texts to calibrate on)")
    from distill.compress.scoring import task_of_model
    from distill.compress.sources import label2id_of

    task = task_of_model(model_dir).name
    ver = verify_data.read(True, label2id_of(model_dir), task) if verify_data is not None else None
    cal = calibration_data.read(labels=False) if calibration_data is not None else None
    return export_onnx(
        model_dir,
        output_dir,
        opset=opset,
        optimize=optimize,
        int8=int8,
        calibration_texts=cal.texts if cal else None,
        verify_texts=ver.texts if ver else None,
        verify_pairs=ver.pairs if ver else None,
        verify_labels=ver.labels if ver else None,
        min_agreement=min_agreement,
        min_agreement_int8=min_agreement_int8,
        max_len=max_len,
        calibration_pairs=cal.pairs if cal else None,
    )


def progress_to_stderr(message: str) -> None:
    """What `distill bench` shows while it measures: one line per (source / kind / device)."""
    print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass
class BenchRun:
    """A finished benchmark: its report folder (report.md, report.json, pareto.png) and the result."""

    out: str
    result: dict


def benchmark(
    config: str | Path | None = None,
    *,
    models: list[str] | None = None,
    teacher: str | None = None,
    shapes: list[str] | None = None,
    eval_data: DataFile | None = None,
    eval_teacher: str | None = None,
    eval_split: str = "dev",
    eval_limit: int = 1000,
    kinds: list[str] | None = None,
    devices: list[str] | None = None,
    batch_sizes: list[int] | None = None,
    seq_lens: list[int] | None = None,
    warmup: int | None = None,
    reps: int | None = None,
    max_seconds: float | None = None,
    threads: int | None = None,
    out: str | None = None,
    progress: Callable[[str], None] | None = None,
    max_accuracy_drop: float | None = None,
) -> BenchRun:
    """`distill bench`: measure the sources of ``config`` (a bench.yaml) or, without one, of ``models``
    (the first the FP32 student reference) and ``shapes`` on ``eval_teacher``'s ``eval_split`` or
    ``eval_data``; write the report. ``teacher``: a model folder measured as the teacher (the
    vs-teacher columns' reference). ``kinds`` ... ``out`` (None: not given) are bench.yaml's keys:
    they replace the file's before validation, so a bad value gets the same check. With a ``config``, its
    sources and data are used and ``models``, ``shapes`` and ``eval_*`` are ignored (as by the CLI).
    """
    from distill.compress.bench import run_benchmark
    from distill.compress.benchconfig import parse_bench_config
    from distill.compress.evalset import read_eval_set, teacher_split
    from distill.compress.report import write_report
    from distill.compress.sources import mark_teacher, one_label_order, one_task
    from distill.compress.variants import Source

    quiet_transformers()
    if config:
        raw, where = load_yaml(config), str(config)
        if teacher and isinstance(raw, dict) and isinstance(raw.get("sources"), list):
            if any(isinstance(s, dict) and s.get("role") == "teacher" for s in raw["sources"]):
                raise ConfigError(f"--teacher {teacher}: {config} already has a source with role: teacher")
            raw = {**raw, "sources": [dict(s) if isinstance(s, dict) else s for s in raw["sources"]]}
            mark_teacher(raw["sources"], teacher)
            where = f"{config} (with --teacher)"
    else:
        sources = [
            {"name": Path(p).name, "path": str(p), "role": "student" if i == 0 else "other"}
            for i, p in enumerate(models or [])
        ]
        sources += [{"name": s, "shape": s} for s in shapes or []]
        raw, where = {"sources": sources}, "bench flags"
        if teacher:
            mark_teacher(sources, teacher)
        if eval_teacher:
            raw["eval"] = {"teacher": eval_teacher, "split": eval_split, "limit": eval_limit}
        elif eval_data is not None:
            e = eval_data
            raw["eval"] = {
                "path": str(e.path),
                "text_column": e.text_column,
                "text_pair_column": e.text_pair_column,
                "label_column": e.label_column,
                "format": e.format,
                "encoding": e.encoding,
                "limit": e.limit,
            }
    flags = {
        "kinds": kinds,
        "devices": devices,
        "batch_sizes": batch_sizes,
        "seq_lens": seq_lens,
        "warmup": warmup,
        "reps": reps,
        "max_seconds": max_seconds,
        "threads": threads,
        "max_accuracy_drop": max_accuracy_drop,
        "out": out,
    }
    given = {key: value for key, value in flags.items() if value is not None}
    if config and given:
        where = f"{config} (with --{' --'.join(k.replace('_', '-') for k in given)})"
    cfg = parse_bench_config({**raw, **given}, where)
    sources = [Source(s.name, s.path, s.shape, s.role) for s in cfg.sources]
    l2i, task = one_label_order(sources, where), one_task(sources, where)
    ev = cal = None
    if cfg.eval:
        e = cfg.eval
        ev = (
            teacher_split(e.teacher, e.split, e.limit, l2i)
            if e.teacher
            else read_eval_set(
                e.path,
                e.text_column,
                e.label_column,
                e.text_pair_column,
                e.format,
                e.encoding,
                e.limit,
                l2i,
                task,
            )
        )
    if cfg.calibration:
        c = cfg.calibration
        cal = (
            teacher_split(c.teacher, c.split, c.limit, None)
            if c.teacher
            else read_eval_set(c.path, c.text_column, None, c.text_pair_column, c.format, c.encoding, c.limit)
        )
    result = run_benchmark(
        sources,
        cfg.kinds,
        cfg.settings(),
        ev,
        cal.texts if cal else None,
        progress=progress,
        calibration_pairs=cal.pairs if cal else None,
    )
    write_report(result, cfg.out)
    return BenchRun(cfg.out, result)


def export_hints(model_dir: str | Path) -> list[str]:
    """The lines `distill export` prints after its graphs: the kinds this machine (its devices, a
    C++ compiler for torch.compile) can run for the model, and the `distill bench` command that
    names the fastest that keeps accuracy (recommend.export_hint)."""
    import torch

    from distill.compress.models import check_model_dir
    from distill.compress.recommend import cxx_compiler, export_hint

    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    mt = check_model_dir(model_dir)["model_type"]
    return export_hint(str(model_dir), mt, devices, cxx_compiler() is not None)

"""``export:`` in student.yaml: the student, and the teacher it is compared with, as verified INT8
ONNX graphs, scored and timed beside their PyTorch FP32 selves (the run's four summary rows).

After the student is saved, :func:`deploy` exports it with :func:`distill.compress.export.export_onnx`
into ``<output>/onnx/`` (model.onnx, its INT8 graph, tokenizer, config, verify.json), verified on the
dev split against the saved student; with ``export.teacher`` the teacher as it was evaluated (label
rows aligned to the data) goes the same way into ``<output>/teacher-onnx/``. Each INT8 graph is then
scored on dev and test and timed like the FP32 models (batch-1 latency over real dev examples,
batch-32 throughput, the same threads), one after the other in this process. A graph that does not
agree with its model stops the run (exit 2) before metrics.json is written: nothing is reported
that differs from what was evaluated.
"""

from __future__ import annotations

import logging
import math
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np

from distill.compress.scoring import Task, task_of_model
from distill.config import ExportConfig, SpeedConfig
from distill.core.errors import ConfigError
from distill.data.batching import Encoded, collate
from distill.train.speed import time_calls

log = logging.getLogger("distill")


def int8_for_teacher(cfg: ExportConfig, teacher_type: str) -> str:
    """The teacher's INT8 graph: the student's ``export.int8`` where it applies to the teacher's family,
    else ORT's dynamic recipe, which applies to every family."""
    from distill.compress import kinds

    return cfg.int8 if kinds.refusal(kinds.int8_kind(cfg.int8).name, teacher_type) is None else "dynamic"


def check_export(cfg: ExportConfig, student_type: str, source: str) -> None:
    """Refuse, before the teacher loads, an ``export.int8`` that is unknown or does not apply to the
    student's family (validate and run)."""
    from distill.compress import kinds
    from distill.core.schema import did_you_mean

    if cfg.int8 not in kinds.INT8_EXPORTS:
        hint = did_you_mean(cfg.int8, list(kinds.INT8_EXPORTS))
        raise ConfigError(
            f"{source}: export.int8: {cfg.int8!r} is unknown{f' (did you mean {hint!r}?)' if hint else ''}; "
            f"expected one of {', '.join(kinds.INT8_EXPORTS)}"
        )
    why = kinds.refusal(kinds.int8_kind(cfg.int8).name, student_type)
    if why:
        raise ConfigError(
            f"{source}: export.int8: {cfg.int8} does not apply to this student (model_type {student_type}): "
            f"{why}; for it: {', '.join(kinds.int8_for(student_type))}"
        )


def _feeds(session, data: Encoded, batches: list[list[int]]) -> list[dict[str, np.ndarray]]:
    """The graph's inputs for each batch of ``data`` indices (padded per batch), built before timing."""
    names = [i.name for i in session.get_inputs()]
    feeds = []
    for indices in batches:
        batch = collate(data, indices)
        if "token_type_ids" in names and "token_type_ids" not in batch:
            batch["token_type_ids"] = batch["attention_mask"] * 0
        feeds.append({n: batch[n].numpy() for n in names})
    return feeds


def graph_scores(session, data: Encoded, task: Task, batch_size: int = 64) -> dict[str, float]:
    """The task's scores of the graph on every example of ``data`` (accuracy and macro-F1; Pearson,
    Spearman and MSE; micro-/macro-F1 and subset accuracy at the model's saved thresholds)."""
    batches = [list(range(i, min(i + batch_size, len(data)))) for i in range(0, len(data), batch_size)]
    out = np.concatenate([session.run(["logits"], feed)[0] for feed in _feeds(session, data, batches)])
    return task.scores(out, list(data.labels))  # out: (examples, outputs)


def graph_speed(session, data: Encoded, speed: SpeedConfig) -> dict:
    """Batch-1 latency percentiles and batch-32 throughput, as distill.train.speed measures a torch model."""
    n, warmup = speed.latency_runs, speed.latency_warmup
    singles = iter(_feeds(session, data, [[k % len(data)] for k in range(warmup + n)]))
    times, _ = time_calls(lambda: session.run(["logits"], next(singles)), warmup, n, math.inf, n)
    ms = [t * 1000 for t in times]
    b, size = speed.throughput_batches, speed.throughput_batch_size
    picks = [[(k * size + i) % len(data) for i in range(size)] for k in range(b + 1)]
    batches = iter(_feeds(session, data, picks))
    batch_times, _ = time_calls(lambda: session.run(["logits"], next(batches)), 1, b, math.inf, b)
    return {
        "latency_ms_b1": {
            "p50": statistics.median(ms),
            "p90": statistics.quantiles(ms, n=10)[8],
            "n": n,
            "warmup": warmup,
        },
        "throughput_b32": b * size / sum(batch_times),
    }


def _export(
    model_dir: Path, out: Path, int8: str, cfg: ExportConfig, verify: dict, calibration: dict
) -> dict:
    from distill.compress.export import export_onnx

    return export_onnx(
        model_dir,
        out,
        int8=int8,
        min_agreement=cfg.min_agreement,
        min_agreement_int8=cfg.min_agreement_int8,
        **verify,
        **(calibration if int8 == "static" else {}),
    )


def deploy(
    cfg: ExportConfig,
    out: Path,
    teacher,
    splits,
    dev_data: Encoded,
    test_data: Encoded,
    speed: SpeedConfig,
    max_length: int,
    teacher_thresholds: list[float] | None = None,
) -> dict:
    """Export, verify, score and time the INT8 graphs (see the module docstring); ``dev_data`` and
    ``test_data``: the splits in the teacher's tokens (``for_student()``: the student's);
    ``teacher_thresholds``: a multi-label teacher's, tuned on dev as the student's (saved in its
    config.json) were. Returns metrics.json's ``export`` block: role -> graph, verification, dev/test
    scores, size and speed."""
    import torch

    from distill.compress.export import ort_session

    threads = torch.get_num_threads()
    n, dev = cfg.verify_examples, splits.dev
    verify = {
        "verify_texts": dev.texts[:n],
        "verify_pairs": dev.pairs[:n] if dev.pairs is not None else None,
        "verify_labels": list(dev.labels[:n]),
        "max_len": max_length,
    }
    train = splits.train
    calibration = {
        "calibration_texts": train.texts[: cfg.calibration_examples],
        "calibration_pairs": train.pairs[: cfg.calibration_examples] if train.pairs is not None else None,
    }
    models = {"student": (out, out / "onnx", cfg.int8)}
    result: dict = {}
    with tempfile.TemporaryDirectory(dir=out, prefix=".teacher-") as tmp:
        if cfg.teacher:
            # the teacher as it was evaluated: label rows aligned to the data's, cast back to fp32,
            # a multi-label teacher's decisions at its own tuned thresholds
            if teacher_thresholds is not None:
                teacher.model.config.label_thresholds = teacher_thresholds
            teacher.model.save_pretrained(tmp)
            teacher.tokenizer.save_pretrained(tmp)
            shutil.copy(out / "config.resolved.yaml", Path(tmp) / "config.resolved.yaml")
            t_int8 = int8_for_teacher(cfg, teacher.model.config.model_type)
            models["teacher"] = (Path(tmp), out / "teacher-onnx", t_int8)
        for role, (src, dst, int8) in models.items():
            view = Encoded.for_student if role == "student" else (lambda data: data)  # what each model reads
            log.info(
                "export: %s -> %s (int8 %s), verified on %d dev examples",
                role,
                dst,
                int8,
                len(verify["verify_texts"]),
            )
            graphs = _export(src, dst, int8, cfg, verify, calibration)
            session = ort_session(dst / "model.int8.onnx", threads=threads)
            task = task_of_model(src)  # what its outputs mean (config.json, as saved)
            result[role] = {
                "int8": int8,
                "graph": str(dst / "model.int8.onnx"),
                "graph_mb": (dst / "model.int8.onnx").stat().st_size / 2**20,
                "verify": graphs["model.int8.onnx"],
                "dev": graph_scores(session, view(dev_data), task),
                "test": graph_scores(session, view(test_data), task),
                **graph_speed(session, view(dev_data), speed),
                "threads": threads,
            }
    return result

"""What `distill run` reports besides its metrics: the machine block of metrics.json and the
printed teacher-vs-student table."""

from __future__ import annotations

import os
import platform

import torch
import transformers

from distill.core.cpu import cpu_flags, cpu_model, matrix_engines
from distill.core.metrics import METRIC_NAMES, PRIMARY, REPORTED, column_name, shown
from distill.train.distributed import World


def machine_block(world: World) -> dict:
    """metrics.json's `machine`: what the run's timings and precision depend on."""
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cpu_flags": flags,  # BF16 training speed on a CPU hinges on avx512_bf16/AMX
        "matrix_engines": matrix_engines(flags),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processes": world.size,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def track_summary(m: dict, metric: str) -> dict:
    """The end-of-run figures the tracker records (distill/train/tracking.py): both models' dev and
    test scores, sizes, the student's share of the teacher's primary score and its speed-ups."""
    t, s = m["teacher"], m["student"]
    return {
        "teacher": {"dev": t["dev"], "test": t["test"], "params": t["params"]},
        "student": {"dev": s["dev"], "test": s["test"], "params": s["params"]},
        f"{metric}_vs_teacher": s[f"{metric}_vs_teacher"],
        "speedup_b32": s["speedup_b32"],
        "speedup_b1": s["speedup_b1"],
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def model_rows(m: dict) -> list[tuple[str, dict]]:
    """(name, figures) of every model the run measured: teacher and student in FP32, and with
    ``export:`` their INT8 graphs, each with dev/test scores, size and speed."""
    t, s = m["teacher"], m["student"]
    rows = [("teacher FP32", {**t, "size_mb": t["weights_mb"]})]
    exported = m.get("export") or {}
    if "teacher" in exported:
        rows.append(("teacher INT8", {**exported["teacher"], "size_mb": exported["teacher"]["graph_mb"]}))
    rows.append(("student FP32", {**s, "size_mb": s["weights_mb"]}))
    if "student" in exported:
        rows.append(("student INT8", {**exported["student"], "size_mb": exported["student"]["graph_mb"]}))
    return rows


def four_row_table(m: dict) -> str:
    """With ``export:``: one row per model (teacher/student x FP32/INT8); the task's scores (a
    classifier's accuracy and macro-F1, a regression's Pearson and Spearman, a multi-label model's
    micro- and macro-F1) and speed against the teacher in FP32."""
    ref = m["teacher"]
    task = m.get("task", "classification")
    first, second = REPORTED[task][:2]
    name1, name2 = column_name(first), column_name(second)
    head = (
        "",
        f"dev {name1}",
        "% of teacher",
        f"test {name1}",
        f"test {name2}",
        "size (MB)",
        "b=1 p50 (ms)",
        "b=32 (seq/s)",
        "b=32 vs teacher",
    )
    rows = [head]
    for name, f in model_rows(m):
        rows.append(
            (
                name,
                shown(first, f["dev"][first]),
                _pct(f["dev"][first] / ref["dev"][first]),
                shown(first, f["test"][first]),
                shown(second, f["test"][second]),
                f"{f['size_mb']:.1f}",
                f"{f['latency_ms_b1']['p50']:.1f}",
                f"{f['throughput_b32']:.0f}",
                f"{f['throughput_b32'] / ref['throughput_b32']:.2f}x",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    graphs = m["export"]
    lines.append(
        "(INT8: ONNX Runtime graphs "
        + ", ".join(f"{role} {g['graph']} ({g['int8']})" for role, g in graphs.items())
        + f"; parameters: teacher {ref['params'] / 1e6:.1f}M, student {m['student']['params'] / 1e6:.1f}M)"
    )
    return "\n".join(lines)


def summary_table(m: dict) -> str:
    """The end-of-run table: teacher vs student accuracy, size and speed (with ``export:``, the four
    rows of :func:`four_row_table`)."""
    if m.get("export"):
        return four_row_table(m) + "\n" + _footer(m)
    rows = [("", "teacher", "student", "student/teacher")]
    t, s = m["teacher"], m["student"]
    rows += score_rows(m)
    rows += [
        (
            "parameters",
            f"{t['params'] / 1e6:.1f}M",
            f"{s['params'] / 1e6:.1f}M",
            f"{s['params'] / t['params']:.2f}x",
        ),
        (
            "weights (MB)",
            f"{t['weights_mb']:.1f}",
            f"{s['weights_mb']:.1f}",
            f"{s['weights_mb'] / t['weights_mb']:.2f}x",
        ),
        (
            "latency b=1 p50 (ms)",
            f"{t['latency_ms_b1']['p50']:.1f}",
            f"{s['latency_ms_b1']['p50']:.1f}",
            f"{s['speedup_b1']:.2f}x faster",
        ),
        (
            "throughput b=32 (seq/s)",
            f"{t['throughput_b32']:.0f}",
            f"{s['throughput_b32']:.0f}",
            f"{s['speedup_b32']:.2f}x",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines) + "\n" + _footer(m)


def score_rows(m: dict) -> list[tuple[str, str, str, str]]:
    """(score, teacher, student, student/teacher) rows: the primary metric on dev and test (with the
    ratio), then the task's other test scores (a classifier's macro-F1; a regression's Spearman, MSE)."""
    task = m.get("task", "classification")
    metric = PRIMARY[task]
    t, s = m["teacher"], m["student"]
    rows = [
        (
            f"{split} {METRIC_NAMES[metric]}",
            shown(metric, t[split][metric]),
            shown(metric, s[split][metric]),
            _pct(s[split][metric] / t[split][metric]),
        )
        for split in ("dev", "test")
    ]
    rows += [
        (f"test {METRIC_NAMES[k]}", shown(k, t["test"][k]), shown(k, s["test"][k]), "")
        for k in REPORTED[task]
        if k != metric
    ]
    return rows


def _baseline(m: dict) -> str:
    d = m["data"]
    if m.get("task") == "regression":
        return f"always predicting the training mean {d['train_mean']:.4g}: dev MSE {d['mean_dev_mse']:.4f}"
    if m.get("task") == "multi_label":
        return (
            f"predicting each label where most training rows have it: dev micro-F1 {_pct(d['baseline_dev_micro_f1'])}; "
            "scores at per-label thresholds tuned on dev"
        )
    return f"majority-class dev accuracy {_pct(d['majority_dev_accuracy'])}"


def _footer(m: dict) -> str:
    machine = m["machine"]
    lines = [
        f"(CPU: {machine['cpu']}, {machine['torch_threads']} threads; {_baseline(m)}; "
        f"total {m['total_seconds'] / 60:.1f} min)"
    ]
    lines += [f"warning: {w}" for w in m.get("warnings", [])]
    return "\n".join(lines)

"""report.json, report.md and pareto.png from a :func:`distill.compress.bench.run_benchmark` result."""

from __future__ import annotations

import json
from pathlib import Path

from distill.compress.scoring import metric_label, score_of
from distill.core.atomic import atomic_dir


def _timing(v: dict, seq: int, batch: int) -> dict | None:
    return next((t for t in v["timings"] if t["seq_len"] == seq and t["batch"] == batch), None)


def _reference(variants: list[dict], role: str, device: str) -> dict | None:
    return next(
        (v for v in variants if v["role"] == role and v["kind"] == "torch-fp32" and v["device"] == device),
        None,
    )


def _speedup(v: dict, ref: dict | None, seq: int, batch: int) -> float | None:
    """Measured ratio: latency ratio at batch 1, throughput ratio at larger batches."""
    if ref is None:
        return None
    a, b = _timing(v, seq, batch), _timing(ref, seq, batch)
    if a is None or b is None:
        return None
    if batch == 1:
        return round(b["latency_ms"]["p50"] / a["latency_ms"]["p50"], 2)
    return round(a["throughput_seq_s"] / b["throughput_seq_s"], 2)


def _delta(v: dict, ref: dict | None) -> float | None:
    """Points (×100) of the task's score (accuracy, Pearson r, micro-F1) above ``ref``'s."""
    if ref is None or score_of(v) is None or score_of(ref) is None:
        return None
    return round(100 * (score_of(v) - score_of(ref)), 2)


def metrics_shown(result: dict) -> tuple[str, str]:
    """The two scores a report's columns show: the task's primary one and the next it reports
    (accuracy and macro-F1; Pearson and Spearman; micro- and macro-F1)."""
    from distill.core.metrics import REPORTED

    metric = result.get("metric", "accuracy")
    task = next(t for t, names in REPORTED.items() if names[0] == metric)
    return metric, REPORTED[task][1]


def _second(v: dict, metric: str) -> float | None:
    return (v.get("scores") or {}).get(metric, v.get("f1") if metric == "f1" else None)


def add_comparisons(result: dict) -> None:
    """Speed-ups and score deltas (points: accuracy, or r or micro-F1 ×100) against the teacher and the FP32 student, in place."""
    vs = result["variants"]
    for v in vs:
        teacher, student = _reference(vs, "teacher", v["device"]), _reference(vs, "student", v["device"])
        v["accuracy_delta_vs_teacher"] = _delta(v, teacher)
        v["accuracy_delta_vs_student"] = _delta(v, student)
        v["speedup"] = [
            {
                "seq_len": t["seq_len"],
                "batch": t["batch"],
                "vs_teacher": _speedup(v, teacher, t["seq_len"], t["batch"]),
                "vs_student": _speedup(v, student, t["seq_len"], t["batch"]),
            }
            for t in v["timings"]
        ]


def _fmt(x, spec: str = "") -> str:
    return "" if x is None else format(x, spec)


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def render_markdown(result: dict, title: str = "Benchmark report") -> str:
    m, s = result["machine"], result["settings"]
    gpu = m["gpu"]
    first, second = metrics_shown(result)
    lines = [
        f"# {title}",
        "",
        f"- Machine: {m['cpu']} ({m['cores']} cores, flags: {', '.join(m['cpu_flags']) or 'none'}"
        + (f"; matrix engines: {m['matrix_engines']})" if m.get("matrix_engines") else ")")
        + (
            f"; GPU {gpu['name']} ({gpu['memory_gib']} GiB, driver {gpu['driver']}, CUDA {gpu['cuda']})"
            if gpu
            else "; no GPU"
        ),
        f"- torch {m['torch']}, transformers {m['transformers']}, onnxruntime {m['onnxruntime']}, python {m['python']}",
        f"- Threads: {m['threads']} (torch intra-op and ORT intra-op); load average (1/5/15 min) at start "
        f"{m['loadavg_1_5_15']}, at end {result['loadavg_after']} (shared machine)",
        f"- Warm-up up to {s['warmup']} calls, then up to {s['reps']} timed calls or {s['max_seconds']} s per "
        f"measurement (at least {s['min_reps']}); the counts actually run are in report.json",
        f"- Eval set: {result['eval']['n']} examples, max length {s['eval_max_len']}"
        + ("" if result["eval"]["n"] else " (no eval set: score columns blank)")
        + (f"; {result['task']}" if result.get("task") else ""),
        "- Scores are blank for random-weight models (speed only); speed-ups are measured, never MAC ratios.",
        "",
        "Variant kinds:",
        "",
    ]
    lines += [f"- `{k}`: {d}" for k, d in result["kinds"].items()]
    if result.get("recommended"):  # recommend.py: the fastest kind that keeps the accuracy bound
        from distill.compress.recommend import summary_line

        lines += ["", "The fastest kind for this machine:", ""]
        lines += [f"- {summary_line(r)}" for r in result["recommended"]]
    if result.get("skipped"):  # e.g. BERT-only kinds listed for a bench that also has a BiLSTM student
        lines += ["", "Not measured (the kind does not apply to the source):", ""]
        lines += [f"- `{x['name']}`: {x['skipped']}" for x in result["skipped"]]
    big = [b for b in s["batch_sizes"] if b > 1]
    for device in s["devices"]:
        for seq in s["seq_lens"]:
            lines += ["", f"## {device}, sequence length {seq}", ""]
            head = [
                "variant",
                "weights",
                "params (M)",
                "size (MB)",
                metric_label(first),
                metric_label(second),
                "Δ vs teacher (points)" if first != "accuracy" else "Δacc vs teacher",
                "Δ vs student (points)" if first != "accuracy" else "Δacc vs student",
                "agree w/ FP32 %",
                "b1 p50 / p90 / p99 ms",
            ]
            head += [f"b{b} seq/s" for b in big]
            head += ["speed-up b1 vs teacher", "vs student"]
            head += [f"speed-up b{b} vs teacher" for b in big[:1]] + ["peak RSS MiB (b1)"]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for v in result["variants"]:
                if v["device"] != device:
                    continue
                t1 = _timing(v, seq, 1)
                sp = {(x["seq_len"], x["batch"]): x for x in v["speedup"]}
                row = [
                    f"`{v['name']}`",
                    "random, speed only" if v["random_weights"] else "trained",
                    f"{v['params'] / 1e6:.1f}",
                    f"{v['size_mb']:.1f}",
                    _pct(score_of(v)),
                    _pct(_second(v, second)),
                    _fmt(v["accuracy_delta_vs_teacher"], "+.2f"),
                    _fmt(v["accuracy_delta_vs_student"], "+.2f"),
                    _pct(v["agreement_with_fp32"]),
                    " / ".join(f"{t1['latency_ms'][q]:.2f}" for q in ("p50", "p90", "p99")) if t1 else "",
                ]
                row += [_fmt((_timing(v, seq, b) or {}).get("throughput_seq_s"), ".1f") for b in big]
                b1 = sp.get((seq, 1), {})
                row += [
                    _fmt(b1.get("vs_teacher"), ".2f") + ("×" if b1.get("vs_teacher") else ""),
                    _fmt(b1.get("vs_student"), ".2f") + ("×" if b1.get("vs_student") else ""),
                ]
                for b in big[:1]:
                    x = sp.get((seq, b), {}).get("vs_teacher")
                    row.append(_fmt(x, ".2f") + ("×" if x else ""))
                row.append(_fmt(t1["peak_rss_mib"], ".0f") if t1 else "")
                lines.append("| " + " | ".join(row) + " |")
            gpu_rows = [
                (v, t)
                for v in result["variants"]
                if v["device"] == device
                for t in v["timings"]
                if t["seq_len"] == seq
                and t.get("tflops_achieved") is not None
                and t["batch"] == max(s["batch_sizes"])
            ]
            if gpu_rows:
                lines += [
                    "",
                    f"GPU utilisation at batch {max(s['batch_sizes'])}: achieved vs peak dense TFLOP/s",
                    "",
                ]
                lines += [
                    f"- `{v['name']}`: {t['tflops_achieved']} of {t['tflops_peak']} TFLOP/s"
                    for v, t in gpu_rows
                ]
    return "\n".join(lines) + "\n"


def render_pareto(result: dict, path: Path) -> None:
    """pareto.png: numbered points, the Pareto frontier, a table naming each number (see pareto.py)."""
    from distill.compress.pareto import render_pareto as render

    render(result, path, _timing)


def write_report(result: dict, out_dir: str | Path, title: str = "Benchmark report") -> Path:
    """Write report.json, report.md and pareto.png into ``out_dir`` atomically (all or nothing)."""
    from distill.compress.recommend import DEFAULT_MAX_DROP, recommendations

    add_comparisons(result)
    result["recommended"] = recommendations(
        result, result["settings"].get("max_accuracy_drop", DEFAULT_MAX_DROP)
    )
    with atomic_dir(out_dir) as tmp:
        (tmp / "report.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(result, title), encoding="utf-8")
        render_pareto(result, tmp / "pareto.png")
    return Path(out_dir)

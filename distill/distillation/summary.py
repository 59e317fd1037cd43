"""What `distill run` reports besides its metrics: the machine block of metrics.json and the
printed teacher-vs-student table."""

from __future__ import annotations

import os
import platform

import torch
import transformers

from distill.core.cpu import cpu_flags, cpu_model, matrix_engines
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


def summary_table(m: dict) -> str:
    """The end-of-run table: teacher vs student accuracy, size and speed."""
    rows = [("", "teacher", "student", "student/teacher")]
    t, s = m["teacher"], m["student"]

    def pct(x):
        return f"{100 * x:.1f}%"

    rows += [
        (
            "dev accuracy",
            pct(t["dev"]["accuracy"]),
            pct(s["dev"]["accuracy"]),
            pct(s["dev"]["accuracy"] / t["dev"]["accuracy"]),
        ),
        (
            "test accuracy",
            pct(t["test"]["accuracy"]),
            pct(s["test"]["accuracy"]),
            pct(s["test"]["accuracy"] / t["test"]["accuracy"]),
        ),
        ("test macro-F1", pct(t["test"]["f1"]), pct(s["test"]["f1"]), ""),
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
    machine = m["machine"]
    lines.append(
        f"(CPU: {machine['cpu']}, {machine['torch_threads']} threads; majority-class dev accuracy "
        f"{pct(m['data']['majority_dev_accuracy'])}; total {m['total_seconds'] / 60:.1f} min)"
    )
    lines += [f"warning: {w}" for w in m.get("warnings", [])]
    return "\n".join(lines)

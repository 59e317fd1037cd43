"""Paper-shaped CPU speed table: random weights, speed only.

BERT-large, BERT-base, DistilBERT, TinyBERT-6 and TinyBERT-4 shapes, each as PyTorch FP32, ORT
optimised FP32, ORT dynamic INT8 (ORT's defaults) and the best INT8 recipes, at sequence length 64:
batch-1 latency and batch-32 throughput, one process, one thread. Writes
experiments/reports/shapes-cpu/{report.md,report.json,pareto.png}.

    PYTHONPATH=. python experiments/bench_shapes.py [--out DIR] [--shapes tinybert-4 ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from distill.compress.bench import BenchSettings, run_benchmark
from distill.compress.report import write_report
from distill.compress.variants import Source

SHAPES = ["bert-large", "bert-base", "distilbert", "tinybert-6", "tinybert-4"]
KINDS = ["torch-fp32", "ort-opt", "ort-int8-dynamic", "ort-int8-fused", "ort-int8-u8u8", "ort-int8-cls"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "reports" / "shapes-cpu"))
    ap.add_argument("--shapes", nargs="+", default=SHAPES)
    ap.add_argument("--kinds", nargs="+", default=KINDS)
    ap.add_argument("--max-seconds", type=float, default=4.0)
    args = ap.parse_args()
    roles = {"bert-large": "teacher", "tinybert-4": "student"}
    sources = [Source(name=s, shape=s, role=roles.get(s, "other")) for s in args.shapes]
    # Batch-1 latency: 10 warm-up + up to 50 calls; batch 32: at least 2 calls. Each measurement
    # stops at --max-seconds, so BERT-large gets fewer repetitions (counts are in report.json).
    settings = BenchSettings(
        devices=["cpu"],
        batch_sizes=[1, 32],
        seq_lens=[64],
        warmup=10,
        reps=50,
        max_seconds=args.max_seconds,
        min_reps=2,
        threads=1,
    )
    t0 = time.time()
    result = run_benchmark(
        sources, args.kinds, settings, progress=lambda m: print(f"[{time.time() - t0:6.0f}s] {m}", flush=True)
    )
    write_report(result, args.out, title="Paper-shaped models on CPU (random weights, speed only)")
    print(f"wrote {args.out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()

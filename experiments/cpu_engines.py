"""Which CPU engine serves a student fastest on this machine, and what does each cost in accuracy?

Every CPU kind of the kinds registry (distill/compress/kinds.py) that applies to a BERT is built
for three sources: the TinyBERT-4 and BERT-base shapes (random weights, speed only) and a trained
student folder (speed and dev accuracy against its own torch FP32). Timing is round-robin: every
round times each (source, kind, batch) once, in a shuffled order (seeded by the round), so load
drift on a shared machine hits every variant alike and no case always runs right after the same one. Sequence length 64, one thread, batches 1 and 32. A kind that fails to build here (e.g.
torch.compile without a C++ compiler) is listed with its error, not timed.

Writes experiments/reports/cpu-engines-<class>.md and .json, <class> naming the CPU's matrix
engines (distill.core.cpu.matrix_engines: amx_bf16+amx_int8, avx512_bf16+avx512_vnni, avx2, ...): BF16 and INT8 speed depend on them, so each
class gets its own page.

    python experiments/cpu_engines.py --student outputs/tinybert3-h384 \\
        --teacher-yaml experiments/teachers/minilm-tweets.yaml [--rounds 20] [--eval-limit 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# The repository first: run as `python experiments/cpu_engines.py`, this folder would otherwise make
# experiments/students/ (configs) shadow the students package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.compress import kinds  # noqa: E402
from distill.compress.bench import evaluate  # noqa: E402
from distill.compress.evalset import synthetic_batch, teacher_split, trained_inputs  # noqa: E402
from distill.compress.machine import machine_facts, pin_threads  # noqa: E402
from distill.compress.variants import Source, build_variant, load_source  # noqa: E402
from distill.core.atomic import write_text  # noqa: E402
from distill.core.cpu import matrix_engines  # noqa: E402

REPORTS = Path(__file__).parent / "reports"
SEQ, BATCHES = 64, (1, 32)


def cpu_kinds() -> list[str]:
    """Every registered kind that runs on the CPU and applies to a BERT (static INT8 needs calibration
    texts, which random-weight shapes have none of: it is measured by `distill bench`)."""
    return [
        k
        for k in kinds.names()
        if "cpu" in kinds.get(k).devices and kinds.refusal(k, "bert") is None and not kinds.get(k).calibrated
    ]


def build_all(sources: list[Source], kind_names: list[str], work: Path) -> tuple[dict, dict, dict]:
    built, loaded, failed = {}, {}, {}
    for source in sources:
        loaded[source.name] = load_source(source, work / source.name)
        for kind in kind_names:
            try:
                built[source.name, kind] = build_variant(loaded[source.name], kind, "cpu", threads=1)
            except Exception as e:  # noqa: BLE001 - a kind this machine cannot build is a finding
                failed[source.name, kind] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return built, loaded, failed


def accuracy(built: dict, loaded: dict, student: str, teacher_yaml: str, limit: int) -> dict:
    """Dev accuracy and agreement with torch-fp32 of every built kind of the trained student."""
    model = loaded[student]
    max_len, _ = trained_inputs(model.source.path)
    eval_set = teacher_split(teacher_yaml, "dev", limit, model.model.config.label2id)
    labels = np.asarray(eval_set.labels)
    out, ref = {}, None
    for (name, kind), variant in built.items():
        if name != student:
            continue
        preds = evaluate(variant.predict, model.tokenizer, eval_set, max_len or 128, 32, model.token_types)
        if kind == "torch-fp32":
            ref = preds
        out[kind] = {"accuracy": float((preds == labels).mean()), "preds": preds}
    for row in out.values():
        row["agreement"] = float((row.pop("preds") == ref).mean()) if ref is not None else None
        row["delta_points"] = round(100 * (row["accuracy"] - out["torch-fp32"]["accuracy"]), 2)
    return {"n": len(labels), "max_len": max_len, "kinds": out}


def round_robin(built: dict, loaded: dict, rounds: int, warmup: int) -> dict:
    cases = []
    for (name, kind), variant in built.items():
        vocab = loaded[name].vocab_size
        for b in BATCHES:
            inputs = synthetic_batch(b, SEQ, vocab, seed=b, types=loaded[name].token_types)
            cases.append(((name, kind, b), variant.predict, inputs))
    for _, predict, inputs in cases:  # warm-up (torch.compile compiles here)
        for _ in range(warmup):
            predict(*inputs)
    times = {key: [] for key, _, _ in cases}
    for r in range(rounds):  # a new order each round: no case always follows the same (cache-cold) one
        for key, predict, inputs in random.Random(r).sample(cases, len(cases)):
            t = time.perf_counter()
            predict(*inputs)
            times[key].append(time.perf_counter() - t)
    return {key: statistics.median(ts) for key, ts in times.items()}


def report(facts, sources, kind_names, built, failed, med, acc) -> tuple[str, dict]:
    rows = []
    for s in sources:
        for kind in kind_names:
            key = (s.name, kind)
            if key not in built:
                continue
            row = {"source": s.name, "kind": kind, "size_mb": round(built[key].size_bytes / 2**20, 2)}
            for b in BATCHES:
                row[f"b{b}_ms"] = round(1000 * med[(s.name, kind, b)], 3)
                row[f"b{b}_seq_s"] = round(b / med[(s.name, kind, b)], 1)
                base = med[(s.name, "torch-fp32", b)]
                row[f"b{b}_vs_fp32"] = round(base / med[(s.name, kind, b)], 2)
            if acc and s.name == acc["source"] and kind in acc["kinds"]:
                row.update({k: acc["kinds"][kind][k] for k in ("accuracy", "agreement", "delta_points")})
            rows.append(row)
    data = {"machine": facts, "seq_len": SEQ, "batches": list(BATCHES), "rows": rows,
            "failed": [{"source": s, "kind": k, "error": e} for (s, k), e in failed.items()],
            "accuracy": {k: v for k, v in (acc or {}).items() if k != "kinds"}}  # fmt: skip
    lines = [
        f"# CPU engines on {facts['cpu']} ({matrix_engines(facts['cpu_flags'])})",
        "",
        f"Generated by `experiments/cpu_engines.py`. Machine: {facts['cpu']}, {facts['cores']} cores, "
        f"1 thread, flags {', '.join(facts['cpu_flags'])}; torch {facts['torch']}, "
        f"onnxruntime {facts['onnxruntime']}; load average before the run {facts['loadavg_1_5_15']}. "
        f"Sequence length {SEQ}; median of the round-robin rounds.",
        "",
        "| source | kind | size MB | b1 ms | b1 vs torch FP32 | b32 seq/s | b32 vs torch FP32 | dev acc | Δ points | agreement |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        acc_cells = (
            f"{100 * r['accuracy']:.2f}% | {r['delta_points']:+.2f} | {100 * r['agreement']:.1f}%"
            if "accuracy" in r
            else "| |"
        )
        lines.append(
            f"| {r['source']} | `{r['kind']}` | {r['size_mb']:.1f} | {r['b1_ms']:.2f} | {r['b1_vs_fp32']:.2f}x | "
            f"{r['b32_seq_s']:.0f} | {r['b32_vs_fp32']:.2f}x | {acc_cells} |"
        )
    if failed:
        lines += ["", "Not built on this machine:", ""]
        lines += [f"- {s} `{k}`: {e}" for (s, k), e in failed.items()]
    return "\n".join(lines) + "\n", data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--student", help="a trained student folder (distill run's output)")
    p.add_argument("--teacher-yaml", help="the teacher.yaml whose dev split scores the student")
    p.add_argument("--eval-limit", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--kinds", nargs="*", default=None, help="default: every CPU kind that applies to a BERT")
    p.add_argument("--shapes", nargs="*", default=["tinybert-4", "bert-base"])
    p.add_argument("--out", default=None, help="default: experiments/reports/cpu-engines-<class>")
    args = p.parse_args()
    pin_threads(1)
    torch.manual_seed(0)
    kind_names = args.kinds or cpu_kinds()
    sources = [Source(s, shape=s) for s in args.shapes]
    if args.student:
        sources.append(Source("student", path=args.student, role="student"))
    facts = machine_facts(1)
    with tempfile.TemporaryDirectory() as tmp:
        built, loaded, failed = build_all(sources, kind_names, Path(tmp))
        acc = None
        if args.student:
            acc = {
                "source": "student",
                **accuracy(built, loaded, "student", args.teacher_yaml, args.eval_limit),
            }
        med = round_robin(built, loaded, args.rounds, args.warmup)
    md, data = report(facts, sources, kind_names, built, failed, med, acc)
    out = Path(args.out) if args.out else REPORTS / f"cpu-engines-{matrix_engines(facts['cpu_flags'])}"
    write_text(out.with_suffix(".md"), md)
    write_text(out.with_suffix(".json"), json.dumps(data, indent=2))
    print(md)


if __name__ == "__main__":
    main()

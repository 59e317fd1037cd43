"""Which INT8 recipe is fastest for the TinyBERT-4 shape at batch 1, what does pruning buy, and how
far is it from the BERT-large shape in FP32?

Round-robin timing: every round times each variant once, so load drift on a shared machine hits all
variants alike (the benchmark proper measures one variant after another). Random weights, speed
only; sequence length 64, one thread. Also an ORT profile of where the INT8 time goes. "Deployment
graph" = distill/compress/deploy_bert.py (fused Q/K/V, last layer for [CLS] only). Writes
experiments/reports/int8-recipes-tinybert4-<cpu>.md, <cpu> naming the INT8 instructions the CPU has
(avx2 or avx512vnni): the INT8 kernels differ between the two, so each class gets its own page.

    PYTHONPATH=. python experiments/int8_recipes.py
"""

from __future__ import annotations

import collections
import copy
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from distill.compress.deploy_bert import DeployBert
from distill.compress.evalset import synthetic_batch
from distill.compress.export import export_module, optimize_bert_onnx, ort_predict, ort_session, torch_predict
from distill.compress.machine import int8_isa, machine_facts
from distill.compress.models import as_logits_module, random_bert, use_onnx_attention
from distill.compress.prune import prune
from distill.compress.quantize import quantize_onnx_dynamic
from distill.core.atomic import write_text

REPORTS = Path(__file__).parent / "reports"
ROUNDS, WARMUP = 40, 3


def onnx_graphs(hf, work: Path, tag: str) -> dict[str, Path]:
    m = copy.deepcopy(hf)
    use_onnx_attention(m)
    fp32 = export_module(as_logits_module(m), work / f"{tag}.onnx")
    opt = optimize_bert_onnx(
        fp32, work / f"{tag}.opt.onnx", m.config.num_attention_heads, m.config.hidden_size
    )
    cls = export_module(DeployBert(m), work / f"{tag}.cls.onnx")  # fused Q/K/V, last layer for [CLS] only
    return {
        "ort-int8-dynamic": quantize_onnx_dynamic(fp32, work / f"{tag}.dq.onnx"),
        "ort-int8-dynamic, deployment graph": quantize_onnx_dynamic(cls, work / f"{tag}.dqc.onnx"),
        "ort-int8-cls (per-channel, classifier FP32, deployment graph)": quantize_onnx_dynamic(
            cls, work / f"{tag}.cls8.onnx", per_channel=True, keep_classifier_fp32=True
        ),
        "ort-int8-dynamic per-channel": quantize_onnx_dynamic(
            fp32, work / f"{tag}.dqpc.onnx", per_channel=True
        ),
        "ort-int8-fused": quantize_onnx_dynamic(
            opt, work / f"{tag}.f.onnx", per_channel=True, keep_classifier_fp32=True
        ),
        "ort-int8-u8u8": quantize_onnx_dynamic(
            opt, work / f"{tag}.u8.onnx", per_channel=True, u8u8=True, keep_classifier_fp32=True
        ),
    }


def profile(path: Path, ids: np.ndarray, mask: np.ndarray, runs: int = 50) -> list[tuple[str, float]]:
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.enable_profiling = 1, 1, True
    so.profile_file_prefix = str(path.parent / "prof")
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        s.run(None, {"input_ids": ids, "attention_mask": mask})
    agg: collections.Counter = collections.Counter()
    for e in json.loads(Path(s.end_profiling()).read_text()):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            agg[e["args"]["op_name"]] += e["dur"] / runs / 1000
    return agg.most_common(6)


def main() -> None:
    torch.set_num_threads(1)
    facts = machine_facts(1)
    work = Path(tempfile.mkdtemp(prefix="int8-recipes-"))
    hf = random_bert("tinybert-4")
    pruned = prune(copy.deepcopy(hf), head_ratio=0.5, ffn_ratio=0.5)  # 6 heads, hidden 156, FFN 600
    variants = {
        "torch-fp32": torch_predict(as_logits_module(hf)),
        "torch-fp32, deployment graph": torch_predict(DeployBert(hf).eval()),
    }
    variants.update({k: ort_predict(ort_session(p)) for k, p in onnx_graphs(hf, work, "full").items()})
    variants["pruned 50% heads+FFN, torch-fp32"] = torch_predict(as_logits_module(pruned))
    pruned_graphs = onnx_graphs(pruned, work, "pruned")
    for k in ("ort-int8-dynamic", "ort-int8-cls (per-channel, classifier FP32, deployment graph)"):
        variants[f"pruned 50% heads+FFN, {k}"] = ort_predict(ort_session(pruned_graphs[k]))
    large = random_bert("bert-large")
    variants["bert-large shape, torch-fp32"] = torch_predict(as_logits_module(large))
    ids, mask = synthetic_batch(1, 64, 30522)
    for f in variants.values():
        for _ in range(WARMUP):
            f(ids, mask)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(ROUNDS):
        for k, f in variants.items():
            s = time.perf_counter()
            f(ids, mask)
            times[k].append(time.perf_counter() - s)
    ref = float(np.median(times["torch-fp32"]))
    big = float(np.median(times["bert-large shape, torch-fp32"]))
    prof = {
        name: profile(work / f"full.{f}.onnx", ids, mask)
        for name, f in (("ort-int8-dynamic", "dq"), ("ort-int8-cls", "cls8"))
    }
    md = [
        "# INT8 recipes and pruning, TinyBERT-4 shape (random weights, speed only), batch 1, seq 64",
        "",
        f"- Machine: {facts['cpu']}, {facts['cores']} cores (flags {', '.join(facts['cpu_flags'])}), 1 thread "
        f"(torch and ORT intra-op); torch {facts['torch']}, onnxruntime {facts['onnxruntime']}",
        f"- Load average at start {facts['loadavg_1_5_15']}, at end {[round(x, 2) for x in os.getloadavg()]} (shared machine)",
        f"- {WARMUP} warm-up calls each, then {ROUNDS} round-robin rounds (each round times every variant once)",
        "",
        "| variant | params (M) | p50 ms | p90 ms | min ms | speed-up vs TinyBERT-4 torch FP32 (p50) | speed-up vs BERT-large torch FP32 (p50) |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, t in times.items():
        src = pruned if k.startswith("pruned") else large if k.startswith("bert-large") else hf
        n = sum(p.numel() for p in src.parameters()) / 1e6
        md.append(
            f"| {k} | {n:.1f} | {1000 * np.median(t):.2f} | {1000 * np.percentile(t, 90):.2f} | "
            f"{1000 * min(t):.2f} | {ref / np.median(t):.2f}× | {big / np.median(t):.1f}× |"
        )
    for name, ops in prof.items():
        md += ["", f"Where {name} spends its time (ORT profiler, ms per call, top ops):", ""]
        md += [f"- {op}: {ms:.2f}" for op, ms in ops]
    isa = (int8_isa(facts["cpu_flags"]) or "no-int8-simd").replace("_", "")  # avx2, avx512vnni, ...
    write_text(REPORTS / f"int8-recipes-tinybert4-{isa}.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()

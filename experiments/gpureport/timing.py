"""Phases 1-3: random-weight paper shapes timed in torch eager, torch.compile and ONNX Runtime.

Only torch, transformers, onnx, onnxruntime and the project modules that need nothing more
(tests/test_experiment_scripts.py checks it): the GPU machine's python has no pydantic.
"""

from __future__ import annotations

import copy
import gc
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from distill.compress.flops import bert_flops, gpu_peak_tflops
from distill.compress.models import LogitsOnly, random_bert
from distill.train.speed import time_calls
from gpureport.phases import Item

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Mode:
    """What a run measures: the GPU report, or its CPU smoke run (``--tiny``)."""

    name: str
    device: str  # cuda | cpu
    shapes: dict[str, tuple[int, int, int, int]]  # name -> (layers, hidden, heads, ffn), cheapest first
    batches: tuple[int, ...]
    seq: int
    dtypes: tuple[str, ...]  # torch eager
    compile_dtype: str
    compile_backend: str  # inductor; --tiny: eager (dynamo's tracing, no C++ build)
    ort_provider: str  # CUDAExecutionProvider | CPUExecutionProvider
    ort_fp16: bool
    warmup: int
    reps: int
    max_seconds: float  # per measurement; at least min_reps calls
    min_reps: int
    vocab: int
    limits: dict[str, float]  # phase key -> seconds


def measure(predict, mode: Mode, shape: str, variant: str, dtype: str, batch: int, timer: str) -> dict:
    """Time ``predict`` on random ids (every token attended): latency, throughput, TFLOP/s from the
    shape, and the share of the GPU's dense peak in ``dtype`` (none on a CPU). ``timer``: ``cuda``
    (events on torch's stream) or ``cpu`` (wall clock; ORT's run returns when its work is done)."""
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(5, mode.vocab, (batch, mode.seq), generator=g).numpy()  # [B, T]
    mask = np.ones_like(ids)  # [B, T]
    times, warm = time_calls(
        lambda: predict(ids, mask), mode.warmup, mode.reps, mode.max_seconds, mode.min_reps, timer
    )
    t = np.asarray(times)
    layers, hidden, _, ffn = mode.shapes[shape]
    cfg = SimpleNamespace(num_hidden_layers=layers, hidden_size=hidden, intermediate_size=ffn)
    achieved = bert_flops(cfg, batch, mode.seq) * len(t) / float(t.sum()) / 1e12
    peak = gpu_peak_tflops(torch.cuda.get_device_name(0), dtype) if mode.device == "cuda" else None
    return {
        "shape": shape,
        "variant": variant,
        "dtype": dtype,
        "batch": batch,
        "seq_len": mode.seq,
        "warmup": warm,
        "reps": len(t),
        "latency_ms": {f"p{q}": round(float(np.percentile(t, q)) * 1000, 3) for q in (50, 90)},
        "throughput_seq_s": round(batch * len(t) / float(t.sum()), 2),
        "tflops_achieved": round(achieved, 3),
        "tflops_peak": peak,
        "share_of_peak": round(achieved / peak, 4) if peak else None,
    }


class Models:
    """The random model of one shape on the device, its casts and compiled forms; all freed when
    another shape is asked for, so one shape's weights are held at a time."""

    def __init__(self, mode: Mode) -> None:
        self.mode, self.shape, self.cache = mode, None, {}

    def get(self, shape: str, form: str) -> torch.nn.Module:
        """``form``: fp32, fp16, bf16, or ``compiled-<dtype>`` (torch.compile with dynamic shapes,
        as the bench's torch-compile kind builds it)."""
        if shape != self.shape:
            self.free()
            self.shape = shape
        if form not in self.cache:
            if form == "fp32":
                with torch.device(self.mode.device):  # initialised where it runs: BERT-large in seconds
                    model = random_bert(shape, vocab_size=self.mode.vocab, dims=self.mode.shapes[shape])
                self.cache[form] = LogitsOnly(model).eval()  # what as_logits_module makes of a BERT
            elif form in DTYPES:
                self.cache[form] = copy.deepcopy(self.get(shape, "fp32")).to(dtype=DTYPES[form]).eval()
            else:
                base = self.get(shape, form.removeprefix("compiled-"))
                self.cache[form] = torch.compile(base, dynamic=True, backend=self.mode.compile_backend)
        return self.cache[form]

    def free(self) -> None:
        self.cache.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def torch_items(mode: Mode, models: Models, compiled: bool) -> list[Item]:
    """Phase 1 (eager, every dtype) or 2 (compiled, ``mode.compile_dtype``): shape x dtype x batch.
    A compiled row also records its first call's seconds (the compilation for that batch)."""
    from distill.compress.export import torch_predict

    items: list[Item] = []
    for shape in mode.shapes:
        for dtype in (mode.compile_dtype,) if compiled else mode.dtypes:
            for b in mode.batches:

                def run(shape=shape, dtype=dtype, b=b) -> dict:
                    predict = torch_predict(
                        models.get(shape, f"compiled-{dtype}" if compiled else dtype), mode.device
                    )
                    start = time.perf_counter()
                    predict(*[np.ones((b, mode.seq), dtype=np.int64)] * 2)  # compiles, for a compiled form
                    first = round(time.perf_counter() - start, 3)
                    variant = f"torch-compile-{dtype}" if compiled else f"torch-{dtype}"
                    row = measure(predict, mode, shape, variant, dtype, b, mode.device)
                    return row | {"first_call_s": first} if compiled else row

                items.append((f"{'torch.compile' if compiled else 'torch'} {dtype} {shape} b{b}", run))
    return items


def ort_items(mode: Mode, work: Path) -> list[Item]:
    """Phase 3: each shape exported as `distill export` does (classic attention), through ORT's BERT
    optimiser (the CUDA fusions and FP16 on a GPU), one session on ``mode.ort_provider``."""
    from distill.compress.export import export_module, optimize_bert_onnx, ort_predict, ort_session
    from distill.compress.models import use_onnx_attention

    dtype = "fp16" if mode.ort_fp16 else "fp32"
    device = "cuda" if mode.ort_provider == "CUDAExecutionProvider" else "cpu"
    sessions: dict[str, object] = {}

    def session(shape: str):
        if shape not in sessions:
            sessions.clear()
            _, hidden, heads, _ = mode.shapes[shape]
            module = LogitsOnly(random_bert(shape, vocab_size=mode.vocab, dims=mode.shapes[shape])).eval()
            use_onnx_attention(module.model)
            src = export_module(module, work / f"{shape}.onnx")
            dst = optimize_bert_onnx(
                src,
                work / f"{shape}.{dtype}.onnx",
                heads,
                hidden,
                use_gpu=device == "cuda",
                fp16=mode.ort_fp16,
            )
            sess = ort_session(dst, threads=1, device=device)
            if sess.get_providers()[0] != mode.ort_provider:  # ORT falls back to the CPU with a warning only
                raise RuntimeError(f"the session runs on {sess.get_providers()[0]}, not {mode.ort_provider}")
            sessions[shape] = sess
        return sessions[shape]

    items: list[Item] = []
    for shape in mode.shapes:
        for b in mode.batches:

            def run(shape=shape, b=b) -> dict:
                predict = ort_predict(session(shape))
                return measure(predict, mode, shape, f"ort-{device}-{dtype}", dtype, b, "cpu")

            items.append((f"ort {device} {dtype} {shape} b{b}", run))
    return items


def device_slug(mode: Mode) -> str:
    """The report's folder name: the GPU's name (``nvidia-h200``), or ``cpu-tiny``."""
    name = torch.cuda.get_device_name(0) if mode.device == "cuda" else "cpu-tiny"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")

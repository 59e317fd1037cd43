"""Timing, accuracy and memory of variants, measured one after another in one process.

Each variant is built, evaluated, timed and freed before the next, so all share the machine state
of one run and their ratios are comparable. Latency is per call at batch 1 (p50/p90/p99);
throughput is sequences per second at larger batches. Repetitions stop early at a time budget
(large models at batch 128 take seconds per call on one CPU thread); the counts actually run are
recorded next to every figure. A kind that does not apply to a source (a BERT-only kind on an MPNet
or a BiLSTM) is skipped, and the report says so and why, so one ``kinds`` list can serve a teacher
and a student of different model types; a source to which no listed kind applies is an error.
A kind that applies but cannot be built on this machine (``kinds.Unavailable``: a quantized engine
this torch lacks, torch.compile failing without a C++ compiler) is skipped likewise, with its reason.
"""

from __future__ import annotations

import gc
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from distill.compress import kinds as registry
from distill.compress.evalset import EvalSet, encode_batches, synthetic_batch
from distill.compress.export import Predict
from distill.compress.flops import bert_flops, gpu_peak_tflops
from distill.compress.machine import machine_facts, pin_threads, require_device
from distill.compress.recommend import DEFAULT_MAX_DROP
from distill.compress.scoring import Task, task_of_model
from distill.compress.variants import Source, build_variant, load_source
from distill.core.errors import ConfigError
from distill.train.speed import time_calls


@dataclass
class BenchSettings:
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32, 128])
    seq_lens: list[int] = field(default_factory=lambda: [64])
    warmup: int = 10
    reps: int = 100
    max_seconds: float = 10.0  # per measurement; at least `min_reps` calls are always timed
    min_reps: int = 3
    threads: int = 1
    eval_max_len: int = 128
    eval_batch_size: int = 32
    max_accuracy_drop: float = DEFAULT_MAX_DROP  # points below FP32 a recommended kind may lose


class PeakRSS:
    """Samples this process's resident memory every 2 ms; ``peak_mib`` is the high-water mark."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * self._page

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return round(self.peak / 2**20, 1)


def evaluate(
    predict: Predict, tokenizer, eval_set: EvalSet, max_len: int, batch_size: int, types: bool = False
) -> np.ndarray:
    """The model's outputs (N, C) on the eval set (``types``: the model takes token_type_ids)."""
    outputs = [
        predict(*batch)
        for batch in encode_batches(tokenizer, eval_set.texts, eval_set.pairs, max_len, batch_size, types)
    ]
    return np.concatenate(outputs)


def _measure(
    predict: Predict, vocab: int, device: str, s: BenchSettings, cfg, kind: str, types: bool = False
) -> list[dict]:
    rows = []
    for seq in s.seq_lens:
        for batch in s.batch_sizes:
            inputs = synthetic_batch(batch, seq, vocab, seed=batch * 1000 + seq, types=types)
            with PeakRSS() as mem:
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                times, warm = time_calls(
                    lambda inputs=inputs: predict(*inputs),
                    s.warmup,
                    s.reps,
                    s.max_seconds,
                    s.min_reps,
                    device,
                )
            t = np.asarray(times)
            row = {
                "seq_len": seq,
                "batch": batch,
                "warmup": warm,
                "reps": len(times),
                "latency_ms": {
                    q: round(float(np.percentile(t, int(q[1:]))) * 1000, 3) for q in ("p50", "p90", "p99")
                },
                "throughput_seq_s": round(batch * len(t) / float(t.sum()), 2),
                "peak_rss_mib": mem.peak_mib,
                "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1)
                if device == "cuda"
                else None,
            }
            if device == "cuda" and cfg is not None:
                achieved = bert_flops(cfg, batch, seq) * len(t) / float(t.sum())
                row["tflops_achieved"] = round(achieved / 1e12, 2)
                row["tflops_peak"] = _gpu_peak(kind)
            rows.append(row)
    return rows


def _gpu_peak(kind: str) -> float | None:
    recipe = registry.get(kind).recipe
    # bf16-autocast too
    dtype = "fp16" if recipe == "fp16" else "bf16" if recipe and recipe.startswith("bf16") else "fp32"
    return gpu_peak_tflops(torch.cuda.get_device_name(0), dtype)


def run_benchmark(
    sources: list[Source],
    kinds: list[str],
    settings: BenchSettings,
    eval_set: EvalSet | None = None,
    calibration_texts: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    calibration_pairs: list[str] | None = None,
) -> dict:
    """Every (source, kind, device) that can run, measured in order; returns the report dict
    (``skipped``: the pairs whose kind does not apply to the source's model type, with the reason).

    Every model is fed the inputs its tokenizer produces (a BERT's token types included) on the eval
    set's texts and pairs: the model as it was trained and evaluated. A source that `distill run`
    trained on sentence pairs needs an eval set (and calibration set) of pairs."""
    for d in settings.devices:
        require_device(d)
    unknown = registry.unknown(kinds)
    if unknown:
        raise ConfigError(f"kinds: {unknown} unknown; known: {', '.join(registry.names())}")
    kinds = sorted(kinds, key=lambda k: k != "torch-fp32")  # FP32 first: the agreement reference
    skip = _inapplicable(sources, kinds, settings.devices)  # before anything is loaded or timed
    _require_pairs(sources, eval_set.pairs is not None if eval_set else None, "eval")
    _require_pairs(sources, calibration_pairs is not None if calibration_texts else None, "calibration")
    pin_threads(settings.threads)
    started = machine_facts(settings.threads)
    variants = []
    tasks = {s.name: task_of_model(s.path) if s.path else Task() for s in sources}  # what outputs mean
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as work:
        for src in sources:
            loaded = load_source(src, Path(work) / src.name.replace("/", "_"))
            labels = eval_set.labels if eval_set and eval_set.labels is not None else None
            use_eval = eval_set is not None and labels is not None and not src.random_weights
            task = tasks[src.name]
            calib = None
            if calibration_texts and loaded.tokenizer is not None:
                calib = list(
                    encode_batches(
                        loaded.tokenizer,
                        calibration_texts,
                        calibration_pairs,
                        settings.eval_max_len,
                        8,
                        loaded.token_types,
                    )
                )
            elif src.random_weights:  # speed only: random tokens calibrate ranges as well as any
                calib = [synthetic_batch(8, 64, loaded.vocab_size, seed=i) for i in range(8)]
            ref_out = None
            for device in settings.devices:
                for kind in kinds:
                    if device not in registry.get(kind).devices or (src.name, kind) in skip:
                        continue
                    if progress:
                        progress(f"{src.name} / {kind} / {device}")
                    try:
                        built = build_variant(loaded, kind, device, settings.threads, calib)
                    except registry.Unavailable as e:  # e.g. torch.compile without a C++ compiler
                        skip[(src.name, kind)] = str(e)
                        continue
                    entry = {
                        "name": f"{src.name}/{kind}",
                        "source": src.name,
                        "kind": kind,
                        "device": device,
                        "role": src.role,
                        "random_weights": src.random_weights,
                        "params": built.params,
                        "size_mb": round(built.size_bytes / 1e6, 2),
                        "metric": task.metric,  # what score is: accuracy, Pearson r, micro-F1
                        "score": None,
                        "scores": None,
                        "accuracy": None,  # a classifier's score under its own name, and its F1
                        "f1": None,
                        "agreement_with_fp32": None,
                    }
                    if use_eval:
                        out = evaluate(
                            built.predict,
                            loaded.tokenizer,
                            eval_set,
                            settings.eval_max_len,
                            settings.eval_batch_size,
                            loaded.token_types,
                        )
                        if kind == "torch-fp32" and ref_out is None:
                            ref_out = out
                        scores = task.scores(out, labels)
                        entry["scores"], entry["score"] = scores, scores[task.metric]
                        if task.name == "classification":
                            entry["accuracy"], entry["f1"] = scores["accuracy"], scores["f1"]
                        if ref_out is not None:
                            entry["agreement_with_fp32"] = task.agreement(ref_out, out)
                    # BERT/MPNet shapes: GPU FLOP/s (none for a BiLSTM)
                    cfg = getattr(loaded.model, "config", None)
                    entry["timings"] = _measure(
                        built.predict, loaded.vocab_size, device, settings, cfg, kind, loaded.token_types
                    )
                    variants.append(entry)
                    del built
                    gc.collect()
            del loaded
            gc.collect()
    task = next((tasks[s.name] for s in sources if s.path), Task())  # one task (api.benchmark checks)
    return {
        "machine": started,
        "metric": task.metric,  # the variants' `score`: accuracy, Pearson r or micro-F1
        "task": task.describe(),
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "settings": asdict(settings),
        "eval": {"n": len(eval_set) if eval_set else 0},
        "kinds": {k: registry.get(k).description for k in kinds},
        "variants": variants,
        "skipped": [
            {"name": f"{name}/{kind}", "source": name, "kind": kind, "skipped": reason}
            for (name, kind), reason in skip.items()
        ],
    }


def _require_pairs(sources: list[Source], has_pairs: bool | None, what: str) -> None:
    """A model trained on sentence pairs, measured on single texts, would give a figure of a model
    that was never evaluated: refused (``has_pairs`` None: no such data set)."""
    from distill.compress.evalset import trained_inputs

    if has_pairs is None or has_pairs:
        return
    for src in sources:
        column = trained_inputs(src.path)[1] if src.path else None
        if column:
            raise ConfigError(
                f"source {src.name!r} ({src.path}) was trained on sentence pairs (config.resolved.yaml: "
                f"teacher.data.text_pair_column {column!r}), but the {what} data has no pair column; "
                f"set {what}.text_pair_column (or use {what}.teacher)"
            )


def _inapplicable(sources: list[Source], kinds: list[str], devices: list[str]) -> dict[tuple[str, str], str]:
    """(source name, kind) -> why the kind does not apply to the source's model type. A source that
    would be left with no kind at all is an error: its report rows would all be missing."""
    skip = {}
    for src in sources:
        mt = src.model_type()
        wanted = [k for k in kinds if any(d in registry.get(k).devices for d in devices)]
        for k in wanted:
            reason = registry.refusal(k, mt)
            if reason:
                skip[(src.name, k)] = f"does not apply to model_type {mt}: {reason}"
        if wanted and all((src.name, k) in skip for k in wanted):
            raise ConfigError(
                f"source {src.name!r} (model_type {mt}): none of kinds {wanted} apply to it; "
                f"kinds for {mt}: {', '.join(registry.kinds_for(mt))}"
            )
    return skip

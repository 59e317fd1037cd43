"""What a model costs to serve: parameters, weight size, CPU latency and throughput.

Measured on real examples of the eval split (their own lengths, padded per batch), after warm-up,
with the thread count stated. The full multi-variant benchmark is ``distill bench``; these are the
numbers every ``distill run`` reports for its teacher and student, measured one after the other.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # imported where used: the data layer needs pydantic, and the GPU report's
    # machine (experiments/gpu_report.py) times models with time_calls and parameter_count without it
    from distill.data.batching import Encoded


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the state dict: what a safetensors file of the model holds (plus a small header)."""
    seen, total = set(), 0
    for t in model.state_dict().values():
        if t.data_ptr() in seen:  # tied weights are stored once
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total


def _inputs(data: Encoded, indices: list[int], device) -> dict[str, torch.Tensor]:
    from distill.data.batching import collate

    batch = collate(data, indices)
    batch.pop("labels")
    return {k: v.to(device) for k, v in batch.items()}


def time_calls(
    fn: Callable[[], object], warmup: int, reps: int, max_seconds: float, min_reps: int, device: str = "cpu"
) -> tuple[list[float], int]:
    """Seconds per call and the warm-up count actually run. CUDA: events around each call."""
    t0 = time.perf_counter()
    done_warmup = 0
    for _ in range(warmup):  # warm-up also stops at a quarter of the budget
        fn()
        done_warmup += 1
        if time.perf_counter() - t0 > max_seconds / 4:
            break
    times: list[float] = []
    t0 = time.perf_counter()
    for i in range(reps):
        if device.startswith("cuda"):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            s = time.perf_counter()
            fn()
            times.append(time.perf_counter() - s)
        if i + 1 >= min_reps and time.perf_counter() - t0 > max_seconds:
            break
    return times, done_warmup


@torch.inference_mode()
def latency_ms(
    model: nn.Module, data: Encoded, n: int = 100, warmup: int = 10, device="cpu"
) -> dict[str, float]:
    """Batch-1 latency percentiles over ``n`` real examples (cycled if the split is smaller)."""
    model.eval()
    inputs = [_inputs(data, [k % len(data)], device) for k in range(warmup + n)]  # built before timing
    calls = iter(inputs)
    times, _ = time_calls(lambda: model(**next(calls)), warmup, n, math.inf, n, str(device))
    ms = [t * 1000 for t in times]
    q = statistics.quantiles(ms, n=10)
    return {"p50": statistics.median(ms), "p90": q[8], "n": n, "warmup": warmup}


@torch.inference_mode()
def throughput(
    model: nn.Module, data: Encoded, batch_size: int = 32, batches: int = 10, device="cpu"
) -> float:
    """Sequences per second at ``batch_size`` over consecutive real examples, after one warm-up batch."""
    model.eval()
    picks = [[(b * batch_size + i) % len(data) for i in range(batch_size)] for b in range(batches + 1)]
    calls = iter([_inputs(data, indices, device) for indices in picks])
    times, _ = time_calls(lambda: model(**next(calls)), 1, batches, math.inf, batches, str(device))
    return batches * batch_size / sum(times)


def measure(
    model: nn.Module,
    data: Encoded,
    *,
    latency_runs: int = 100,
    latency_warmup: int = 10,
    throughput_batches: int = 10,
    throughput_batch_size: int = 32,
    device="cpu",
) -> dict[str, object]:
    """Params, weight size, batch-1 latency and batch-32 throughput, in one call."""
    return {
        "params": parameter_count(model),
        "weights_mb": weight_bytes(model) / 2**20,
        "latency_ms_b1": latency_ms(model, data, latency_runs, latency_warmup, device),
        "throughput_b32": throughput(model, data, throughput_batch_size, throughput_batches, device),
        "threads": torch.get_num_threads(),
    }

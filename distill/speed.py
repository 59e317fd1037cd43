"""What a model costs to serve: parameters, weight size, CPU latency and throughput.

Measured on real examples of the eval split (their own lengths, padded per batch), after warm-up,
with the thread count stated. The full multi-variant benchmark is ``distill bench``; these are the
numbers every ``distill run`` reports for its teacher and student, measured one after the other.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from distill.data.batching import Encoded, collate


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
    batch = collate(data, indices)
    batch.pop("labels")
    return {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def latency_ms(model: nn.Module, data: Encoded, n: int = 100, warmup: int = 10, device="cpu") -> dict[str, float]:
    """Batch-1 latency percentiles over ``n`` real examples (cycled if the split is smaller)."""
    model.eval()
    times = []
    for k in range(warmup + n):
        inputs = _inputs(data, [k % len(data)], device)
        start = time.perf_counter()
        model(**inputs)
        if k >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(times, n=10)
    return {"p50": statistics.median(times), "p90": q[8], "n": n, "warmup": warmup}


@torch.inference_mode()
def throughput(model: nn.Module, data: Encoded, batch_size: int = 32, batches: int = 10, device="cpu") -> float:
    """Sequences per second at ``batch_size`` over consecutive real examples, after one warm-up batch."""
    model.eval()
    picks = [[(b * batch_size + i) % len(data) for i in range(batch_size)] for b in range(batches + 1)]
    model(**_inputs(data, picks[0], device))
    start = time.perf_counter()
    for indices in picks[1:]:
        model(**_inputs(data, indices, device))
    return batches * batch_size / (time.perf_counter() - start)


def measure(
    model: nn.Module, data: Encoded, *, latency_runs: int = 100, latency_warmup: int = 10,
    throughput_batches: int = 10, throughput_batch_size: int = 32, device="cpu",
) -> dict[str, object]:  # fmt: skip
    """Params, weight size, batch-1 latency and batch-32 throughput, in one call."""
    return {
        "params": parameter_count(model),
        "weights_mb": weight_bytes(model) / 2**20,
        "latency_ms_b1": latency_ms(model, data, latency_runs, latency_warmup, device),
        "throughput_b32": throughput(model, data, throughput_batch_size, throughput_batches, device),
        "threads": torch.get_num_threads(),
    }

"""Scores of a model on an encoded split (sharded over data-parallel ranks): accuracy and macro-F1
of a classifier; Pearson, Spearman and MSE of a regression (a model with one output); micro-/
macro-F1 and subset accuracy of a multi-label model. The metric functions and names (which score
ranks a task's models: ``PRIMARY``) are plain Python in :mod:`distill.core.metrics`; this module
runs the model and gathers its outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from distill.core.metrics import (
    confusion_counts,
    multilabel_scores,
    regression_scores,
    scores,
    task_of,
)
from distill.data.batching import Encoded, eval_batches, iterate
from distill.train.distributed import SINGLE, World, all_sum, shard


@torch.inference_mode()
def outputs(
    model: nn.Module,
    data: Encoded,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    indices: list[int] | None = None,
) -> list[list[float]]:
    """The model's logits for the examples ``indices`` (default: all), in that order."""
    model.eval()
    indices = list(range(len(data))) if indices is None else indices
    rows: dict[int, list[float]] = {}
    batches = eval_batches(data, batch_size, indices)
    for batch_indices, batch in zip(batches, iterate(data, batches, device), strict=True):
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = model(**inputs).logits.float()  # (batch, labels)
        rows.update(zip(batch_indices, logits.tolist(), strict=True))
    return [rows[i] for i in indices]


def all_outputs(
    model: nn.Module, data: Encoded, width: int, batch_size: int = 64, device="cpu", world: World = SINGLE
) -> list[list[float]]:
    """The ``width`` logits of every example of ``data``, in order, on every rank: each rank computes
    its slice into place in a zero vector and the vectors are summed (a regression's predictions,
    a multi-label model's logits: what no count summarises)."""
    indices = shard(list(range(len(data))), world)
    flat = [0.0] * (len(data) * width)
    for i, row in zip(indices, outputs(model, data, batch_size, device, indices), strict=True):
        flat[i * width : (i + 1) * width] = row
    flat = all_sum(flat, world)
    return [flat[i * width : (i + 1) * width] for i in range(len(data))]


def probabilities(
    model: nn.Module, data: Encoded, batch_size: int = 64, device="cpu", world: World = SINGLE
) -> list[list[float]]:
    """A multi-label model's per-label sigmoid probabilities for every example of ``data``, in order."""
    logits = all_outputs(model, data, len(data.labels[0]), batch_size, device, world)
    return torch.tensor(logits).sigmoid().tolist()  # (examples, labels)


def predict(
    model: nn.Module,
    data: Encoded,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    indices: list[int] | None = None,
) -> list[int]:
    """Predicted label ids of the examples ``indices`` (default: all), in that order."""
    rows = outputs(model, data, batch_size, device, indices)
    return [max(range(len(r)), key=r.__getitem__) for r in rows]


def evaluate(
    model: nn.Module,
    data: Encoded,
    num_labels: int,
    batch_size: int = 64,
    device="cpu",
    world: World = SINGLE,
    thresholds: list[float] | None = None,
) -> dict[str, float]:
    """Scores of the whole split (:data:`REPORTED` for the task; multi-label at ``thresholds``,
    default 0.5 per label). On several
    processes each evaluates a contiguous slice of ``data`` and the counts (a regression: the
    predictions themselves) are summed, so every rank gets the scores of the whole split."""
    task = task_of(num_labels, data.labels)
    if task == "multi_label":
        return multilabel_scores(
            probabilities(model, data, batch_size, device, world), data.labels, thresholds
        )
    if task == "regression":
        values = [row[0] for row in all_outputs(model, data, 1, batch_size, device, world)]
        return regression_scores(values, [float(y) for y in data.labels])
    indices = shard(list(range(len(data))), world)
    preds = predict(model, data, batch_size, device, indices)
    counts = confusion_counts(preds, [data.labels[i] for i in indices], num_labels)
    return scores(all_sum(counts, world), num_labels)

"""Accuracy and macro-F1 of a classifier on an encoded split."""

from __future__ import annotations

import torch
from torch import nn

from distill.data.batching import Encoded, eval_batches, iterate


@torch.inference_mode()
def predict(model: nn.Module, data: Encoded, batch_size: int = 64, device: str | torch.device = "cpu") -> list[int]:
    """Predicted label ids, in the order of ``data``."""
    model.eval()
    preds = [0] * len(data)
    batches = eval_batches(data, batch_size)
    for indices, batch in zip(batches, iterate(data, batches, device), strict=True):
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        for i, p in zip(indices, model(**inputs).logits.argmax(-1).tolist(), strict=True):
            preds[i] = p
    return preds


def accuracy_f1(preds: list[int], labels: list[int], num_labels: int | None = None) -> dict[str, float]:
    """Accuracy and macro-averaged F1: each label's F1, averaged with equal weight over the labels
    that occur in ``labels`` or ``preds`` (scikit-learn's ``f1_score(average="macro")``; a label
    absent from both has no defined F1 and is left out rather than counted as 0)."""
    pairs = list(zip(preds, labels, strict=True))
    seen = sorted(set(preds) | set(labels))
    f1s = []
    for c in seen:
        tp = sum(p == c and y == c for p, y in pairs)
        predicted, actual = sum(p == c for p, _ in pairs), sum(y == c for _, y in pairs)
        f1s.append(2 * tp / (predicted + actual))
    return {"accuracy": sum(p == y for p, y in pairs) / len(pairs), "f1": sum(f1s) / len(f1s)}


def evaluate(model: nn.Module, data: Encoded, num_labels: int, batch_size: int = 64, device="cpu") -> dict[str, float]:
    return accuracy_f1(predict(model, data, batch_size, device), data.labels, num_labels)

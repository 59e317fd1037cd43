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


def accuracy_f1(preds: list[int], labels: list[int], num_labels: int) -> dict[str, float]:
    """Accuracy and macro-averaged F1 (each label's F1, averaged with equal weight)."""
    correct = sum(p == y for p, y in zip(preds, labels, strict=True))
    f1s = []
    for c in range(num_labels):
        tp = sum(p == c and y == c for p, y in zip(preds, labels, strict=True))
        fp = sum(p == c and y != c for p, y in zip(preds, labels, strict=True))
        fn = sum(p != c and y == c for p, y in zip(preds, labels, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"accuracy": correct / len(labels), "f1": sum(f1s) / num_labels}


def evaluate(model: nn.Module, data: Encoded, num_labels: int, batch_size: int = 64, device="cpu") -> dict[str, float]:
    return accuracy_f1(predict(model, data, batch_size, device), data.labels, num_labels)

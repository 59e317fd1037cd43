"""Distill in your own PyTorch loop with distill-kit's objectives and feature capture.

    python examples/plain_loop.py TEACHER_DIR      # a fine-tuned classifier folder (or hub id)

The student is a TinyBERT-shaped BERT on the teacher's tokenizer (``students.tinybert``); the loss is
a student.yaml stage's ``objectives`` mapping (:class:`distill.DistillationLoss`). ``train`` is the
whole loop: it returns the loss of every step.
"""

from __future__ import annotations

import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill import DistillationLoss
from students.tinybert import build_tinybert

OBJECTIVES = {"hidden": {}, "attn": {}, "pred": {"temperature": 2.0}, "ce": {"weight": 0.5}}
TEXTS = ["what a great flight", "the worst delay ever", "lovely crew, thank you", "lost my bag again"]


def train(
    teacher, tokenizer, texts: list[str], labels: list[int], steps: int = 20, lr: float = 1e-3
) -> list[float]:
    student = build_tinybert(
        {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "intermediate_size": 128},
        teacher.config,
        [teacher.config.id2label[i] for i in range(teacher.config.num_labels)],
    )
    loss_fn = DistillationLoss(OBJECTIVES, student, teacher)  # layer map: uniform
    optimizer = torch.optim.AdamW([*student.parameters(), *loss_fn.parameters()], lr=lr)  # W_h is learned
    batch = {**tokenizer(texts, padding=True, return_tensors="pt"), "labels": torch.tensor(labels)}
    losses = []
    student.train()
    for _ in range(steps):
        loss, parts = loss_fn(student, teacher, batch)  # parts: {"hidden": ..., "attn": ..., ...}
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def main() -> None:
    teacher = AutoModelForSequenceClassification.from_pretrained(sys.argv[1])
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    losses = train(teacher, tokenizer, TEXTS, [1, 0, 1, 0])
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    main()

"""Tokenize once, then batch with padding per batch and length grouping.

Tweets average ~33 tokens but a random batch pads to ~58 of 64: grouping examples of similar length
into a batch is where the padding saving is. Training batches are drawn from shuffled chunks of
``group`` batches, sorted by length inside each chunk, and the batches shuffled again, so the
order stays random at the batch level while each batch holds similar lengths.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from distill.data.dataset import TextDataset


@dataclass
class Encoded:
    """A tokenized dataset: unpadded token ids per example, and labels.

    ``student_view`` is the same examples in the student's own tokenization when the student does
    not read the teacher's tokens (the BiLSTM's word ids); batches are drawn by index, so both
    streams always hold the same examples.
    """

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: list[int]
    pad_id: int
    student_view: Encoded | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    def for_student(self) -> Encoded:
        """The stream the student reads: its own view, else the teacher's tokens."""
        return self.student_view if self.student_view is not None else self


def encode(dataset: TextDataset, tokenizer, max_length: int) -> Encoded:
    """Tokenize every example (and its pair) once, truncated to ``max_length``, not padded."""
    args = (dataset.texts,) if dataset.pairs is None else (dataset.texts, dataset.pairs)
    enc = tokenizer(*args, truncation=True, max_length=max_length, padding=False)
    types = enc.get("token_type_ids")
    return Encoded(enc["input_ids"], types, list(dataset.labels), tokenizer.pad_token_id or 0)


def collate(data: Encoded, indices: list[int]) -> dict[str, Tensor]:
    """Pad the examples at ``indices`` to the longest of them."""
    width = max(len(data.input_ids[i]) for i in indices)
    ids = torch.full((len(indices), width), data.pad_id, dtype=torch.long)  # (batch, seq)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    types = torch.zeros((len(indices), width), dtype=torch.long) if data.token_type_ids else None
    for row, i in enumerate(indices):
        n = len(data.input_ids[i])
        ids[row, :n] = torch.tensor(data.input_ids[i])
        mask[row, :n] = 1
        if types is not None:
            types[row, :n] = torch.tensor(data.token_type_ids[i])
    batch = {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": torch.tensor([data.labels[i] for i in indices]),
    }
    if types is not None:
        batch["token_type_ids"] = types
    return batch


def train_batches(data: Encoded, batch_size: int, rng: random.Random, group: int = 50) -> list[list[int]]:
    """Index lists for one epoch: random order, similar lengths within each batch."""
    order = list(range(len(data)))
    rng.shuffle(order)
    batches = []
    chunk = batch_size * group
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda i: len(data.input_ids[i]))
        batches.extend(block[k : k + batch_size] for k in range(0, len(block), batch_size))
    rng.shuffle(batches)
    return batches


def eval_batches(data: Encoded, batch_size: int, indices: list[int] | None = None) -> list[list[int]]:
    """Index lists of ``indices`` (default: all) sorted by length (order does not matter for
    metrics, padding does for speed)."""
    order = sorted(range(len(data)) if indices is None else indices, key=lambda i: len(data.input_ids[i]))
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


def encode_views(dataset: TextDataset, teacher_tokenizer, student_tokenizer, max_length: int) -> Encoded:
    """Tokenize for the teacher, and separately for the student when it has its own tokenizer."""
    data = encode(dataset, teacher_tokenizer, max_length)
    if student_tokenizer is not None and student_tokenizer is not teacher_tokenizer:
        data.student_view = encode(dataset, student_tokenizer, max_length)
    return data


def iterate(
    data: Encoded, batches: list[list[int]], device: torch.device | str = "cpu"
) -> Iterator[dict[str, Tensor]]:
    for indices in batches:
        yield {k: v.to(device) for k, v in collate(data, indices).items()}

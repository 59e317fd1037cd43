"""``layer_map: importance``: the teacher layers a shallower student keeps, by Block Importance.

Block Importance (Men et al. 2024, "ShortGPT"; the depth criterion Minitron compares, Muralidharan
et al. 2024) of Transformer layer ``i`` is how much it turns the residual stream::

    BI_i = 1 - E_t[ cos(x_{i-1,t}, x_{i,t}) ]        (t: the real tokens of a few hundred texts)

where ``x_0`` is the embedding output and ``x_i`` layer ``i``'s output (Hugging Face's
``hidden_states``, so every family is measured the same way). A layer that leaves its input nearly
unchanged is one the student can skip: the map keeps the ``M`` layers of highest BI, in order, and
student layer ``m`` is initialised from and distilled towards the ``m``-th of them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

IMPORTANCE_TEXTS = 256  # training texts the teacher runs on to rank layers, channels, heads and neurons


def teacher_batches(
    tokenizer: Any,
    texts: list[str],
    device: torch.device | str,
    n: int = IMPORTANCE_TEXTS,
    batch_size: int = 32,
    max_length: int = 128,
) -> list[dict[str, Tensor]]:
    """The first ``n`` non-empty ``texts`` in the teacher's tokens, padded per batch."""
    texts = [t for t in texts if t.strip()][:n]
    return [
        {
            k: v.to(device)
            for k, v in tokenizer(
                texts[i : i + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).items()
        }
        for i in range(0, len(texts), batch_size)
    ]


@torch.no_grad()
def block_importance(teacher: nn.Module, batches: list[dict[str, Tensor]]) -> list[float]:
    """BI of each of the teacher's layers (index 0: layer 1), over the real tokens of ``batches``."""
    from distill.models.adapters import adapter_of

    names = ["input_ids", "attention_mask"] + ["token_type_ids"] * adapter_of(teacher).takes_token_types(
        teacher.config
    )
    sums: Tensor | None = None
    tokens = 0
    teacher.eval()
    for batch in batches:
        out = teacher(**{k: v for k, v in batch.items() if k in names}, output_hidden_states=True)
        states = out.hidden_states  # layers + 1 tensors of (batch, seq, hidden)
        mask = batch["attention_mask"].bool()  # (batch, seq)
        cos = torch.stack(
            [
                nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)[mask]  # (real tokens,)
                for a, b in zip(states[:-1], states[1:], strict=True)
            ]
        )  # (layers, real tokens)
        sums = cos.sum(1) if sums is None else sums + cos.sum(1)
        tokens += int(mask.sum())
    if sums is None or not tokens:
        raise ValueError("block_importance: no tokens to measure on")
    return (1 - sums / tokens).tolist()


def importance_map(scores: list[float], student_layers: int) -> list[int]:
    """The ``student_layers`` teacher layers (1-based) of highest ``scores``, in increasing order;
    ties go to the deeper layer."""
    ranked = sorted(range(len(scores)), key=lambda i: (scores[i], i), reverse=True)
    return sorted(i + 1 for i in ranked[:student_layers])


def describe(scores: list[float], chosen: list[int]) -> str:
    """For the log: every layer's BI, the chosen ones starred."""
    return ", ".join(f"{i}{'*' if i in chosen else ''} {s:.3f}" for i, s in enumerate(scores, 1))


def choose_layers(
    teacher: nn.Module, tokenizer: Any, texts: list[str], student_layers: int
) -> tuple[list[int], list[float], str]:
    """The importance map of a ``student_layers``-layer student: (map, every layer's BI, a log line)."""
    device = next(teacher.parameters()).device
    batches = teacher_batches(tokenizer, texts, device)
    scores = block_importance(teacher, batches)
    chosen = importance_map(scores, student_layers)
    n = sum(b["input_ids"].size(0) for b in batches)
    return (
        chosen,
        scores,
        f"layer_map: importance over {n} texts (BI per teacher layer: {describe(scores, chosen)}) -> {chosen}",
    )

"""Attention-based distillation (TinyBERT, Jiao et al. 2020, eq. 7-8)."""

from __future__ import annotations

import logging
from typing import Literal

import torch
from torch import Tensor

from distill.models.features import Features
from distill.objectives.base import OBJECTIVES, ModelDims, Objective, WeightOnly

log = logging.getLogger("distill")


def attention_score_mse(
    student: Tensor, teacher: Tensor, mask: Tensor, heads: str = "per_head", valid: Tensor | None = None
) -> Tensor:
    """MSE between un-normalised attention scores ``Q Kᵀ / √d`` of one layer pair.

    student: (batch, heads_S, seq, seq); teacher: (batch, heads_T, seq, seq); mask: (batch, seq).
    Query-key pairs that touch padding are excluded, as TinyBERT's code does by zeroing them, and so
    are pairs outside ``valid`` (broadcastable bool, True where both models' scores are defined: a
    windowed layer defines them only inside its window).

    - ``per_head`` (the paper, equal head counts): ``1/h Σ_i MSE(A_i^S, A_i^T)``.
    - ``mean``: average the scores over heads first, then MSE; works for any two head counts.
    """
    if heads == "mean":
        student, teacher = student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)
    elif student.size(1) != teacher.size(1):
        raise ValueError(
            f"per-head attention MSE needs equal head counts, got {student.size(1)} and {teacher.size(1)}"
        )
    m = mask.bool()
    pairs = m[:, None, :, None] & m[:, None, None, :]  # (batch, 1, seq, seq): True where both are real
    if valid is not None:
        pairs = pairs & valid
    # `where`, not a multiplication: a padded score may be huge (float min), and inf * 0 is nan.
    diff = torch.where(pairs, student - teacher, torch.zeros((), dtype=student.dtype, device=student.device))
    return diff.pow(2).sum() / (pairs.sum() * student.size(1)).clamp_min(1)


class AttentionParams(WeightOnly):
    heads: Literal["auto", "per_head", "mean"] = "auto"


@OBJECTIVES.register("attn")
class AttentionScoreMSE(Objective):
    """``L_attn = Σ_m 1/h Σ_i MSE(A_i^{S,m}, A_i^{T,g(m)})`` on pre-softmax scores (TinyBERT).

    The scores are captured before softmax and before the padding mask is added, from the mapped
    layers only. ``heads: auto`` compares head by head when the counts match and falls back to
    head-averaged scores when they differ (e.g. BERT-large's 16 heads vs TinyBERT's 12).

    YAML::

        objectives:
          attn: {weight: 1.0, heads: auto}
    """

    needs = frozenset({"attn"})
    unit = "token_pair"
    Params = AttentionParams

    def __init__(self, params: AttentionParams, student: ModelDims, teacher: ModelDims) -> None:
        super().__init__(params, student, teacher)
        same = student.num_heads == teacher.num_heads
        if params.heads == "per_head" and not same:
            raise ValueError(
                f"heads: per_head needs equal head counts, the student has {student.num_heads} and the "
                f"teacher {teacher.num_heads}; use `heads: mean` or `auto`"
            )
        self.heads = (
            "per_head"
            if params.heads == "auto" and same
            else ("mean" if params.heads == "auto" else params.heads)
        )
        if params.heads == "auto" and not same:
            log.info(
                "attn: the student has %d heads and the teacher %d: comparing head-averaged scores (heads: mean); "
                "the `relation` objective (MiniLMv2 Q-K-V relations) is the alternative",
                student.num_heads,
                teacher.num_heads,
            )

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        pairs = zip(student.attn_scores, teacher.attn_scores, strict=True)
        valid = [_both(student.attn_valid, teacher.attn_valid, k) for k in range(len(student.attn_scores))]
        return sum(
            attention_score_mse(s, t, student.mask, self.heads, v)
            for (s, t), v in zip(pairs, valid, strict=True)
        )


def _both(a: list[Tensor | None], b: list[Tensor | None], k: int) -> Tensor | None:
    """Where layer pair ``k``'s scores are defined in both models (None: everywhere)."""
    va, vb = (a[k] if k < len(a) else None), (b[k] if k < len(b) else None)
    if va is None or vb is None:
        return va if vb is None else vb
    return va & vb

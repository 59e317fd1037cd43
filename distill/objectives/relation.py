"""Self-attention relation distillation (MiniLM, Wang et al. 2020; MiniLMv2, Wang et al. 2021).

Relations are token-by-token (seq x seq) matrices, so they compare models of any width and any
head count: the queries (keys, values) of all heads are concatenated and re-split into a chosen
number of *relation heads* ``R``, the same for student and teacher, whatever their own head counts.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from distill.models.features import Features
from distill.objectives.base import OBJECTIVES, ModelDims, Objective, WeightOnly

log = logging.getLogger("distill")

RELATIONS = {"qq": 0, "kk": 1, "vv": 2}


def split_relation_heads(x: Tensor, relation_heads: int) -> Tensor:
    """(batch, heads, seq, head_dim) -> (batch, R, seq, heads*head_dim/R): concatenate, re-split."""
    b, h, s, d = x.shape
    return x.transpose(1, 2).reshape(b, s, relation_heads, h * d // relation_heads).transpose(1, 2)


def relation_log_probs(x: Tensor, mask: Tensor) -> Tensor:
    """``log softmax(X Xᵀ / √d_r)`` over real keys; x: (batch, R, seq, d_r), mask: (batch, seq)."""
    scores = torch.matmul(x, x.transpose(-1, -2)) / math.sqrt(x.size(-1))  # (batch, R, seq, seq)
    keys = mask.bool()[:, None, None, :]  # (batch, 1, 1, seq)
    scores = scores.masked_fill(~keys, torch.finfo(scores.dtype).min)
    return F.log_softmax(scores, dim=-1)


def relation_kl(student: Tensor, teacher: Tensor, mask: Tensor, relation_heads: int) -> Tensor:
    """``1/(R·|real queries|) Σ_r Σ_i KL(R_T[r, i] ‖ R_S[r, i])`` for one relation (e.g. Q-Q).

    student: (batch, heads_S, seq, d_S); teacher: (batch, heads_T, seq, d_T); mask: (batch, seq).
    Padded keys get probability 0 in both relations; padded queries are left out of the mean.
    """
    log_s = relation_log_probs(split_relation_heads(student, relation_heads), mask)
    log_t = relation_log_probs(split_relation_heads(teacher, relation_heads), mask)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)  # (batch, R, seq)
    rows = mask.to(kl.dtype)[:, None, :]  # (batch, 1, seq)
    return (kl * rows).sum() / (rows.sum() * relation_heads).clamp_min(1.0)


def auto_relation_heads(student: ModelDims, teacher: ModelDims) -> int:
    """The teacher's head count when it divides both widths, else the largest count up to the
    student's head count that divides both widths."""
    if student.hidden_size % teacher.num_heads == 0 and teacher.hidden_size % teacher.num_heads == 0:
        return teacher.num_heads
    common = math.gcd(student.hidden_size, teacher.hidden_size)
    return max(r for r in range(1, max(student.num_heads, 1) + 1) if common % r == 0)


class RelationParams(WeightOnly):
    relations: list[Literal["qq", "kk", "vv"]] = Field(
        default_factory=lambda: ["qq", "kk", "vv"], min_length=1
    )
    relation_heads: int | Literal["auto"] = "auto"
    layers: Literal["last", "mapped"] = "last"


@OBJECTIVES.register("relation")
class SelfAttentionRelation(Objective):
    """``L_rel = Σ_{x ∈ {Q,K,V}} 1/R Σ_r KL(softmax(X_T,r X_T,rᵀ/√d_T,r) ‖ softmax(X_S,r X_S,rᵀ/√d_S,r))``
    (MiniLMv2): queries, keys and values of all heads are concatenated and split into ``R`` relation
    heads, so teacher and student may differ in width and head count (BERT-large's 16 heads vs
    TinyBERT's 12). ``layers: last`` (MiniLM) uses the last student layer against the last mapped
    teacher layer; ``mapped`` sums over every layer-map pair. ``relations: [vv]`` with ``attn`` is
    MiniLM v1's value relation.

    YAML::

        objectives:
          relation: {weight: 1.0, relations: [qq, kk, vv], relation_heads: auto, layers: last}
    """

    needs = frozenset({"qkv"})
    unit = "token"
    Params = RelationParams

    def __init__(self, params: RelationParams, student: ModelDims, teacher: ModelDims) -> None:
        super().__init__(params, student, teacher)
        r = (
            auto_relation_heads(student, teacher)
            if params.relation_heads == "auto"
            else params.relation_heads
        )
        for who, d in (("student", student), ("teacher", teacher)):
            if r < 1 or d.hidden_size % r:
                raise ValueError(f"relation_heads {r} does not divide the {who}'s width {d.hidden_size}")
        if params.relation_heads == "auto":
            log.info(
                "relation: %d relation heads (student %d heads x %d wide, teacher %d x %d)",
                r,
                student.num_heads,
                student.hidden_size,
                teacher.num_heads,
                teacher.hidden_size,
            )
        self.relation_heads = r
        self.which = [RELATIONS[name] for name in params.relations]
        self.layers = params.layers
        self.last_layer_only = params.layers == "last"

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        pairs = list(zip(student.qkv, teacher.qkv, strict=True))
        if self.layers == "last":  # only the last pair is captured unless another objective wants more
            pairs = pairs[-1:]
        return sum(
            relation_kl(s[i], t[i], student.mask, self.relation_heads) for s, t in pairs for i in self.which
        )

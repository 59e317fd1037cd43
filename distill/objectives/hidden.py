"""Hidden-state distillation: TinyBERT's MSE (eq. 9) and DistilBERT's cosine loss."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from distill.models.features import Features
from distill.objectives.base import OBJECTIVES, ModelDims, Objective, WeightOnly, masked_mse, projection


def hidden_mse(student_hidden: list[Tensor], teacher_hidden: list[Tensor], mask: Tensor) -> Tensor:
    """``Σ_m MSE(H_S^m W_h, H_T^{g(m)})`` over mapped layers; pass student states already projected."""
    return sum(masked_mse(s, t, mask) for s, t in zip(student_hidden, teacher_hidden, strict=True))


def hidden_cosine(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """``mean over real tokens of 1 - cos(h_S, h_T)`` (DistilBERT's cosine embedding loss, target 1).

    student, teacher: (batch, seq, hidden); mask: (batch, seq).
    """
    cos = torch.nn.functional.cosine_similarity(student, teacher, dim=-1)  # (batch, seq)
    mask = mask.to(cos.dtype)
    return ((1.0 - cos) * mask).sum() / mask.sum().clamp_min(1.0)


@OBJECTIVES.register("hidden")
class HiddenMSE(Objective):
    """``L_hidn = Σ_m MSE(H_S^m W_h, H_T^{g(m)})`` (TinyBERT): each student layer's output,
    projected by one learned ``W_h`` shared across layers (identity when widths match), matches
    the output of the teacher layer the layer map assigns it. Padding is excluded.

    YAML::

        objectives:
          hidden: {weight: 1.0}
    """

    needs = frozenset({"hidden"})
    unit = "token"
    Params = WeightOnly

    def __init__(self, params: WeightOnly, student: ModelDims, teacher: ModelDims) -> None:
        super().__init__(params, student, teacher)
        self.W_h = projection(student.hidden_size, teacher.hidden_size)

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return hidden_mse([self.W_h(h) for h in student.hidden], teacher.hidden, student.mask)


class CosineParams(WeightOnly):
    layers: Literal["last", "mapped"] = "last"


@OBJECTIVES.register("hidden_cos")
class HiddenCosine(Objective):
    """``L_cos = 1 - cos(h_S W, h_T)`` averaged over real tokens (DistilBERT, Sanh et al. 2019):
    aligns the directions of the student's and teacher's hidden states. ``layers: last`` (the
    paper) uses the last student layer against the last mapped teacher layer; ``mapped`` sums over
    every mapped pair. ``W`` is a learned projection when widths differ.

    YAML::

        objectives:
          hidden_cos: {weight: 1.0, layers: last}
    """

    needs = frozenset({"hidden"})
    unit = "token"
    Params = CosineParams

    def __init__(self, params: CosineParams, student: ModelDims, teacher: ModelDims) -> None:
        super().__init__(params, student, teacher)
        self.W = projection(student.hidden_size, teacher.hidden_size)
        self.layers = params.layers

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        pairs = list(zip(student.hidden, teacher.hidden, strict=True))
        if self.layers == "last":
            pairs = pairs[-1:]
        return sum(hidden_cosine(self.W(s), t, student.mask) for s, t in pairs)

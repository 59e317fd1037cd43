"""Prediction-layer objectives: soft cross-entropy (TinyBERT), KL·T² (Hinton/DistilBERT), logit MSE
(Tang et al.), and the hard-label losses: cross-entropy for classes, squared error for a regression.

A regression model has one output, its prediction: the softmax losses (``pred``, ``kd_kl``) are
constant on it and ``ce`` has no classes, so those are classification's only; ``logit_mse`` is
TinyBERT's prediction loss for STS-B (MSE between the student's and the teacher's predictions)
and ``mse`` the gold-target loss (teacher fine-tuning, and the student's hard term)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from distill.core.schema import PositiveFloat
from distill.models.features import Features
from distill.objectives.base import OBJECTIVES, ModelDims, Objective, WeightOnly


def soft_cross_entropy(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``L_pred = -softmax(z_T / t) · log_softmax(z_S / t)``, summed over labels, mean over batch."""
    targets = F.softmax(teacher_logits / temperature, dim=-1)  # (batch, labels)
    return -(targets * F.log_softmax(student_logits / temperature, dim=-1)).sum(-1).mean()


def kl_divergence(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``T² · KL(softmax(z_T/T) ‖ softmax(z_S/T))``, mean over batch (Hinton et al. 2015)."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    p_teacher = F.softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * temperature**2


def logit_mse(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """``mean (z_S - z_T)²`` over batch and labels (Tang et al. 2019)."""
    return F.mse_loss(student_logits, teacher_logits)


class TemperatureParams(WeightOnly):
    temperature: PositiveFloat = 1.0


CLASSIFICATION = frozenset({"classification"})


class Tempered(Objective):
    """The base of the losses on temperature-softened outputs (softmax here, per-label sigmoid in
    multilabel.py): logits in, a ``temperature`` key."""

    needs = frozenset({"logits"})
    tasks = CLASSIFICATION
    Params = TemperatureParams

    def __init__(self, params: TemperatureParams, student: ModelDims, teacher: ModelDims) -> None:
        super().__init__(params, student, teacher)
        self.temperature = params.temperature


@OBJECTIVES.register("pred")
class SoftCrossEntropy(Tempered):
    """``L_pred = -softmax(z_T/t) · log_softmax(z_S/t)`` (TinyBERT eq. 11). TinyBERT's code also
    divides by the number of labels; we follow the paper's formula (sum over labels).

    YAML::

        objectives:
          pred: {weight: 1.0, temperature: 1.0}
    """

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return soft_cross_entropy(student.logits, teacher.logits, self.temperature)


@OBJECTIVES.register("kd_kl")
class KLDivergence(Tempered):
    """``L_KD = T² · KL(softmax(z_T/T) ‖ softmax(z_S/T))``; the T² keeps gradients comparable across
    temperatures (Hinton et al. 2015; DistilBERT uses it with T = 2).

    YAML::

        objectives:
          kd_kl: {weight: 1.0, temperature: 2.0}
    """

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return kl_divergence(student.logits, teacher.logits, self.temperature)


@OBJECTIVES.register("logit_mse")
class LogitMSE(Objective):
    """``L = mean (z_S - z_T)²`` on raw logits (Tang et al. 2019, BiLSTM distillation); on a
    regression, the squared error to the teacher's prediction (TinyBERT's loss for STS-B).

    YAML::

        objectives:
          logit_mse: {weight: 1.0}
    """

    needs = frozenset({"logits"})
    Params = WeightOnly

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return logit_mse(student.logits, teacher.logits)


@OBJECTIVES.register("ce")
class HardCrossEntropy(Objective):
    """``L_CE = -log softmax(z_S)[y]`` against the gold labels (no teacher involved).

    YAML::

        objectives:
          ce: {weight: 0.5}
    """

    needs = frozenset({"logits", "labels"})
    uses_teacher = False
    tasks = CLASSIFICATION
    Params = WeightOnly

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return F.cross_entropy(student.logits, labels)


@OBJECTIVES.register("mse")
class HardMSE(Objective):
    """``L = mean (y_S - y)²``: a regression's squared error to the gold targets (no teacher
    involved; the loss a regression teacher is fine-tuned with).

    YAML::

        objectives:
          mse: {weight: 0.5}
    """

    needs = frozenset({"logits", "labels"})
    uses_teacher = False
    tasks = frozenset({"regression"})
    Params = WeightOnly

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return F.mse_loss(student.logits.squeeze(-1), labels.to(student.logits.dtype))  # (batch,) each

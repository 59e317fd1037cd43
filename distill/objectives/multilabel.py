"""Multi-label objectives: one sigmoid per label, so the softmax losses (``pred``, ``kd_kl``) and
``ce`` do not apply; ``logit_mse`` does, unchanged.

``bce`` is the hard loss against the 0/1 targets; ``soft_bce`` distils the teacher's per-label
probabilities at a temperature, the multi-label counterpart of Hinton's KD: each label is a two-way
softmax over (z, 0), whose probability is ``sigmoid(z / T)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from distill.models.features import Features
from distill.objectives.base import OBJECTIVES, Objective, WeightOnly
from distill.objectives.prediction import Tempered

MULTI_LABEL = frozenset({"multi_label"})


def soft_binary_cross_entropy(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0
) -> Tensor:
    """``T² · mean_{b,k} BCE(sigmoid(z_S/T), sigmoid(z_T/T))`` over batch and labels."""
    targets = torch.sigmoid(teacher_logits / temperature)  # (batch, labels)
    return F.binary_cross_entropy_with_logits(student_logits / temperature, targets) * temperature**2


@OBJECTIVES.register("bce")
class HardBCE(Objective):
    """``L = mean_{b,k} BCE(sigmoid(z_S), y)`` against the 0/1 targets of a multi-label task (no
    teacher involved; what a multi-label teacher is fine-tuned with).

    YAML::

        objectives:
          bce: {weight: 0.5}
    """

    needs = frozenset({"logits", "labels"})
    uses_teacher = False
    tasks = MULTI_LABEL
    Params = WeightOnly

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(student.logits, labels.to(student.logits.dtype))


@OBJECTIVES.register("soft_bce")
class SoftBCE(Tempered):
    """``L = T² · mean_{b,k} BCE(sigmoid(z_S/T), sigmoid(z_T/T))``: each label's teacher probability
    at temperature T as the student's soft target; T² keeps gradients comparable across T.

    YAML::

        objectives:
          soft_bce: {weight: 1.0, temperature: 2.0}
    """

    tasks = MULTI_LABEL

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return soft_binary_cross_entropy(student.logits, teacher.logits, self.temperature)

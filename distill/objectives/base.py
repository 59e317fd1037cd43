"""What every objective shares: the registry, the model sizes it is built for, a base class."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from distill.core.registry import Registry
from distill.core.schema import NonNegFloat
from distill.data.labels import TASKS
from distill.models.dims import ModelDims  # noqa: F401  (re-exported: the sizes objectives are built for)
from distill.models.features import Features


class WeightOnly(BaseModel):
    """YAML parameters shared by every objective."""

    model_config = ConfigDict(extra="forbid")
    weight: NonNegFloat = 1.0


class Objective(nn.Module):
    """A loss between student and teacher :class:`Features`.

    ``needs`` names the features it reads (``logits``, ``labels``, ``embeddings``, ``hidden``,
    ``attn``), so the distiller captures only those. Learned parameters (the ``W_e``/``W_h``
    projections) live in the module: they are trained with the student, saved in the run's
    checkpoints, and left out of the exported student.
    """

    needs: ClassVar[frozenset[str]] = frozenset()
    uses_teacher: ClassVar[bool] = True  # False for losses on gold labels only: no teacher pass needed
    last_layer_only: bool = False  # True: reads only the last mapped layer pair, so only that one is captured
    # What the loss is a mean over: `example`, `token` (real tokens) or `token_pair` (real query-key
    # pairs). Data-parallel training weights each rank's loss by its share of these units in the
    # global batch, so that the ranks' average is the loss of the whole batch (distill.train.distributed).
    unit: ClassVar[str] = "example"
    # The tasks (data.task) the loss means something for: the intermediate losses and logit MSE
    # read any model; a softmax over one output (a regression) is constant, so ``pred`` is not one.
    tasks: ClassVar[frozenset[str]] = frozenset(TASKS)
    Params: ClassVar[type[BaseModel]] = WeightOnly

    def __init__(self, params: BaseModel, student: ModelDims, teacher: ModelDims) -> None:
        super().__init__()
        self.params = params
        self.weight = float(params.weight)

    @property
    def name(self) -> str:
        """The YAML name the user wrote (``ce``, ``kd_kl``): progress bars, logs and checkpoints say this."""
        return OBJECTIVES.name_of(type(self)) or type(self).__name__

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        raise NotImplementedError


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


class Projection(nn.Linear):
    """TinyBERT's learnable ``W`` from the student's width to the teacher's (``W_h``, ``W_e``)."""


def projection(student_width: int, teacher_width: int) -> nn.Module:
    """TinyBERT's learnable ``W`` (student width -> teacher width), or identity when they match."""
    if student_width == teacher_width:
        return nn.Identity()
    return Projection(student_width, teacher_width)


@torch.no_grad()
def start_projections(objectives: list[nn.Module], channels: list[int]) -> int:
    """Start every ``W`` of ``objectives`` as the selection of ``channels`` (student channel i is
    teacher channel ``channels[i]``: a student cut out of its teacher), so the intermediate losses
    start from the kept channels instead of a random map. Returns how many were set."""
    n = 0
    for objective in objectives:
        for module in objective.modules():
            if isinstance(module, Projection) and module.in_features == len(channels):
                module.weight.zero_()  # (teacher width, student width)
                module.weight[channels, torch.arange(len(channels))] = 1.0
                module.bias.zero_()
                n += 1
    return n


def masked_mse(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the real tokens only.

    student, teacher: (batch, seq, hidden); mask: (batch, seq) with 1 for real tokens. Padding
    positions are excluded from both the sum and the count.
    """
    real = mask.bool().unsqueeze(-1)  # (batch, seq, 1)
    diff = torch.where(real, student - teacher, torch.zeros((), dtype=student.dtype, device=student.device))
    return diff.pow(2).sum() / (real.sum() * student.size(-1)).clamp_min(1)

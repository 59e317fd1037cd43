"""The student and its objectives as one module whose forward pass returns the loss.

``DistributedDataParallel`` reduces the gradients of the module it wraps and only of the
parameters its forward pass used, so the loss, not just the student, is computed inside: the
objectives' learned projections (``W_e``, ``W_h``) are trained replicas too and need their
gradients averaged. On one process the module is used as is; on several it is wrapped by
:func:`replicate`, and :func:`sync_unless` skips the all-reduce on all micro-batches of a
gradient-accumulation step but the last.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from distill.models.features import FeatureRequest, Features, forward_features
from distill.objectives import Objective
from distill.train.distributed import World


class Trainable(nn.Module):
    """``forward(batch, teacher_features, shares) -> (loss, parts)``: ``Σ_k share_k w_k L_k``."""

    def __init__(self, student: nn.Module, objectives: list[Objective], request: FeatureRequest) -> None:
        super().__init__()
        self.student, self.objectives, self.request = student, nn.ModuleList(objectives), request

    def forward(
        self, batch: dict[str, Tensor], teacher: Features | None, shares: list[float]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        student = forward_features(self.student, batch, self.request)
        parts = {
            o.name: s * o.weight * o(student, teacher, batch["labels"])
            for o, s in zip(self.objectives, shares, strict=True)
        }
        return sum(parts.values()), parts


def replicate(module: Trainable, world: World, device: torch.device) -> nn.Module:
    """``module`` itself on one process; wrapped in DDP on several.

    ``find_unused_parameters``: a stage trains only part of the student (an intermediate stage
    never reaches the classifier head, a prediction stage no projection), and which part depends on
    the stage's objectives. Tried in tests/distill/test_ddp_run.py (torch 2.13, gloo): without it DDP
    stops at the second step ("parameters that were not used in producing loss");
    ``static_graph=True`` instead fails an internal reducer assertion. ``broadcast_buffers`` is off: BERT's and the BiLSTM's buffers are
    constants (position ids), so there is nothing to keep in step. Construction broadcasts rank 0's
    parameters, so the replicas start equal even when the projections were drawn on different
    RNG streams.
    """
    if not world.distributed:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(
        module, device_ids=ids, find_unused_parameters=True, broadcast_buffers=False
    )


def sync_unless(model: nn.Module, skip: bool) -> contextlib.AbstractContextManager:
    """DDP's ``no_sync`` when ``skip`` (a micro-batch that is not the last of its step): gradients
    accumulate locally and are all-reduced once, with the last micro-batch's backward pass."""
    if skip and isinstance(model, DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()

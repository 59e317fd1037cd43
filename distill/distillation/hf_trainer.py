"""Distillation inside Hugging Face's ``Trainer``: ``DistillationTrainer(model=student, teacher=...,
objectives={...}, args=TrainingArguments(...), train_dataset=...)``.

It runs the frozen teacher on each batch and trains the student on the chosen objectives (the
YAML mapping a student.yaml stage takes) through :class:`~distill.distillation.loss.DistillationLoss`,
so the features, capture and losses are those of ``distill run``; everything else (schedules,
logging, checkpoints, evaluation, ``save_model``) is the Trainer's. The objectives' learned
projections (``W_e``/``W_h``) get their own parameter group in the Trainer's optimizer; each logged
step also reports every objective's weighted term by its YAML name. Needs ``accelerate`` (the
Trainer's own requirement): ``pip install "distill-kit[trainer]"``.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from transformers import Trainer

from distill.distillation.loss import DistillationLoss


class DistillationTrainer(Trainer):
    def __init__(
        self,
        *args: Any,
        teacher: nn.Module,
        objectives: dict,
        layer_map: str | list[int] = "uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.distill_loss = DistillationLoss(objectives, self.model, self.teacher, layer_map)
        self._parts: dict[str, float] = {}

    def create_optimizer(self):  # noqa: ANN201  (Trainer's signature)
        optimizer = super().create_optimizer()
        extra = [p for p in self.distill_loss.parameters() if p.requires_grad]
        if extra and not any(p is extra[0] for g in optimizer.param_groups for p in g["params"]):
            optimizer.add_param_group({"params": extra, "weight_decay": 0.0})
        return optimizer

    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):  # noqa: ANN001, ANN201
        device = next(model.parameters()).device
        self.teacher.to(device)
        self.distill_loss.to(device)
        loss, parts = self.distill_loss(model, self.teacher, inputs)
        self._parts = {k: v.detach().item() for k, v in parts.items()}
        if return_outputs:  # evaluation: the student's logits of this forward pass
            from transformers.modeling_outputs import SequenceClassifierOutput

            return loss, SequenceClassifierOutput(loss=loss, logits=self.distill_loss.last_logits)
        return loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:  # a training step's log: each objective's term beside the Trainer's loss
            logs = {**logs, **{f"loss_{k}": v for k, v in self._parts.items()}}
        super().log(logs, *args, **kwargs)

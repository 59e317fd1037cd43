"""Bring your own loop: a student.yaml stage's objectives as one loss module.

``distill run`` is one loop (distill/train/distiller.py); to train inside another (a plain PyTorch
loop, or Hugging Face's ``Trainer`` through :mod:`distill.distillation.hf_trainer`) build the same
objectives from the same mapping and call them on a batch::

    loss_fn = DistillationLoss({"hidden": {}, "pred": {"temperature": 2}, "ce": {"weight": 0.5}}, student, teacher)
    optimizer = torch.optim.AdamW([*student.parameters(), *loss_fn.parameters()], lr=1e-4)  # W_h is learned
    for batch in batches:                      # input_ids, attention_mask (token_type_ids), labels
        loss, parts = loss_fn(student, teacher, batch)
        loss.backward(); optimizer.step(); optimizer.zero_grad()

The teacher runs under ``inference_mode`` and captures only what the objectives read (the same
``FeatureRequest`` and capture as ``distill run``); the student runs with gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from distill.models.dims import ModelDims
from distill.models.features import enable_capture, forward_features
from distill.models.layer_map import resolve_layer_map
from distill.objectives.spec import build_objectives, parse_objectives
from distill.train.distiller import feature_requests, total_loss


def model_dims(model: nn.Module) -> ModelDims:
    """A Hugging Face model's sizes (hidden width, heads, layers) from its config."""
    c = model.config
    return ModelDims(c.hidden_size, c.num_attention_heads, c.num_hidden_layers)


class DistillationLoss(nn.Module):
    """``loss, parts = module(student, teacher, batch)``: ``Σ_k w_k L_k`` of the ``objectives``
    mapping (YAML's), with ``parts`` each weighted term by its YAML name. Its parameters (the
    learned ``W_e``/``W_h`` projections) belong in the optimizer beside the student's."""

    def __init__(
        self,
        objectives: dict,
        student: nn.Module,
        teacher: nn.Module,
        layer_map: str | list[int] = "uniform",
        source: str = "objectives",
    ) -> None:
        super().__init__()
        s, t = model_dims(student), model_dims(teacher)
        self.layer_map = resolve_layer_map(layer_map, s.num_layers, t.num_layers, source)
        built = build_objectives(parse_objectives(objectives, source), s, t, source)
        self.objectives = nn.ModuleList(built)
        self.want_student, self.want_teacher = feature_requests(built, self.layer_map)
        for model, want in ((student, self.want_student), (teacher, self.want_teacher)):
            if want.attn_layers or want.qkv_layers:  # pre-softmax scores: recorded through the adapter
                enable_capture(model)

    def forward(
        self, student: nn.Module, teacher: nn.Module, batch: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        teacher_feats = None
        if any(o.uses_teacher for o in self.objectives):
            teacher.eval()
            with torch.inference_mode():
                teacher_feats = forward_features(teacher, batch, self.want_teacher).detached()
        student_feats = forward_features(student, batch, self.want_student)
        self.last_logits = student_feats.logits  # (batch, labels): what an evaluation loop scores
        return total_loss(list(self.objectives), student_feats, teacher_feats, batch["labels"])

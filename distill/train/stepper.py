"""Everything between a loss and updated weights: AdamW, the learning-rate schedule, mixed
precision, gradient accumulation and clipping.

The training loop (:func:`distill.train.distiller.fit`: teacher fine-tuning, task distillation and
general distillation) drives one :class:`Stepper` per stage, and checkpoints it with
:meth:`Stepper.state_dict`, so precision and accumulation behave the same everywhere.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from distill.config import OptimizerConfig, TrainConfig
from distill.core.errors import ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(train: TrainConfig, device: torch.device, source: str) -> None:
    """fp16 is for GPUs: CPUs have no fast fp16 matmul, and autocast to fp16 there only loses
    precision. bf16 works on both (fast on CPUs with AVX-512 BF16/AMX, correct everywhere)."""
    for key in ("precision", "teacher_precision"):
        if getattr(train, key) == "fp16" and device.type == "cpu":
            raise ConfigError(
                f"{source}: train.{key}: fp16 needs a CUDA GPU, but the run is on the CPU; use bf16 or fp32"
            )


def param_groups(modules: list[nn.Module], weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases and LayerNorm weights (BERT's convention)."""
    decay, no_decay = [], []
    for module in modules:
        for name, p in module.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def schedule(optimizer, total: int, warmup_ratio: float, kind: str) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_ratio`` of the steps, then linear decay to 0 (or constant)."""
    warmup = int(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Stepper:
    """One stage's optimizer state. Per optimizer step: ``backward`` once per micro-batch (each
    loss divided by the number of micro-batches, so the gradient is their mean), then ``step``."""

    def __init__(
        self,
        modules: list[nn.Module],
        *,
        lr: float,
        optim: OptimizerConfig,
        train: TrainConfig,
        total_steps: int,
        device: torch.device,
    ) -> None:
        self.optimizer = torch.optim.AdamW(param_groups(modules, optim.weight_decay), lr=lr)
        self.scheduler = schedule(self.optimizer, total_steps, optim.warmup_ratio, optim.schedule)
        self.grad_clip = optim.grad_clip
        self.device_type = device.type
        self.dtype = DTYPES[train.precision]
        # fp16 has too few exponent bits for small gradients: scale the loss up, unscale before
        # clipping, skip steps whose gradients overflowed. bf16 has fp32's range and needs none.
        self.scaler = torch.amp.GradScaler(device.type, enabled=train.precision == "fp16")
        self.optimizer.zero_grad(set_to_none=True)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context for the student's forward pass and the losses (a no-op in fp32)."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: Tensor, micro_batches: int = 1) -> None:
        self.scaler.scale(loss / micro_batches).backward()

    def step(self) -> None:
        """Clip, update, advance the schedule, clear the gradients."""
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])

"""The training loop: one stage of distillation (or plain fine-tuning), read top to bottom.

A stage is a set of weighted objectives trained for some epochs at one learning rate. TinyBERT's
task distillation is two stages (intermediate layers, then predictions); fine-tuning a teacher is
one stage whose only objective is the hard-label ``ce`` and which has no teacher at all.

Per step: the teacher (if any objective needs it) runs once under ``inference_mode``, capturing
only the features the objectives ask for; the student runs in training mode; the weighted sum of
the objectives is back-propagated into the student and the objectives' projections.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from distill.config import OptimizerConfig
from distill.data.batching import Encoded, iterate, train_batches
from distill.evaluate import evaluate
from distill.features import FeatureRequest, enable_capture, forward_features
from distill.objectives import Objective


@dataclass
class StageResult:
    name: str
    steps: int
    seconds: float
    examples_per_second: float
    loss_first: float  # mean total loss over the first 10% of steps
    loss_last: float  # mean total loss over the last 10% of steps
    dev_history: list[dict[str, float]] = field(default_factory=list)
    best_dev_accuracy: float | None = None


def feature_requests(objectives: list[Objective], layer_map: list[int]) -> tuple[FeatureRequest, FeatureRequest]:
    """What to capture from the student and the teacher for these objectives."""
    needs = set().union(*(o.needs for o in objectives))
    student_layers = tuple(range(1, len(layer_map) + 1))
    teacher_layers = tuple(layer_map)
    student = FeatureRequest(
        embeddings="embeddings" in needs,
        hidden_layers=student_layers if "hidden" in needs else (),
        attn_layers=student_layers if "attn" in needs else (),
    )
    teacher = FeatureRequest(
        embeddings="embeddings" in needs,
        hidden_layers=teacher_layers if "hidden" in needs else (),
        attn_layers=teacher_layers if "attn" in needs else (),
    )
    return student, teacher


def _param_groups(modules: list[nn.Module], weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases and LayerNorm weights (BERT's convention)."""
    decay, no_decay = [], []
    for module in modules:
        for name, p in module.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _schedule(optimizer, total: int, warmup_ratio: float, kind: str) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = int(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit_stage(
    name: str,
    student: nn.Module,
    teacher: nn.Module | None,
    objectives: list[Objective],
    layer_map: list[int],
    train: Encoded,
    dev: Encoded | None,
    *,
    epochs: float,
    lr: float,
    optim: OptimizerConfig,
    batch_size: int,
    eval_batch_size: int,
    seed: int,
    device: torch.device,
    num_labels: int,
) -> StageResult:
    """Train ``student`` on ``objectives`` for ``epochs``; keep the best dev weights when ``dev``."""
    want_s, want_t = feature_requests(objectives, layer_map)
    needs_teacher = teacher is not None and any(o.uses_teacher for o in objectives)
    if want_s.attn_layers:
        enable_capture(student)
    if needs_teacher:
        teacher.eval()
        if want_t.attn_layers:
            enable_capture(teacher)
    objectives = [o.to(device) for o in objectives]
    student.to(device).train()

    rng = random.Random(seed)
    per_epoch = math.ceil(len(train) / batch_size)
    total = max(1, math.ceil(epochs * per_epoch))
    optimizer = torch.optim.AdamW(_param_groups([student, *objectives], optim.weight_decay), lr=lr)
    scheduler = _schedule(optimizer, total, optim.warmup_ratio, optim.schedule)

    losses: list[float] = []
    dev_history: list[dict[str, float]] = []
    best_acc, best_state = None, None
    seen, start = 0, time.perf_counter()
    bar = tqdm(total=total, desc=name, unit="step", dynamic_ncols=True)
    step = 0
    while step < total:
        for batch in iterate(train, train_batches(train, batch_size, rng), device):
            if needs_teacher:
                with torch.inference_mode():
                    t_feats = forward_features(teacher, batch, want_t)
                t_feats = t_feats.detached()  # inference tensors cannot enter autograd
            else:
                t_feats = None
            s_feats = forward_features(student, batch, want_s)
            parts = {type(o).__name__: o.weight * o(s_feats, t_feats, batch["labels"]) for o in objectives}
            loss = sum(parts.values())

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if optim.grad_clip > 0:
                nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], optim.grad_clip)
            optimizer.step()
            scheduler.step()

            step += 1
            seen += batch["input_ids"].size(0)
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", **{k: f"{v.item():.3f}" for k, v in parts.items()},
                            seq_s=f"{seen / (time.perf_counter() - start):.0f}")
            epoch_done = step % per_epoch == 0 or step == total
            if epoch_done and dev is not None:
                scores = evaluate(student, dev, num_labels, eval_batch_size, device)
                student.train()
                dev_history.append({"step": step, **scores})
                bar.write(f"{name}: step {step}/{total} dev accuracy {scores['accuracy']:.4f} f1 {scores['f1']:.4f}")
                if best_acc is None or scores["accuracy"] > best_acc:
                    best_acc, best_state = scores["accuracy"], copy.deepcopy(student.state_dict())
            if step == total:
                break
    bar.close()
    if best_state is not None:
        student.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    k = max(1, len(losses) // 10)
    return StageResult(
        name=name,
        steps=step,
        seconds=seconds,
        examples_per_second=seen / seconds,
        loss_first=sum(losses[:k]) / k,
        loss_last=sum(losses[-k:]) / k,
        dev_history=dev_history,
        best_dev_accuracy=best_acc,
    )

"""The training loop: one stage of distillation (or plain fine-tuning), read top to bottom.

A stage is a set of weighted objectives trained for some epochs at one learning rate. TinyBERT's
task distillation is two stages (intermediate layers, then predictions); fine-tuning a teacher is
one stage whose only objective is the hard-label ``ce`` and which has no teacher at all.

Per step: the teacher's features (if any objective needs them) come from a live pass under
``inference_mode`` or from the teacher-output cache, holding only what the objectives ask for; the
student runs in training mode on its own token stream (the teacher's tokens, or the BiLSTM's word
ids for the same examples); the weighted sum of the objectives is back-propagated into the student
and the objectives' projections.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from distill.config import OptimizerConfig, TeacherCacheConfig
from distill.data.batching import Encoded, collate, train_batches
from distill.evaluate import evaluate
from distill.features import FeatureRequest, Features, enable_capture, forward_features
from distill.objectives import Objective
from distill.teacher_cache import LiveTeacher, cacheable, cached_teacher


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
    teacher_calls: int = 0  # teacher forward passes (live batches, plus cache building)
    teacher_cache: str = "off"  # off | hit | miss


def feature_requests(objectives: list[Objective], layer_map: list[int]) -> tuple[FeatureRequest, FeatureRequest]:
    """What to capture from the student and the teacher for these objectives."""
    needs = set().union(*(o.needs for o in objectives))
    student_layers = tuple(range(1, len(layer_map) + 1))
    teacher_layers = tuple(layer_map)
    # Q/K/V are big (3 x (batch, heads, seq, head_dim) per layer): capture only the last mapped
    # pair when every objective reading them uses only that one (MiniLM's relation, `layers: last`).
    qkv_last = all(o.last_layer_only for o in objectives if "qkv" in o.needs)
    qkv = slice(-1, None) if qkv_last else slice(None)
    student = FeatureRequest(
        embeddings="embeddings" in needs,
        hidden_layers=student_layers if "hidden" in needs else (),
        attn_layers=student_layers if "attn" in needs else (),
        qkv_layers=student_layers[qkv] if "qkv" in needs else (),
    )
    teacher = FeatureRequest(
        embeddings="embeddings" in needs,
        hidden_layers=teacher_layers if "hidden" in needs else (),
        attn_layers=teacher_layers if "attn" in needs else (),
        qkv_layers=teacher_layers[qkv] if "qkv" in needs else (),
    )
    return student, teacher


def total_loss(objectives: list[Objective], student: Features, teacher: Features | None, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """``Σ_k w_k L_k``, and each weighted term by objective name (for the progress bar)."""
    parts = {type(o).__name__: o.weight * o(student, teacher, labels) for o in objectives}
    return sum(parts.values()), parts


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
    teacher_cache: TeacherCacheConfig | None = None,
) -> StageResult:
    """Train ``student`` on ``objectives`` for ``epochs``; keep the best dev weights when ``dev``.

    ``train`` carries the teacher's tokens and, when the student has its own tokenizer, the
    student's (``train.student_view``); ``dev`` is evaluated in the student's stream.
    """
    want_s, want_t = feature_requests(objectives, layer_map)
    needs_teacher = teacher is not None and any(o.uses_teacher for o in objectives)
    if want_s.attn_layers or want_s.qkv_layers:
        enable_capture(student)
    teacher_features, cache_state, cache_calls = None, "off", 0
    if needs_teacher:
        if teacher_cache is not None and cacheable(want_t, teacher_cache.mode):
            teacher_features, cache_calls = cached_teacher(teacher, train, want_t, teacher_cache.dir, device)
            cache_state = "miss" if cache_calls else "hit"
        else:
            teacher_features = LiveTeacher(teacher, want_t)
    objectives = [o.to(device) for o in objectives]
    student.to(device).train()
    student_stream = train.for_student()

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
        for indices in train_batches(train, batch_size, rng):
            t_batch = {k: v.to(device) for k, v in collate(train, indices).items()}
            s_batch = t_batch if student_stream is train else {k: v.to(device) for k, v in collate(student_stream, indices).items()}
            t_feats = teacher_features(indices, t_batch) if teacher_features is not None else None
            s_feats = forward_features(student, s_batch, want_s)
            loss, parts = total_loss(objectives, s_feats, t_feats, s_batch["labels"])

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if optim.grad_clip > 0:
                nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], optim.grad_clip)
            optimizer.step()
            scheduler.step()

            step += 1
            seen += len(indices)
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", **{k: f"{v.item():.3f}" for k, v in parts.items()},
                            seq_s=f"{seen / (time.perf_counter() - start):.0f}")
            epoch_done = step % per_epoch == 0 or step == total
            if epoch_done and dev is not None:
                scores = evaluate(student, dev.for_student(), num_labels, eval_batch_size, device)
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
        teacher_calls=cache_calls + (teacher_features.calls if teacher_features is not None else 0),
        teacher_cache=cache_state,
    )

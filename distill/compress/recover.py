"""Recovery after pruning: a short distillation from the unpruned model with the project's objectives.

The objectives are the ones a student.yaml stage takes (``{kd_kl: {temperature: 2}, hidden: {}}``),
validated and built by :mod:`distill.objectives.spec`, and trained through :class:`Trainable` (the
student and the objectives' learned projections as one module, features captured on demand), with
the teacher run by :class:`LiveTeacher`, exactly as `distill run` computes a stage's loss.

The default, ``kd_kl`` at T = 2, is ``T² · KL(softmax(z_T/T) ‖ softmax(z_S/T))``, batch mean: the
loss the hand-written recovery loop used before this module, step for step. ``pred`` at the same T
is the soft cross-entropy ``KL + H(softmax(z_T/T))``, i.e. the default divided by T² plus the
teacher's entropy, which does not depend on the student.

Pruning keeps the depth, so student layer m learns from teacher layer m (the uniform layer map of
two equal depths). Head pruning narrows the residual width (hidden 384 -> 288 for 3 of 12 heads
cut), so ``hidden``/``emb`` then learn a ``W_h``/``W_e`` projection (student width -> teacher
width): trained here with the student, and dropped afterwards, never saved with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import BaseModel
from torch import Tensor, nn

from distill.core.errors import ConfigError
from distill.core.schema import load_yaml
from distill.models.features import enable_capture
from distill.models.layer_map import resolve_layer_map
from distill.objectives.spec import build_objectives, check_task, parse_objectives
from distill.train.distiller import feature_requests
from distill.train.teacher import dims
from distill.train.teacher_cache import LiveTeacher
from distill.train.trainable import Trainable

DEFAULT_OBJECTIVES: dict[str, dict[str, Any]] = {"kd_kl": {"temperature": 2.0}}
# The default of each task's model (distill.compress.scoring): a regression learns the unpruned
# model's score, a multi-label model its per-label probabilities at T = 2.
DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "classification": DEFAULT_OBJECTIVES,
    "regression": {"logit_mse": {}},
    "multi_label": {"soft_bce": {"temperature": 2.0}},
}
TASK_SOURCE = "the model's config.json"  # where a saved model's task is known


@dataclass
class Recovery:
    """What a recovery did; ``objectives`` holds every parameter, defaults filled in."""

    objectives: dict[str, dict[str, Any]]
    epochs: int
    lr: float
    steps: int
    loss_before: float  # mean weighted objective sum over the batches, student in eval mode
    loss_after: float


def _mean_loss(
    model: Trainable, teacher: LiveTeacher, batches: list[dict[str, Tensor]], shares: list[float]
) -> float:
    """Mean over ``batches`` of ``Σ_k w_k L_k``, student in eval mode (no dropout), no gradients."""
    model.eval()
    with torch.no_grad():
        total = sum(model(b, teacher([], b), shares)[0].item() for b in batches)
    return total / len(batches)


def _attn_implementations(*models: nn.Module) -> list[tuple[nn.Module, str | None]]:
    return [(m, getattr(getattr(m, "config", None), "_attn_implementation", None)) for m in models]


def recover(
    student: nn.Module,
    teacher: nn.Module,
    batches: list[dict[str, Tensor]],
    objectives: dict[str, Any] | None = None,
    epochs: int = 1,
    lr: float = 5e-5,
    seed: int = 0,
    source: str = "recover objectives",
    task: str = "classification",
) -> Recovery:
    """Distil ``teacher`` (the unpruned model) into ``student`` (pruned, same depth) in place.

    batches: dicts of ``input_ids``/``attention_mask`` ([batch, seq]) and, for ``ce``, ``labels``.
    objectives: objective name -> parameters as in a student.yaml stage (default: :data:`DEFAULTS`
    of ``task``, the model's: ``kd_kl`` at T = 2 for a classifier), each one that applies to the
    task; ``source`` names where they came from in error messages. AdamW at ``lr``, constant,
    every batch once per epoch in order; ``seed`` fixes the projections' initialisation and dropout
    (the global RNG is left as it was).
    """
    spec = parse_objectives(DEFAULTS[task] if objectives is None else objectives, source)
    check_task(spec, task, source, origin=TASK_SOURCE)
    if not batches:
        raise ConfigError(f"{source}: recovery needs at least one batch of training texts")
    if "ce" in spec and any(b.get("labels") is None for b in batches):
        raise ConfigError(f"{source}: ce: the hard-label objective needs labelled training texts")
    layer_map = resolve_layer_map(
        "uniform", student.config.num_hidden_layers, teacher.config.num_hidden_layers, source, "layers"
    )
    device = next(student.parameters()).device
    # The objectives read `labels` (None: unlabelled texts, fine for every objective but `ce`).
    batches = [{"labels": None, **{k: v.to(device) for k, v in b.items() if v is not None}} for b in batches]
    restore = _attn_implementations(student, teacher)  # capturing attention switches both to "kd"
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            steps, before, after = _train(student, teacher, batches, spec, layer_map, epochs, lr, source)
    finally:
        for m, impl in restore:
            if impl is not None and m.config._attn_implementation != impl:
                m.set_attn_implementation(impl)
        student.eval()
    return Recovery({k: v.model_dump() for k, v in spec.items()}, epochs, lr, steps, before, after)


def _train(
    student: nn.Module,
    teacher: nn.Module,
    batches: list[dict[str, Tensor]],
    spec: dict[str, BaseModel],
    layer_map: list[int],
    epochs: int,
    lr: float,
    source: str,
) -> tuple[int, float, float]:
    """The loop: (optimizer steps, loss before, loss after)."""
    device = batches[0]["input_ids"].device
    built = [o.to(device) for o in build_objectives(spec, dims(student.config), dims(teacher.config), source)]
    want_s, want_t = feature_requests(built, layer_map)
    model = Trainable(student, built, want_s)
    if want_s.attn_layers or want_s.qkv_layers:
        enable_capture(student)
    live = LiveTeacher(teacher, want_t)
    shares = [1.0] * len(built)  # one process: every objective weighs its whole batch
    before = _mean_loss(model, live, batches, shares)
    # The projections (W_h, W_e) are parameters of `model` too: trained with the student, then
    # dropped with `model` (the student saved afterwards never holds them).
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    steps = 0
    model.train()
    for _ in range(epochs):
        for b in batches:
            loss, _ = model(b, live([], b), shares)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    return steps, before, _mean_loss(model, live, batches, shares)


def objectives_spec(
    spec: str | Path | Mapping | None, recover_epochs: int, task: str = "classification"
) -> tuple[dict | None, str]:
    """``--recover-objectives``: YAML text, a YAML file or (from Python) a mapping, validated like a
    student.yaml stage's objectives; (None, ...) when not given (the default objectives). Also:
    where they came from, for the recovery's error messages."""

    if spec is None:
        return None, "recover objectives"
    if not recover_epochs:
        raise ConfigError(
            "--recover-objectives needs --recover-epochs N (N >= 1): without recovery it would do nothing"
        )
    where = "--recover-objectives"
    if isinstance(spec, Mapping):
        raw = dict(spec)
    elif isinstance(spec, str | Path) and Path(spec).is_file():
        raw, where = load_yaml(spec), str(spec)
    else:
        try:
            raw = yaml.safe_load(spec) if isinstance(spec, str) else spec
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
            raise ConfigError(f"{where}: no such file, and not valid YAML text: {problem}") from None
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{where}: {spec!r} is neither a YAML file nor a mapping of objective name -> "
                "parameters, e.g. '{kd_kl: {temperature: 2}, hidden: {weight: 1}}'"
            )
    check_task(parse_objectives(raw, where), task, where, origin=TASK_SOURCE)
    return raw, where

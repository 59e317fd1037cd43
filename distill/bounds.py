"""How many optimizer steps a schedule makes, and the bound on it.

``epochs: 1e40`` is a valid positive number, but a run that schedules 10^41 optimizer steps never
ends (its linear warm-up alone keeps the learning rate at zero for longer than anyone waits). No
real schedule comes near :data:`MAX_STEPS` (BERT-base pre-training is 10^6 steps), so a schedule
above it is refused before any training, with the estimate: the teacher's fine-tuning and each
student stage in ``distill run`` and ``distill validate`` (once the data are loaded, as the count
needs the train split's size), and ``distill general`` once it has counted its corpus.

The training loops count their steps with the same functions, so the estimate is what would run.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from distill.errors import ConfigError

if TYPE_CHECKING:
    from distill.data.dataset import DataSplits
    from distill.preflight import Plan

MAX_STEPS = 10**8


def steps_per_epoch(rows: int, batch_size: int, grad_accum_steps: int = 1) -> int:
    """Optimizer steps in one pass over ``rows`` examples: batches, grouped by gradient accumulation."""
    return math.ceil(math.ceil(rows / batch_size) / grad_accum_steps)


def total_steps(epochs: float, per_epoch: int) -> int:
    """The stage's optimizer steps (at least one; a fractional epoch stops part-way)."""
    return max(1, math.ceil(epochs * per_epoch))


def _count(n: float) -> str:
    return f"{n:,.0f}" if n < 1e15 else f"{n:.3g}"


def check_steps(epochs: float, per_epoch: int, where: str, how: str) -> None:
    """Refuse ``epochs`` when ``epochs x per_epoch`` is above :data:`MAX_STEPS`.

    ``where``: the file and key (``student.yaml: stages.0.epochs``) or the flag; ``how``: how
    ``per_epoch`` came about (``ceil(64 train rows / batch_size 8) / train.grad_accum_steps 1``).
    """
    steps = epochs * per_epoch  # a float: 1e308 epochs x 8 is inf, not an OverflowError
    if steps > MAX_STEPS:
        shown = _count(steps) if math.isfinite(steps) else "more than 1e308"
        raise ConfigError(
            f"{where}: {epochs:.10g} epochs would make {shown} optimizer steps ({epochs:.10g} x {per_epoch:,} per epoch = {how}), "
            f"more than the bound of {MAX_STEPS:,}; lower the epochs"
        )


def check_student_steps(plan: Plan, train_rows: int, rows: str = "train rows") -> None:
    """Each student stage of ``plan`` on ``train_rows`` examples (the augmented count, once known)."""
    cfg = plan.student_cfg
    accum = cfg.train.grad_accum_steps
    per_epoch = steps_per_epoch(train_rows, cfg.batch_size, accum)
    how = f"ceil({train_rows:,} {rows} / batch_size {cfg.batch_size}) / train.grad_accum_steps {accum}"
    for i, stage in enumerate(cfg.stages):
        check_steps(stage.epochs, per_epoch, f"{plan.student_source}: stages.{i}.epochs", how)


def check_schedules(plan: Plan, splits: DataSplits) -> None:
    """Everything ``distill run`` would train, bounded: the teacher's fine-tuning when it will be
    fine-tuned, and every student stage (on the original train split; an ``augment:`` run checks
    again on the augmented split, the moment its size is known)."""
    t_cfg, rows = plan.teacher_cfg, len(splits.train)
    if not plan.teacher_ready:
        ft = t_cfg.finetune
        how = f"ceil({rows:,} train rows / finetune.batch_size {ft.batch_size})"
        check_steps(ft.epochs, steps_per_epoch(rows, ft.batch_size), f"{plan.teacher_source}: finetune.epochs", how)
    check_student_steps(plan, rows)

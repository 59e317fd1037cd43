"""How many optimizer steps a schedule makes, and the bound on it.

``epochs: 1e40`` is a valid positive number, but a run that schedules 10^41 optimizer steps never
ends (its linear warm-up alone keeps the learning rate at zero for longer than anyone waits). No
real schedule comes near :data:`MAX_STEPS` (BERT-base pre-training is 10^6 steps), so a schedule
above it is refused before any training, with the estimate: the teacher's fine-tuning and each
student stage in ``distill run`` and ``distill validate`` (once the data are loaded, as the count
needs the train split's size), and ``distill general`` once it has counted its corpus.

The arithmetic (steps per epoch, the bound) is :mod:`distill.schedule`, which the training loop uses
too, so the estimate is what would run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distill.schedule import check_steps, steps_per_epoch

if TYPE_CHECKING:
    from distill.data.dataset import DataSplits
    from distill.preflight import Plan

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

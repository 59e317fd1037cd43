"""Everything a run can know before it loads a weight, checked in one place.

``distill run`` calls :func:`preflight` and then trains; ``distill validate`` calls the same
function and prints what it found, so validate refuses exactly what run would refuse before
training, with the same one line (one path, not two copies). Nothing here writes anything that
lasts: the output folder is created by the run only after every check passed.

The checks, in order:

1. :class:`Plan`: both configs, the teacher's config.json (sizes, ``max_length``, a classification
   head for ``finetune.mode: never``), the student's shape and layer map, a saved student given as
   ``init`` against that shape, every stage's objectives against both models' sizes, the devices,
   the augment config, no gold-label objective beside a transfer set;
2. the device and the precision (fp16 needs a GPU);
3. the data (:func:`load_splits` reads every row), then :func:`check_data`: what needs the splits
   (the teacher's labels against the data's, an augment config's columns and output size against
   the data, the optimizer-step bound of every schedule); student.yaml's transfer set, read and
   filtered (:mod:`distill.distillation.transfer`); the token lengths against ``max_length``;
4. the output folder: not a finished run (unless ``--fresh``), resumable as ``--resume``/auto
   would resume it (a checkpoint of other configs is refused), writable, room for the checkpoints;
5. every other location the run will write: the fine-tuned teacher's cache, the teacher-output
   cache, the augmented training split (:mod:`distill.distillation.locations`).

A new check that needs the splits goes into :func:`check_data` (one call); one that produces
figures to print (validate) and record (run) puts them in :attr:`Preflight.facts`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch

from distill.config import ConfigSource
from distill.core.errors import OutputError
from distill.core.metrics import METRIC_NAMES, PRIMARY, TASKS, shown
from distill.core.output_dir import check_free_space, check_writable
from distill.data.dataset import DataSplits, load_splits
from distill.distillation.augmented import check_augment, for_split
from distill.distillation.deploy import check_export
from distill.distillation.lengths import split_lengths
from distill.distillation.locations import Location, output_key, write_locations
from distill.distillation.plan import Plan, pick_device
from distill.distillation.sanity import step_budget
from distill.distillation.tasks import check_run_task
from distill.distillation.transfer import TransferSet, load_transfer
from distill.train.checkpoint import CheckpointManager, resume_key
from distill.train.schedule import check_steps, steps_per_epoch
from distill.train.stepper import check_precision
from distill.train.teacher import label_order
from distill.train.tracking import check_tracking

RUN_TASKS = TASKS  # what `distill run` trains: classification, regression, multi-label


# The schedule: ``epochs: 1e40`` is a valid positive number, but a run that schedules 10^41 optimizer
# steps never ends (its warm-up alone keeps the learning rate at zero). A schedule above
# distill.train.schedule.MAX_STEPS is refused with the estimate, counted by the loop's own arithmetic.


def check_student_steps(plan: Plan, train_rows: int, rows: str = "train rows") -> None:
    """Each student stage of ``plan`` on ``train_rows`` examples (the augmented count, once known)."""
    cfg = plan.student_cfg
    accum = cfg.train.grad_accum_steps
    per_epoch = steps_per_epoch(train_rows, cfg.batch_size, accum)
    how = f"ceil({train_rows:,} {rows} / batch_size {cfg.batch_size}) / train.grad_accum_steps {accum}"
    for i, stage in enumerate(cfg.stages):
        check_steps(stage.epochs, per_epoch, f"{plan.student_source}: stages.{i}.epochs", how)


def student_step_budget(plan: Plan, train_rows: int) -> str | None:
    """The step-budget warning (distillation/sanity.py) for ``plan``'s student on ``train_rows``."""
    why = plan.family.random_layers(plan.student_cfg.init, plan.shape, plan.teacher_hf)
    return step_budget(plan.student_cfg, why, train_rows, plan.student_source)


def check_schedules(plan: Plan, splits: DataSplits) -> None:
    """Everything ``distill run`` would train, bounded: the teacher's fine-tuning when it will be
    fine-tuned, and every student stage (on the original train split; an ``augment:`` run checks
    again on the augmented split, the moment its size is known)."""
    t_cfg, rows = plan.teacher_cfg, len(splits.train)
    if not plan.teacher_ready:
        ft = t_cfg.finetune
        how = f"ceil({rows:,} train rows / finetune.batch_size {ft.batch_size})"
        check_steps(
            ft.epochs, steps_per_epoch(rows, ft.batch_size), f"{plan.teacher_source}: finetune.epochs", how
        )
    check_student_steps(plan, rows)


def check_data(plan: Plan, splits: DataSplits) -> None:
    """The checks that need the data (but no weights). Add a new one here, as one call."""
    t_cfg = plan.teacher_cfg
    check_run_task(plan.student_cfg, splits, plan.student_source)  # objectives, keys for the data's task
    if plan.teacher_ready:  # a ready classifier's id2label is in its config.json
        label_order(plan.teacher_hf, t_cfg, splits.label_names, plan.teacher_source, splits.task)
    if plan.augment is not None:
        for_split(plan.augment[0], splits.train.pairs is not None, f"{plan.student_source}: augment")
    check_schedules(plan, splits)  # what the data size makes of the epochs: bounded before any training
    # The augmented split's size (rows, copies in memory, bytes against the free disk); its cache
    # folder's writability is one of the write locations checked below.
    check_augment(
        splits.train, splits.label_names, plan.student_cfg.augment, t_cfg.cache_dir, plan.student_source
    )


def check_not_finished(out: Path, resume: str) -> None:
    """Refuse to retrain over a finished run (metrics.json is written last) unless ``--fresh``."""
    metrics = out / "metrics.json"
    if resume == "fresh" or not metrics.is_file():
        return
    when = datetime.fromtimestamp(metrics.stat().st_mtime).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    try:
        m = json.loads(metrics.read_text())
        metric = PRIMARY[m.get("task", "classification")]
        score = f"dev {METRIC_NAMES[metric]} {shown(metric, m['student']['dev'][metric])}"
    except (OSError, ValueError, KeyError, TypeError):
        score = "dev accuracy unknown (metrics.json unreadable)"
    raise OutputError(
        f"the run in {out} finished on {when} with {score}; `--fresh` retrains, or choose another `--output-dir`"
    )


@dataclass
class Preflight:
    """What :func:`preflight` found: the plan, the data, the devices, the output folder."""

    plan: Plan
    splits: DataSplits
    device: torch.device
    out: Path
    out_key: str  # "--output-dir" or "<student.yaml>: output_dir": what names the folder in messages
    locations: list[Location]
    facts: dict = field(default_factory=dict)  # figures validate prints and run records (e.g. truncation)
    transfer: TransferSet | None = None  # student.yaml's `transfer:` texts, read and filtered


def run_key(plan: Plan, splits: DataSplits, processes: int, transfer: TransferSet | None) -> dict:
    """What a checkpoint must match to be resumed: the configs, the data (and transfer texts), the
    number of processes (each holds its own RNG streams)."""
    data = splits.fingerprint() if transfer is None else [splits.fingerprint(), transfer.fingerprint()]
    return resume_key({**plan.resolved(), "data": data, "processes": processes})


def check_resumable(
    plan: Plan, splits: DataSplits, out: Path, resume: str, processes: int, transfer: TransferSet | None
) -> None:
    """The output folder's checkpoints against these configs and data (see :mod:`distill.train.checkpoint`)."""
    key = run_key(plan, splits, processes, transfer)
    CheckpointManager(out / "checkpoints" / "resume", plan.student_cfg.checkpoint, key).check(
        resume, plan.student_source
    )


def preflight(
    teacher_yaml: ConfigSource,
    student_yaml: ConfigSource,
    output_dir: str | Path | None = None,
    resume: str = "auto",
    processes: int = 1,
) -> Preflight:
    """Check everything that needs no trained weights (see the module docstring); writes nothing.
    ``processes``: the number of data-parallel processes (a checkpoint resumes only on as many)."""
    plan = Plan(teacher_yaml, student_yaml)
    device = pick_device(plan.student_cfg.device)
    check_precision(plan.student_cfg.train, device, plan.student_source)
    check_tracking(plan.student_cfg.tracking, plan.student_source)
    if plan.student_cfg.export is not None:  # the INT8 graph must apply to the student's family
        export = plan.student_cfg.export
        check_export(export, plan.family.deployed_type(plan.teacher_hf), plan.student_source)
    splits = load_splits(plan.teacher_cfg.data, RUN_TASKS)  # reads every row: bad data fails here
    check_data(plan, splits)
    transfer = load_transfer(plan.student_cfg, plan.teacher_cfg.data, splits, plan.student_source)
    n_transfer = len(transfer) if transfer else 0
    rows = len(splits.train) + n_transfer  # what the student trains on
    if transfer:
        check_student_steps(plan, rows, "train rows + transfer texts")
    out, out_key = output_key(plan, output_dir)
    check_not_finished(out, resume)
    check_resumable(plan, splits, out, resume, processes, transfer)
    locations = write_locations(plan, splits, out, out_key, n_transfer)
    for loc in locations:
        check_writable(loc.path, loc.key, loc.hint)
        check_free_space(loc.path, loc.need, loc.key, loc.what, loc.space_hint or loc.hint)
    # Token lengths against max_length: validate prints them, run logs them (with the warning when a
    # split is cut too often, see data.lengths.report_lengths) and records them in metrics.json.
    facts = {"lengths": split_lengths(splits, plan.teacher_cfg, plan.teacher_source)}
    # an augmented split's size is known only once it is made: run checks it then
    facts["step_budget"] = None if plan.augment else student_step_budget(plan, rows)
    return Preflight(plan, splits, device, out, out_key, locations, facts, transfer)

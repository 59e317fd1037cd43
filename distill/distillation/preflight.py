"""Everything a run can know before it loads a weight, checked in one place.

``distill run`` calls :func:`preflight` and then trains; ``distill validate`` calls the same
function and prints what it found, so validate refuses exactly what run would refuse before
training, with the same one line (one path, not two copies). Nothing here writes anything that
lasts: the output folder is created by the run only after every check passed.

The checks, in order:

1. :class:`Plan`: both configs, the teacher's config.json (sizes, ``max_length``, a classification
   head for ``finetune.mode: never``), the student's shape and layer map, a saved student given as
   ``init`` against that shape, every stage's objectives against both models' sizes, the devices,
   the augment config;
2. the device and the precision (fp16 needs a GPU);
3. the data (:func:`load_splits` reads every row), then :func:`check_data`: what needs the splits
   (the teacher's labels against the data's, an augment config's columns and output size against
   the data, the optimizer-step bound of every schedule); the token lengths against ``max_length``;
4. the output folder: not a finished run (unless ``--fresh``), resumable as ``--resume``/auto
   would resume it (a checkpoint of other configs is refused), writable, room for the checkpoints;
5. every other location the run will write: the fine-tuned teacher's cache, the teacher-output
   cache, the augmented training split (:func:`write_locations`).

A new check that needs the splits goes into :func:`check_data` (one call); one that produces
figures to print (validate) and record (run) puts them in :attr:`Preflight.facts`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch

from distill.config import (
    ConfigSource,
    StudentConfig,
    TeacherConfig,
    load_student_config,
    load_teacher_config,
    source_name,
)
from distill.core.errors import ConfigError, OutputError
from distill.core.metrics import METRIC_NAMES, PRIMARY, TASKS, shown
from distill.core.output_dir import OUTPUT_HINT, check_free_space, check_writable, run_bytes
from distill.data.dataset import DataSplits, load_splits
from distill.distillation.augmented import check_augment, for_split, load_augment_config
from distill.distillation.deploy import check_export
from distill.distillation.lengths import split_lengths
from distill.distillation.own_tokenizer import check_own_tokenizer
from distill.distillation.sanity import step_budget
from distill.distillation.structures import check_structures
from distill.distillation.tasks import check_run_task
from distill.models.adapters import adapter_for
from distill.models.layer_map import resolve_layer_map
from distill.objectives import ModelDims, Objective
from distill.objectives import spec as objective_spec
from distill.train.checkpoint import CheckpointManager, resume_key
from distill.train.distiller import feature_requests
from distill.train.schedule import check_steps, steps_per_epoch
from distill.train.stepper import check_precision
from distill.train.teacher import dims, finetuned_path, inspect_teacher, is_ready, label_order
from distill.train.teacher_cache import cacheable
from distill.train.tracking import check_tracking
from students.family import StudentShape, transformer_bytes
from students.pruned_init import refusal

RUN_TASKS = TASKS  # what `distill run` trains: classification, regression, multi-label


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for, but no CUDA GPU is available")
    return torch.device(
        "cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name)
    )


def build_objectives(
    cfg: StudentConfig, stage: int, s_dims: ModelDims, t_dims: ModelDims, source: str
) -> list[Objective]:
    """The stage's objective modules; a shape conflict is a ConfigError naming the key."""
    return objective_spec.build_objectives(
        cfg.stages[stage].objectives, s_dims, t_dims, source, ("stages", stage, "objectives")
    )


class Plan:
    """Both configs resolved against the teacher's sizes, before any weights are loaded."""

    def __init__(self, teacher_yaml: ConfigSource, student_yaml: ConfigSource) -> None:
        self.teacher_source = source_name(teacher_yaml, "teacher")
        self.student_source = source_name(student_yaml, "student")
        self.teacher_cfg: TeacherConfig = load_teacher_config(teacher_yaml)
        self.student_cfg: StudentConfig = load_student_config(student_yaml)
        self.teacher_hf = inspect_teacher(self.teacher_cfg, self.teacher_source)
        self.teacher_ready = is_ready(self.teacher_cfg, self.teacher_hf, self.teacher_source)
        t = dims(self.teacher_hf)
        arch = self.student_cfg.architecture
        self.family = arch.student_family
        self.shape: StudentShape = arch.shape(
            t.hidden_size,
            t.num_heads,
            t.num_layers,
            adapter_for(self.teacher_hf.model_type).ffn_size(self.teacher_hf),
        )
        self.layer_map: list[int] = []  # a student without Transformer layers has none to map
        self.init_layers: list[int] | None = None
        if self.family.is_transformer:
            if self.shape.hidden_size % self.shape.num_heads:
                raise ConfigError(
                    f"{self.student_source}: architecture: hidden_size {self.shape.hidden_size} is not a multiple "
                    f"of num_heads {self.shape.num_heads}"
                )
            self.layer_map = resolve_layer_map(
                self.student_cfg.layer_map, self.shape.num_layers, t.num_layers, self.student_source
            )
        if arch.init_layers is not None:
            self.init_layers = resolve_layer_map(
                arch.init_layers,
                self.shape.num_layers,
                t.num_layers,
                self.student_source,
                "architecture.init_layers",
            )
        arch_cfg, shape, t_hf = arch, self.shape, self.teacher_hf
        build = (lambda: self.family.build_encoder(arch_cfg, shape, t_hf)) if self.family.general else None
        check_structures(self.teacher_hf, self.layer_map, build, self.teacher_source, self.student_source)
        self.student_dims = self.shape.dims()
        self.teacher_dims = t
        self.objectives = [  # fail on shape conflicts now, not mid-run
            build_objectives(self.student_cfg, i, self.student_dims, t, self.student_source)
            for i in range(len(self.student_cfg.stages))
        ]
        for source, cfg in ((self.teacher_source, self.teacher_cfg), (self.student_source, self.student_cfg)):
            if cfg.device == "cuda" and not torch.cuda.is_available():
                raise ConfigError(f"{source}: device: cuda was asked for, but no CUDA GPU is available")
        self.augment = (
            load_augment_config(self.student_cfg.augment, self.student_source)
            if self.student_cfg.augment
            else None
        )
        check_init(self)
        self.student_tokenizer = check_own_tokenizer(self)  # student.yaml `tokenizer:`, else None

    def resolved(self) -> dict:
        student = self.student_cfg.model_dump()
        for stage in student["stages"]:
            stage["objectives"] = {k: dict(v) for k, v in stage["objectives"].items()}
        student["architecture"]["resolved"] = self.shape.as_dict()
        student["layer_map_resolved"] = self.layer_map
        return {"teacher": self.teacher_cfg.model_dump(), "student": student}

    def teacher_outputs_dir(self) -> Path:
        """Where the teacher-output cache goes: ``teacher_cache.dir``, else ``<cache_dir>/outputs``."""
        return Path(self.student_cfg.teacher_cache.dir or Path(self.teacher_cfg.cache_dir) / "outputs")

    def uses_teacher_cache(self) -> bool:
        """Whether some stage reads the teacher's outputs from the disk cache (see distiller.fit_stage)."""
        mode = self.student_cfg.teacher_cache.mode
        for objectives in self.objectives:
            _, want_t = feature_requests(objectives, self.layer_map)
            if any(o.uses_teacher for o in objectives) and cacheable(want_t, mode):
                return True
        return False


def check_init(plan: Plan) -> None:
    """A saved student given as ``init`` (``general:<folder>`` or ``<folder>``) must fit the student's
    shape (its family says how: a Transformer's config.json, a BiLSTM's vocabulary); the run would
    refuse it only after the teacher is ready."""
    init = plan.student_cfg.init
    if init == "pruned":
        check_pruned_init(plan)
    elif init not in ("random", "teacher", "pca", "glove"):
        plan.family.check_init(
            init.removeprefix("general:"), plan.shape, plan.teacher_hf, plan.student_source
        )


def check_pruned_init(plan: Plan) -> None:
    """``init: pruned`` cuts the student out of the teacher (students/pruned_init.py): refused now,
    with the reason, where it cannot."""
    s = plan.shape
    why = refusal(plan.teacher_hf, s.hidden_size, s.num_heads, s.intermediate_size, s.num_layers)
    if why:
        raise ConfigError(f"{plan.student_source}: init: pruned: {why}")


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


def student_bytes(plan: Plan, labels: int) -> int:
    """The student's size, estimated from its configured shape before it is built."""
    return plan.family.weight_bytes(plan.student_cfg.architecture, plan.shape, plan.teacher_hf, labels)


def teacher_bytes(plan: Plan, labels: int) -> int:
    hf = plan.teacher_hf
    ffn = adapter_for(hf.model_type).ffn_size(hf)
    return transformer_bytes(
        getattr(hf, "vocab_size", 30522),
        getattr(hf, "max_position_embeddings", 512),
        hf.hidden_size,
        hf.num_hidden_layers,
        ffn,
        labels,
    )


@dataclass
class Location:
    """A folder the run writes: where, under which key, how many bytes, what and what to do if not."""

    path: Path
    key: str
    need: int
    what: str
    hint: str  # when it cannot be written
    space_hint: str = ""  # when it is too full (default: ``hint``)


def output_key(plan: Plan, output_dir: str | Path | None) -> tuple[Path, str]:
    """The output folder and the key that chose it (``--output-dir`` or student.yaml's ``output_dir``)."""
    if output_dir:
        return Path(output_dir), "--output-dir"
    s_cfg = plan.student_cfg
    return Path(s_cfg.output_dir or Path("outputs") / s_cfg.name), f"{plan.student_source}: output_dir"


def write_locations(plan: Plan, splits: DataSplits, out: Path, out_key: str) -> list[Location]:
    """Every folder the run will write, with a rough size of what goes there."""
    s_cfg, t_cfg = plan.student_cfg, plan.teacher_cfg
    labels = len(splits.label_names)
    best = any(st.eval for st in s_cfg.stages)
    locations = [
        Location(
            out,
            out_key,
            run_bytes(student_bytes(plan, labels), s_cfg.checkpoint.keep_last, len(s_cfg.stages), best),
            "student, stage checkpoints, checkpoint.keep_last resume checkpoints",
            OUTPUT_HINT,
            "free disk space, lower checkpoint.keep_last or choose another folder (output_dir or --output-dir)",
        )
    ]
    cache_key = f"{plan.teacher_source}: cache_dir"
    if not plan.teacher_ready and not (finetuned_path(t_cfg, splits) / "config.json").is_file():
        locations.append(
            Location(
                Path(t_cfg.cache_dir),
                cache_key,
                teacher_bytes(plan, labels),
                "the fine-tuned teacher",
                "free disk space or choose another cache_dir",
            )
        )
    if plan.uses_teacher_cache():
        key = f"{plan.student_source}: teacher_cache.dir"
        rows = len(splits.train) * (1 + plan.augment[0].n_iter if plan.augment is not None else 1)
        locations.append(
            Location(
                plan.teacher_outputs_dir(),
                key,
                rows * labels * 4,
                "the teacher's logits on the training split",
                "set teacher_cache.dir to another folder, or teacher_cache.mode: off",
            )
        )
    if plan.augment is not None:
        locations.append(
            Location(
                Path(t_cfg.cache_dir) / "augmented",
                cache_key,
                0,
                "the augmented training split",
                "choose another cache_dir (the augmented split is cached there)",
            )
        )
    return locations


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


def check_resumable(plan: Plan, splits: DataSplits, out: Path, resume: str, processes: int) -> None:
    """The output folder's checkpoints against these configs and data (see :mod:`distill.train.checkpoint`)."""
    key = resume_key({**plan.resolved(), "data": splits.fingerprint(), "processes": processes})
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
    out, out_key = output_key(plan, output_dir)
    check_not_finished(out, resume)
    check_resumable(plan, splits, out, resume, processes)
    locations = write_locations(plan, splits, out, out_key)
    for loc in locations:
        check_writable(loc.path, loc.key, loc.hint)
        check_free_space(loc.path, loc.need, loc.key, loc.what, loc.space_hint or loc.hint)
    # Token lengths against max_length: validate prints them, run logs them (with the warning when a
    # split is cut too often, see data.lengths.report_lengths) and records them in metrics.json.
    facts = {"lengths": split_lengths(splits, plan.teacher_cfg, plan.teacher_source)}
    # an augmented split's size is known only once it is made: run checks it then
    facts["step_budget"] = None if plan.augment else student_step_budget(plan, len(splits.train))
    return Preflight(plan, splits, device, out, out_key, locations, facts)

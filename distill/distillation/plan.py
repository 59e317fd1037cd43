"""The plan of a ``distill run``: both configs resolved against the teacher's config.json, before any
data or weight is read (the first of the pre-flight's checks, :mod:`distill.distillation.preflight`).

:class:`Plan` holds the student's shape and layer map, every stage's objectives built for both
models' sizes (a shape conflict fails here), the augment config, the student's own tokenizer, and
refuses a saved ``init`` of another shape, a ``pruned`` init the teacher cannot give, and a
gold-label objective beside a transfer set.
"""

from __future__ import annotations

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
from distill.core.errors import ConfigError
from distill.distillation.augmented import load_augment_config
from distill.distillation.own_tokenizer import check_own_tokenizer
from distill.distillation.structures import check_structures
from distill.distillation.transfer import check_objectives as check_transfer_objectives
from distill.models.adapters import adapter_for
from distill.models.layer_map import resolve_layer_map
from distill.objectives import ModelDims, Objective
from distill.objectives import spec as objective_spec
from distill.train.distiller import feature_requests
from distill.train.teacher import dims, inspect_teacher, is_ready
from distill.train.teacher_cache import cacheable
from students.family import StudentShape
from students.pruned_init import refusal


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
        if self.student_cfg.transfer:  # its texts have no gold labels
            check_transfer_objectives(self.student_cfg, self.student_source)
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

"""Typed configs for ``teacher.yaml`` and ``student.yaml``, validated on load.

A bad config fails here, before any model loads, with one line naming the file, the key path, the
bad value and what is allowed (see :mod:`distill.core.schema`). Objective parameters are validated
against the objective's own ``Params`` model from the registry, so each objective documents and
checks its own keys.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

import students
from distill.core.errors import ConfigError
from distill.core.schema import (
    NonEmptyStr,
    NonNegFloat,
    NonNegInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Seed,
    did_you_mean,
    load_yaml,
    validate,
)
from distill.data.config import DataConfig, SplitConfig  # noqa: F401  (the data: block; SplitConfig re-exported)
from students.family import DEFAULT_FAMILY, STUDENTS, ArchitectureBase, family_names

# The word values of `init` (anything else is a saved student folder, `general:<folder>` or `<folder>`).
_WORD_INITS = ("random", "teacher", "pruned", "pca", "glove")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# teacher.yaml


class FinetuneConfig(_Strict):
    """How a bare encoder is fine-tuned into a teacher (used only when it is not one yet)."""

    mode: Literal["auto", "always", "never"] = "auto"
    epochs: PositiveFloat = 1.0
    batch_size: PositiveInt = 32
    lr: PositiveFloat = 5e-5
    weight_decay: NonNegFloat = 0.01
    warmup_ratio: Probability = 0.1
    seed: Seed = 0


class TeacherConfig(_Strict):
    name: NonEmptyStr
    model: NonEmptyStr = Field(description="hub id, local folder, or `packaged:all-MiniLM-L6-v2`")
    data: DataConfig
    max_length: PositiveInt = 128
    label_map: dict[str, str] | None = Field(
        None, description="model label name -> data label name, when the model's id2label differs"
    )
    finetune: FinetuneConfig = FinetuneConfig()
    cache_dir: str = "outputs/teachers"
    device: Literal["auto", "cpu", "cuda"] = "auto"


# ---------------------------------------------------------------------------------------------
# student.yaml

# The families' schemas: each family module registers its own (see students.family).
PRESETS = students.tinybert.PRESETS
BiLSTMConfig = students.bilstm.BiLSTMConfig


def _family_tag(value: Any) -> str:
    """Which family's schema reads this block: its ``family``, the default one when absent; an unknown
    name goes to the default's schema, whose ``family`` check names the allowed ones."""
    family = (
        value.get("family", DEFAULT_FAMILY)
        if isinstance(value, dict)
        else getattr(value, "family", DEFAULT_FAMILY)
    )
    return family if isinstance(family, str) and family in STUDENTS else DEFAULT_FAMILY


# `architecture:`, one schema per registered family, chosen by `family` (errors name the keys
# without the family: distill.core.schema drops the union's tag from their path).
ArchitectureSchema = Annotated[
    Union[tuple(Annotated[STUDENTS.get(n).schema, Tag(n)] for n in family_names())],  # noqa: UP007  (a Union of a run-time tuple)
    Discriminator(_family_tag),
]


def ArchitectureConfig(**keys: Any) -> ArchitectureBase:
    """The validated ``architecture:`` block of these keys, as its family's schema."""
    return TypeAdapter(ArchitectureSchema).validate_python(keys)


class StageConfig(_Strict):
    """One distillation stage: its own objectives, epochs and learning rate (TinyBERT stages)."""

    name: NonEmptyStr
    epochs: PositiveFloat = 1.0
    lr: PositiveFloat = 5e-5
    # name -> parameters; after loading, each value is that objective's validated `Params` model.
    objectives: dict[str, Any] = Field(description="objective name -> its parameters")
    eval: bool = Field(True, description="evaluate on dev after each epoch and keep the best weights")


class OptimizerConfig(_Strict):
    weight_decay: NonNegFloat = 0.01
    warmup_ratio: Probability = 0.1
    schedule: Literal["linear", "constant"] = "linear"
    grad_clip: NonNegFloat = 1.0


class TrainConfig(_Strict):
    """How each optimizer step is computed: precision and gradient accumulation.

    ``batch_size`` is the micro-batch one forward pass sees; an optimizer step averages the
    gradients of ``grad_accum_steps`` micro-batches (effective batch = batch_size x grad_accum_steps).
    ``precision`` runs the student's forward pass and losses under autocast (fp16 adds a gradient
    scaler; CUDA only, as fp16 autocast does not help on a CPU); ``teacher_precision`` casts the
    frozen teacher for its inference passes.
    """

    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    teacher_precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    grad_accum_steps: PositiveInt = 1


class CheckpointConfig(_Strict):
    """Resume checkpoints: the whole training state every ``every_steps`` optimizer steps and at
    each stage end, the newest ``keep_last`` kept (see docs/resume.md, "Resuming and crashes")."""

    every_steps: NonNegInt = Field(100, description="0: only at stage ends")
    keep_last: PositiveInt = 2


class TrackingConfig(_Strict):
    """What the run records as it goes (distill/train/tracking.py): per-step losses by objective, the
    learning rate, dev scores and the summary."""

    jsonl: bool = Field(True, description="metrics.jsonl beside run.log")
    tensorboard: bool = Field(
        False, description="TensorBoard event files in <output>/tensorboard (needs the tensorboard package)"
    )
    every_steps: PositiveInt = Field(1, description="record every N-th optimizer step's losses")


class SpeedConfig(_Strict):
    """How the end-of-run CPU speed figures are measured (warm-up runs are not timed)."""

    latency_runs: PositiveInt = 100
    latency_warmup: PositiveInt = 10
    throughput_batches: PositiveInt = 10
    throughput_batch_size: PositiveInt = 32


class ExportConfig(_Strict):
    """``export:``: after the run, the student as a verified INT8 ONNX graph in ``<output>/onnx/`` and,
    with ``teacher``, the teacher's in ``<output>/teacher-onnx/``, each scored on dev and test and timed
    like the FP32 models (the summary's four rows). See distill/distillation/deploy.py."""

    int8: NonEmptyStr = Field(
        "dynamic",
        description="the INT8 graph, as `distill export --int8`: dynamic, fused, u8u8, cls, static "
        "(the teacher takes the same where it applies to its family, else dynamic)",
    )
    teacher: bool = Field(True, description="also export, verify and time the teacher's INT8 graph")
    min_agreement: Probability = Field(
        0.99, description="FP32 graphs: share of predictions equal to the model's"
    )
    min_agreement_int8: Probability = Field(
        0.97, description="INT8 graphs: share of predictions equal to the model's"
    )
    verify_examples: PositiveInt = Field(1000, description="dev examples the graphs are verified on")
    calibration_examples: PositiveInt = Field(
        256, description="training examples `int8: static` calibrates on"
    )


class TeacherCacheConfig(_Strict):
    """Teacher outputs computed once per (teacher, tokenized data, request) and reused from disk.

    ``logits``: cache the teacher's logits (a stage that needs only logits never runs the teacher);
    ``all``: also the mapped embeddings/hidden states/scores, in fp16 (large: ~2 bytes x tokens x
    width x layers); ``off``: run the teacher on every batch.
    """

    mode: Literal["off", "logits", "all"] = "logits"
    dir: str | None = Field(None, description="default: <teacher.yaml cache_dir>/outputs")


class StudentConfig(_Strict):
    name: NonEmptyStr
    architecture: ArchitectureSchema
    init: str = Field(
        "teacher",
        description="teacher | random | pruned | pca (tinybert) | glove (bilstm) | general:<path> | <path of a saved student>",
    )
    layer_map: Literal["uniform", "last", "importance"] | list[int] = Field(
        "uniform",
        description="teacher layer of each student layer: uniform (TinyBERT's m*N/M) | last | importance "
        "(the M layers of highest Block Importance over 256 training texts, chosen when the teacher runs) "
        "| [explicit, 1-based, increasing]",
    )
    tokenizer: str | None = Field(
        None,
        description="the student's own tokenizer (a folder or hub id; family: tinybert): each model reads its "
        "own tokens of the same text, so only prediction-level objectives apply; default: the teacher's",
    )
    stages: list[StageConfig] = Field(min_length=1)
    optimizer: OptimizerConfig = OptimizerConfig()
    train: TrainConfig = TrainConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    batch_size: PositiveInt = 32
    eval_batch_size: PositiveInt = 64
    seed: Seed = 0
    output_dir: str | None = Field(None, description="default: outputs/<name>")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    speed: SpeedConfig = SpeedConfig()
    teacher_cache: TeacherCacheConfig = TeacherCacheConfig()
    tracking: TrackingConfig = TrackingConfig()
    export: ExportConfig | None = Field(
        None,
        description="INT8 ONNX graphs of the student (and teacher), verified and timed; none when absent",
    )
    augment: str | None = Field(
        None,
        description="an augment.yaml: distill on the training split augmented by it (teacher fine-tuned on the original)",
    )
    transfer: str | None = Field(
        None,
        description="unlabeled texts (.txt, one per line; or .csv/.tsv/.jsonl with the data's text column) the "
        "student also learns from, the teacher's outputs their only targets (a transfer set; "
        "distill/distillation/transfer.py): no stage may use a gold-label objective",
    )
    fail_below: Literal["majority"] | float | None = Field(
        None,
        description="majority | a fraction (0, 1] of the teacher's dev accuracy: a final student below it is an "
        "error (exit code 3; the student and metrics.json are still written)",
    )

    @field_validator("fail_below", mode="before")
    @classmethod
    def _fail_below_bar(cls, value: Any) -> Any:
        expected = "expected majority or a fraction of the teacher's dev accuracy in (0, 1], e.g. 0.9"
        if value is None or value == "majority":
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # YAML 1.1 reads `9e-1` as a string
                value = float(value)
        if isinstance(value, str):
            hint = "did you mean 'majority'? " if did_you_mean(value, ["majority"]) else ""
            raise ValueError(f"{hint}{expected}, got {json.dumps(value)}")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 < value <= 1
        ):
            raise ValueError(f"{expected}, got {json.dumps(value, default=str)}")
        return float(value)

    @model_validator(mode="after")
    def _check_init(self) -> StudentConfig:
        if self.init.startswith("general:") and not self.init.removeprefix("general:"):
            raise ValueError("init: `general:` needs a path, e.g. general:outputs/general-tinybert4")
        if self.init in _WORD_INITS and self.init not in self.architecture.student_family.inits:
            takers = [n for n in family_names() if self.init in STUDENTS.get(n).inits]
            raise ValueError(
                f"init: {self.init} is for family: {', '.join(takers)}; expected random, teacher, general:<folder> or <folder>"
            )
        return self

    @field_validator("init")
    @classmethod
    def _saved_folder_exists(cls, init: str) -> str:
        # A missing folder would otherwise surface only after the teacher is fine-tuned (minutes in).
        path = init.removeprefix("general:")
        if init not in _WORD_INITS and path and not (Path(path) / "config.json").is_file():
            raise ValueError(
                f"{path!r} is not a saved student folder (no config.json); "
                "expected random, teacher, pruned or pca (tinybert), glove (bilstm), general:<folder> or <folder>"
            )
        return init


def _check_objectives(cfg: StudentConfig, source: str) -> None:
    """Validate each stage's objectives against the registry: known names, typed parameters."""
    from distill.objectives import OBJECTIVES
    from distill.objectives.spec import parse_objectives

    for i, stage in enumerate(cfg.stages):
        if not stage.objectives:
            raise ConfigError(f"{source}: stages.{i}.objectives: a stage needs at least one objective")
        stage.objectives = parse_objectives(stage.objectives, source, ("stages", i, "objectives"))
        for name in stage.objectives:
            loc = ("stages", i, "objectives", name)
            features = cfg.architecture.student_family.features
            missing = OBJECTIVES.get(name).needs - {"labels"} - features
            if missing:
                raise ConfigError(
                    f"{source}: {'.'.join(map(str, loc))}: a {cfg.architecture.family} student exposes only "
                    f"{', '.join(sorted(features))}, but {name} needs {', '.join(sorted(missing))}; "
                    "use logits objectives (kd_kl, logit_mse, pred, ce)"
                )


# What a config may be given as: a YAML path, the mapping it would hold, or the validated object
ConfigSource = str | Path | Mapping[str, Any] | BaseModel


def source_name(config: ConfigSource, role: str) -> str:
    """How messages name ``config``: its path, else ``teacher (dict)``, ``student (StudentConfig)``."""
    if isinstance(config, str | Path):
        return str(config)
    return f"{role} ({'dict' if isinstance(config, Mapping) else type(config).__name__})"


def _mapping(config: ConfigSource, model: type[BaseModel], role: str) -> dict[str, Any]:
    if isinstance(config, str | Path):
        return load_yaml(config)
    if isinstance(config, model):  # validated again from its fields: a copy, checked the same way
        return config.model_dump(exclude_unset=True)
    if isinstance(config, Mapping):
        return dict(config)
    raise ConfigError(
        f"{role}: expected a YAML path, a dict or a {model.__name__}, got {type(config).__name__}"
    )


def load_teacher_config(config: ConfigSource) -> TeacherConfig:
    """Read and validate a teacher.yaml (or the dict / TeacherConfig it would hold)."""
    return validate(TeacherConfig, _mapping(config, TeacherConfig, "teacher"), source_name(config, "teacher"))


def load_student_config(config: ConfigSource) -> StudentConfig:
    """Read and validate a student.yaml (or the dict / StudentConfig it would hold), objective
    parameters included."""
    source = source_name(config, "student")
    data = _mapping(config, StudentConfig, "student")
    for stage in data.get("stages") or []:  # parsed objectives back to plain values
        if isinstance(stage, dict) and isinstance(stage.get("objectives"), dict):
            stage["objectives"] = {
                k: v.model_dump(exclude_unset=True) if isinstance(v, BaseModel) else v
                for k, v in stage["objectives"].items()
            }
    cfg = validate(StudentConfig, data, source)
    _check_objectives(cfg, source)
    return cfg

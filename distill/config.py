"""Typed configs for ``teacher.yaml`` and ``student.yaml``, validated on load.

A bad config fails here, before any model loads, with one line naming the file, the key path, the
bad value and what is allowed (see :mod:`distill.schema`). Objective parameters are validated
against the objective's own ``Params`` model from the registry, so each objective documents and
checks its own keys.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from distill.data.config import DataConfig, SplitConfig  # noqa: F401  (the data: block; SplitConfig re-exported)
from distill.errors import ConfigError
from distill.schema import (
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

PRESETS: dict[str, dict[str, int]] = {
    # Jiao et al. 2020, TinyBERT: 4 layers x 312 and 6 layers x 768.
    "tinybert4": {"num_layers": 4, "hidden_size": 312, "num_heads": 12, "intermediate_size": 1200},
    "tinybert6": {"num_layers": 6, "hidden_size": 768, "num_heads": 12, "intermediate_size": 3072},
}


class BiLSTMConfig(_Strict):
    """The BiLSTM student (Tang et al. 2019): GloVe embeddings -> 1-layer BiLSTM -> max-pool -> ReLU MLP."""

    hidden: PositiveInt = Field(300, description="LSTM units per direction")
    mlp: PositiveInt = Field(400, description="units of the ReLU layer before the logits")
    dropout: Probability = 0.1
    vectors: str | None = Field(None, description="word2vec/GloVe file; default: the packaged GloVe 6B 50-d")
    max_vocab: PositiveInt = Field(50_000, description="most frequent training words kept; others map to [UNK]")
    min_freq: PositiveInt = 1
    freeze_embeddings: bool = False

    @field_validator("vectors")
    @classmethod
    def _vectors_exist(cls, vectors: str | None) -> str | None:
        if vectors is not None and not Path(vectors).expanduser().is_file():
            raise ValueError("no such vectors file")
        return vectors


# What each student family exposes in `Features` (checked against the objectives' `needs`).
FEATURES_OF: dict[str, frozenset[str]] = {
    "tinybert": frozenset({"logits", "embeddings", "hidden", "attn", "qkv"}),
    "distilbert": frozenset({"logits", "embeddings", "hidden", "attn", "qkv"}),
    "bilstm": frozenset({"logits"}),
}


class ArchitectureConfig(_Strict):
    """The student's shape: a family, then a preset or explicit sizes (which override the preset's).

    - ``tinybert``: any BERT shape; ``preset`` or ``num_layers`` required.
    - ``distilbert``: the teacher's own architecture with ``num_layers`` (default: half the teacher's)
      layers, initialised from the teacher layers ``init_layers`` (default: the layer map).
    - ``bilstm``: word-level BiLSTM with its own tokenizer; sized by the ``bilstm`` block.
    """

    family: Literal["tinybert", "distilbert", "bilstm"] = "tinybert"
    preset: Literal["tinybert4", "tinybert6"] | None = None
    num_layers: PositiveInt | None = None
    hidden_size: PositiveInt | None = Field(None, description="default: the teacher's")
    num_heads: PositiveInt | None = Field(None, description="default: the teacher's")
    intermediate_size: PositiveInt | None = Field(None, description="default: 4 x hidden_size")
    init_layers: list[PositiveInt] | None = Field(None, description="distilbert: teacher layers to copy; default: the layer map")
    dropout: Probability | None = Field(None, description="tinybert: hidden and attention dropout; default: BERT's 0.1")
    bilstm: BiLSTMConfig | None = None

    @model_validator(mode="after")
    def _shape_given(self) -> ArchitectureConfig:
        if self.family == "tinybert" and self.preset is None and self.num_layers is None:
            raise ValueError("set `preset` (tinybert4, tinybert6) or `num_layers`")
        given = [k for k in ("preset", "hidden_size", "num_heads", "intermediate_size") if getattr(self, k) is not None]
        if self.family == "distilbert" and given:
            raise ValueError(f"family distilbert keeps the teacher's width, heads and FFN; remove {', '.join(given)}")
        if self.family == "bilstm" and (given or self.num_layers or self.init_layers):
            raise ValueError("family bilstm is sized by the `bilstm:` block (hidden, mlp), not by Transformer sizes")
        if self.family != "bilstm" and self.bilstm is not None:
            raise ValueError(f"the `bilstm:` block needs family: bilstm, got family {self.family}")
        if self.family != "distilbert" and self.init_layers is not None:
            raise ValueError("`init_layers` is for family: distilbert")
        if self.family != "tinybert" and self.dropout is not None:
            raise ValueError("`dropout` is for family: tinybert (distilbert keeps the teacher's, bilstm has `bilstm.dropout`)")
        if self.family == "bilstm" and self.bilstm is None:
            self.bilstm = BiLSTMConfig()
        return self

    def resolved(
        self, teacher_hidden: int, teacher_heads: int, teacher_layers: int = 0, teacher_ffn: int | None = None
    ) -> dict[str, int]:
        """Concrete sizes: explicit keys, then the preset, then the teacher's width, heads (and, for
        distilbert, half its layers). A BiLSTM reports its pooled width as ``hidden_size``."""
        if self.family == "bilstm":
            return {"num_layers": 0, "hidden_size": 2 * self.bilstm.hidden, "num_heads": 0, "intermediate_size": self.bilstm.mlp}
        sizes = dict(PRESETS[self.preset]) if self.preset else {}
        if self.family == "distilbert":
            sizes["num_layers"] = max(1, teacher_layers // 2)
            sizes["intermediate_size"] = teacher_ffn or 4 * teacher_hidden
        for key in ("num_layers", "hidden_size", "num_heads", "intermediate_size"):
            if getattr(self, key) is not None:
                sizes[key] = getattr(self, key)
        sizes.setdefault("hidden_size", teacher_hidden)
        sizes.setdefault("num_heads", teacher_heads)
        sizes.setdefault("intermediate_size", 4 * sizes["hidden_size"])
        return sizes


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
    each stage end, the newest ``keep_last`` kept (see README, "Resuming and crashes")."""

    every_steps: NonNegInt = Field(100, description="0: only at stage ends")
    keep_last: PositiveInt = 2


class SpeedConfig(_Strict):
    """How the end-of-run CPU speed figures are measured (warm-up runs are not timed)."""

    latency_runs: PositiveInt = 100
    latency_warmup: PositiveInt = 10
    throughput_batches: PositiveInt = 10
    throughput_batch_size: PositiveInt = 32


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
    architecture: ArchitectureConfig
    init: str = Field("teacher", description="random | teacher | general:<path> | <path of a saved student>")
    layer_map: Literal["uniform", "last"] | list[int] = "uniform"
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
    augment: str | None = Field(
        None, description="an augment.yaml: distill on the training split augmented by it (teacher fine-tuned on the original)"
    )
    fail_below: Literal["majority"] | float | None = Field(
        None, description="majority | a fraction (0, 1] of the teacher's dev accuracy: a final student below it is an "
        "error (exit code 3; the student and metrics.json are still written)"
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
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not 0 < value <= 1:
            raise ValueError(f"{expected}, got {json.dumps(value, default=str)}")
        return float(value)

    @model_validator(mode="after")
    def _check_init(self) -> StudentConfig:
        if self.init.startswith("general:") and not self.init.removeprefix("general:"):
            raise ValueError("init: `general:` needs a path, e.g. general:outputs/general-tinybert4")
        if self.init == "glove" and self.architecture.family != "bilstm":
            raise ValueError("init: glove is for family: bilstm; expected random, teacher, general:<folder> or <folder>")
        return self

    @field_validator("init")
    @classmethod
    def _saved_folder_exists(cls, init: str) -> str:
        # A missing folder would otherwise surface only after the teacher is fine-tuned (minutes in).
        path = init.removeprefix("general:")
        if init not in ("random", "teacher", "glove") and path and not (Path(path) / "config.json").is_file():
            raise ValueError(
                f"{path!r} is not a saved student folder (no config.json); "
                "expected random, teacher, glove (bilstm), general:<folder> or <folder>"
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
            missing = OBJECTIVES.get(name).needs - {"labels"} - FEATURES_OF[cfg.architecture.family]
            if missing:
                raise ConfigError(
                    f"{source}: {'.'.join(map(str, loc))}: a {cfg.architecture.family} student exposes only "
                    f"{', '.join(sorted(FEATURES_OF[cfg.architecture.family]))}, but {name} needs {', '.join(sorted(missing))}; "
                    "use logits objectives (kd_kl, logit_mse, pred, ce)"
                )


def load_teacher_config(path: str | Path) -> TeacherConfig:
    """Read and validate a teacher.yaml."""
    return validate(TeacherConfig, load_yaml(path), str(path))


def load_student_config(path: str | Path) -> StudentConfig:
    """Read and validate a student.yaml, objective parameters included."""
    cfg = validate(StudentConfig, load_yaml(path), str(path))
    _check_objectives(cfg, str(path))
    return cfg

"""bench.yaml: which sources and kinds to measure, where, and on which data (pydantic-validated)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from distill.compress import kinds as registry
from distill.compress.bench import BenchSettings
from distill.compress.recommend import DEFAULT_MAX_DROP
from distill.core.errors import ConfigError
from distill.core.schema import Encoding, load_yaml, validate

DEFAULT_EVAL_MAX_LEN = 128


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceCfg(_Strict):
    name: str
    path: str | None = None
    shape: str | None = None
    role: str = "other"


class DataCfg(_Strict):
    """A data file (``path`` + columns), or a split of a teacher.yaml's data (``teacher`` + ``split``):
    the latter measures accuracy on exactly the examples ``distill run`` evaluated on."""

    path: str | None = None
    teacher: str | None = None
    split: Literal["train", "dev", "test"] = "dev"
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str | None = "label"
    format: str | None = None
    encoding: Encoding = "utf-8"
    limit: int | None = Field(1000, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> DataCfg:
        if (self.path is None) == (self.teacher is None):
            raise ValueError(
                "give exactly one of `path` (a data file) or `teacher` (a teacher.yaml, with `split`)"
            )
        return self


class BenchCfg(_Strict):
    sources: list[SourceCfg] = Field(min_length=1)
    kinds: list[str] = Field(
        default_factory=lambda: ["torch-fp32", "torch-int8", "ort-opt", "ort-int8-dynamic", "ort-int8-fused"]
    )
    devices: list[Literal["cpu", "cuda"]] = Field(default_factory=lambda: ["cpu"])
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 32, 128])
    seq_lens: list[int] = Field(default_factory=lambda: [64])
    warmup: int = Field(10, ge=1)
    reps: int = Field(100, ge=1)
    max_seconds: float = Field(10.0, gt=0)
    min_reps: int = Field(3, ge=1)
    threads: int = Field(1, ge=1)
    # the accuracy bound of the recommended kind: points below the source's torch-fp32 (recommend.py)
    max_accuracy_drop: float = Field(DEFAULT_MAX_DROP, ge=0)
    # None: the eval teacher.yaml's max_length (as `distill run` evaluated), else DEFAULT_EVAL_MAX_LEN.
    eval_max_len: int | None = Field(None, ge=1)
    eval: DataCfg | None = None
    calibration: DataCfg | None = None
    out: str = "reports/bench"

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: list[str]) -> list[str]:
        bad = registry.unknown(v)
        if bad:
            raise ValueError(f"unknown kinds {bad}; known: {', '.join(registry.names())}")
        return v

    @field_validator("batch_sizes", "seq_lens")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(x < 1 for x in v):
            raise ValueError("must be a non-empty list of positive integers")
        return v

    def resolved_eval_max_len(self) -> int:
        """``eval_max_len`` if set; else, evaluating on a teacher.yaml's split, its ``max_length`` (the
        length `distill run` cut that split at, so the accuracies match metrics.json's); else 128."""
        if self.eval_max_len is not None:
            return self.eval_max_len
        if self.eval is not None and self.eval.teacher is not None:
            from distill.config import load_teacher_config

            return load_teacher_config(self.eval.teacher).max_length
        return DEFAULT_EVAL_MAX_LEN

    def settings(self) -> BenchSettings:
        return BenchSettings(
            devices=self.devices,
            batch_sizes=self.batch_sizes,
            seq_lens=self.seq_lens,
            warmup=self.warmup,
            reps=self.reps,
            max_seconds=self.max_seconds,
            min_reps=self.min_reps,
            threads=self.threads,
            eval_max_len=self.resolved_eval_max_len(),
            max_accuracy_drop=self.max_accuracy_drop,
        )


def parse_bench_config(data: dict, where: str = "bench config") -> BenchCfg:
    """Validate ``data``; then build each source and check each model folder, so a wrong path
    fails here, naming its key, before anything is loaded or timed."""
    from distill.compress.models import check_model_dir
    from distill.compress.variants import Source

    cfg = validate(BenchCfg, data, where)
    for i, s in enumerate(cfg.sources):
        try:
            Source(s.name, s.path, s.shape, s.role)
            if s.path is not None:
                check_model_dir(s.path)
        except ConfigError as e:
            raise ConfigError(f"{where}: sources.{i}: {e}") from None
    return cfg


def load_bench_config(path: str | Path) -> BenchCfg:
    return parse_bench_config(load_yaml(path), str(path))

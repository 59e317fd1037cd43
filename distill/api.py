"""Distillation from Python: ``import distill; result = distill.run(teacher, student)``.

``teacher`` and ``student`` are what ``distill run`` takes (YAML paths), or the mappings those files
hold, or validated ``TeacherConfig`` / ``StudentConfig`` objects; errors are the CLI's (``ConfigError``,
``DataError``, ... from :mod:`distill.core.errors`), raised instead of printed. The run's log goes to
the caller's ``distill`` logger, or to stderr (a notebook cell) when it has no handler.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from distill.config import ConfigSource
from distill.core.errors import ConfigError


@dataclass
class RunResult:
    """A finished ``distill run``: its metrics.json, where the student is, and the student itself."""

    metrics: dict
    output_dir: Path
    _loaded: tuple[Any, Any] | None = field(default=None, repr=False)

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            import students

            self._loaded = students.load(self.output_dir)
        return self._loaded

    @property
    def model(self) -> Any:
        """The saved student, loaded from ``output_dir`` (a Hugging Face classifier, or a BiLSTM)."""
        return self._load()[0]

    @property
    def tokenizer(self) -> Any:
        return self._load()[1]

    @property
    def summary(self) -> str:
        """The table ``distill run`` prints."""
        from distill.distillation.summary import summary_table

        return summary_table(self.metrics)

    def __repr__(self) -> str:
        return f"RunResult({self.output_dir})\n{self.summary}"

    def _repr_html_(self) -> str:  # a notebook shows the table
        return f"<p>distill run: <code>{escape(str(self.output_dir))}</code></p><pre>{escape(self.summary)}</pre>"


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """INFO lines to stderr while the caller has not configured the ``distill`` logger."""
    logger = logging.getLogger("distill")
    if logger.hasHandlers():  # the caller's logging (or the CLI's) shows it already
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# Where a DatasetDict's splits are found, in order of preference
SPLIT_NAMES = {"source": ("train",), "dev": ("validation", "dev", "valid"), "test": ("test",)}


def _records(table: Any) -> list[dict] | None:
    """The rows of a pandas DataFrame or a ``datasets.Dataset`` as dicts; None for anything else."""
    kind = (type(table).__module__.split(".")[0], type(table).__name__)
    if kind == ("pandas", "DataFrame"):
        return table.to_dict("records")
    if kind == ("datasets", "Dataset"):
        return table.to_list()
    return None


def _plain(value: Any) -> Any:
    """numpy scalars (a DataFrame's ints and floats) as Python's, for JSON."""
    return value.item() if hasattr(value, "item") else str(value)


@contextmanager
def _in_memory_data(teacher: ConfigSource) -> Iterator[ConfigSource]:
    """A teacher mapping whose ``data.source`` (or ``dev``/``test``) is a DataFrame, a ``Dataset`` or
    a ``DatasetDict``, as the same mapping reading JSONL copies of them (written to a temporary folder
    for the run's length): the data then goes through the file loader the CLI uses, with its checks."""
    data = teacher.get("data") if isinstance(teacher, dict) else None
    if not isinstance(data, dict) or not any(_records(v) is not None or _is_dict(v) for v in data.values()):
        yield teacher
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="distill-data-") as tmp:
        data = dict(data)
        if _is_dict(data.get("source")):  # a DatasetDict: its train/validation/test splits
            splits = data.pop("source")
            for key, names in SPLIT_NAMES.items():
                name = next((n for n in names if n in splits), None)
                if name is not None and key not in data:
                    data[key] = splits[name]
            if "source" not in data:
                raise ConfigError(
                    f"teacher: data.source: a DatasetDict without a train split (has {', '.join(splits)})"
                )
        for key in ("source", "dev", "test"):
            rows = _records(data.get(key))
            if rows is None:
                continue
            path = Path(tmp) / f"{key}.jsonl"
            path.write_text("".join(json.dumps(r, default=_plain, ensure_ascii=False) + "\n" for r in rows))
            data[key] = str(path)
        data["format"] = "jsonl"
        yield {**teacher, "data": data}


def _is_dict(value: Any) -> bool:
    return (type(value).__module__.split(".")[0], type(value).__name__) == ("datasets", "DatasetDict")


def run(
    teacher: ConfigSource,
    student: ConfigSource,
    output_dir: str | Path | None = None,
    resume: str = "auto",
) -> RunResult:
    """``distill run`` as a function (``resume``: auto | require | fresh, as ``--resume`` / ``--fresh``).
    A teacher mapping's ``data.source`` may also be a pandas DataFrame, a ``datasets.Dataset`` or a
    ``DatasetDict`` (``dev``/``test``: DataFrames or Datasets too), with the columns ``data`` names."""
    from distill.distillation.run import run as run_job

    with _log_to_stderr(), _in_memory_data(teacher) as teacher:
        metrics = run_job(teacher, student, output_dir, resume)
    return RunResult(metrics, Path(metrics["student_path"]))


def validate(teacher: ConfigSource, student: ConfigSource, output_dir: str | Path | None = None) -> dict:
    """``distill validate`` as a function: every check ``run`` makes before training, nothing
    written; returns the facts it found (token lengths, step budget). Data as for :func:`run`."""
    from distill.distillation.preflight import preflight

    with _log_to_stderr(), _in_memory_data(teacher) as teacher:
        return preflight(teacher, student, output_dir).facts


def run_pipeline(recipe: str | Path, dry_run: bool = False, overrides: list[str] | None = None) -> list:
    """``distill pipeline RECIPE [--dry-run] [--set STEP.KEY=VALUE ...]`` as a function: the plan
    (each step, its key and whether it ran or was skipped)."""
    from distill.pipeline import load_recipe
    from distill.pipeline.runner import run_pipeline

    with _log_to_stderr():
        return run_pipeline(
            load_recipe(recipe, overrides), dry_run=dry_run, echo=logging.getLogger("distill").info
        )


def general(
    teacher: ConfigSource, student: ConfigSource, corpus: str | Path, output_dir: str | Path, **options: Any
) -> dict:
    """``distill general`` as a function (``options``: epochs, lr, batch_size, max_length, as its flags)."""
    from distill.distillation.general import general_distill

    with _log_to_stderr():
        return general_distill(teacher, student, corpus, output_dir, **options)


# Imported on first use (the Trainer needs accelerate; the compression API, onnx): name -> module
LAZY = {
    "DistillationLoss": "distill.distillation.loss",  # bring your own loop
    "DistillationTrainer": "distill.distillation.hf_trainer",  # Hugging Face's Trainer
    "compress_model": "distill.compress.api",  # `distill compress`
    "export_model": "distill.compress.api",  # `distill export`
    "benchmark": "distill.compress.api",  # `distill bench`
}


def __getattr__(name: str) -> Any:
    if name in LAZY:
        import importlib

        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'distill.api' has no attribute {name!r}")

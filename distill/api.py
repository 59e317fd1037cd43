"""Distillation from Python: ``import distill; result = distill.run(teacher, student)``.

``teacher`` and ``student`` are what ``distill run`` takes (YAML paths), or the mappings those files
hold, or validated ``TeacherConfig`` / ``StudentConfig`` objects; errors are the CLI's (``ConfigError``,
``DataError``, ... from :mod:`distill.core.errors`), raised instead of printed. The run's log goes to
the caller's ``distill`` logger, or to stderr (a notebook cell) when it has no handler.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from distill.config import ConfigSource


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


def run(
    teacher: ConfigSource,
    student: ConfigSource,
    output_dir: str | Path | None = None,
    resume: str = "auto",
) -> RunResult:
    """``distill run`` as a function (``resume``: auto | require | fresh, as ``--resume`` / ``--fresh``)."""
    from distill.distillation.run import run as run_job

    with _log_to_stderr():
        metrics = run_job(teacher, student, output_dir, resume)
    return RunResult(metrics, Path(metrics["student_path"]))


def validate(teacher: ConfigSource, student: ConfigSource, output_dir: str | Path | None = None) -> dict:
    """``distill validate`` as a function: every check ``run`` makes before training, nothing
    written; returns the facts it found (token lengths, step budget)."""
    from distill.distillation.preflight import preflight

    with _log_to_stderr():
        return preflight(teacher, student, output_dir).facts

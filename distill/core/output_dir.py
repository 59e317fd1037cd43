"""Checks on the folders a run writes, before any training: writable, and room for what goes there.

They fail with a ConfigError before the teacher is loaded or a step is trained, instead of a
traceback (or a lost checkpoint) hours later. :func:`check_writable` and :func:`check_free_space`
touch nothing that lasts (a probe file is made and removed in the nearest existing folder), so
``distill validate`` runs them too; :func:`prepare_output_dir` then creates the output folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from distill.core.errors import ConfigError

OUTPUT_HINT = "choose another folder with output_dir or --output-dir"


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (what a later ``mkdir(parents=True)`` builds on)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(path: Path, key: str, hint: str = OUTPUT_HINT) -> None:
    """Prove that the folder ``path`` (created later when absent) can be written. ``key`` names
    where it came from (``student.yaml: output_dir``, ``--output-dir``, ``teacher.yaml: cache_dir``)."""
    base = _existing(path)
    why = None
    if not base.is_dir():
        why = f"{base} is a file, not a folder"
    else:
        try:
            with tempfile.NamedTemporaryFile(dir=base, prefix=".write-test-"):
                pass
        except OSError as e:
            why = e.strerror or str(e)
    if why:
        raise ConfigError(f"{key}: cannot write to {path} ({why}); {hint}")


def prepare_output_dir(out: Path, key: str) -> None:
    """Create ``out`` and prove a file can be written in it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ConfigError(f"{key}: cannot write to {out} ({e.strerror or e}); {OUTPUT_HINT}") from None


def run_bytes(model_bytes: int, keep_last: int, stages: int, best_weights: bool) -> int:
    """Bytes a run writes, roughly: ``keep_last + 1`` resume checkpoints (the newest is written
    before the oldest is removed), each the student, AdamW's two moments and perhaps the best dev
    weights; one student per stage checkpoint; the final student."""
    per_checkpoint = model_bytes * (4 if best_weights else 3)
    return per_checkpoint * (keep_last + 1) + model_bytes * (stages + 1)


def check_free_space(path: Path, need: int, key: str, what: str, hint: str) -> None:
    """Refuse when the file system of ``path`` (or of its nearest existing ancestor) has less than
    ``need`` bytes free; ``what`` says what is written there, ``hint`` what to do."""
    free = shutil.disk_usage(_existing(path)).free
    if free < need:
        raise ConfigError(
            f"{key}: {path} has {free / 2**20:.1f} MB free, but the run writes about {need / 2**20:.1f} MB "
            f"({what}); {hint}"
        )

"""Checks on the output folder before any training: writable, and room for what the run writes.

Both fail with a ConfigError before the teacher is loaded or a step is trained, instead of a
traceback (or a lost checkpoint) hours later.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from distill.errors import ConfigError


def prepare_output_dir(out: Path, source: str) -> None:
    """Create ``out`` and prove a file can be written in it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ConfigError(
            f"{source}: output_dir: cannot write to {out} ({e.strerror or e}); choose another folder "
            "with output_dir or --output-dir"
        ) from None


def run_bytes(model_bytes: int, keep_last: int, stages: int, best_weights: bool) -> int:
    """Bytes a run writes, roughly: ``keep_last + 1`` resume checkpoints (the newest is written
    before the oldest is removed), each the student, AdamW's two moments and perhaps the best dev
    weights; one student per stage checkpoint; the final student."""
    per_checkpoint = model_bytes * (4 if best_weights else 3)
    return per_checkpoint * (keep_last + 1) + model_bytes * (stages + 1)


def check_free_space(out: Path, need: int, source: str) -> None:
    free = shutil.disk_usage(out).free
    if free < need:
        raise ConfigError(
            f"{source}: output_dir: {out} has {free / 2**20:.1f} MB free, but the run writes about "
            f"{need / 2**20:.1f} MB (student, stage checkpoints, checkpoint.keep_last resume checkpoints); "
            "free disk space, lower checkpoint.keep_last or choose another output_dir"
        )

"""How big an augmentation's output will be, checked before any augmenting.

``n_iter`` is only bounded below by the config schema; what matters is what the run would write:
up to ``rows x (n_iter + 1)`` rows (the original when ``keep_original``, plus ``n_iter`` copies;
deduplication can only make fewer) of about the input's bytes per row; and in memory, the
``chunk_size x n_iter`` copies of a chunk are built at once. ``augment run``, student.yaml's
``augment:`` key and the pipeline's augment step all call :func:`check_output_size` (``augment
text`` calls :func:`check_size`), so an ``n_iter: 2147483647`` is one line naming the estimate
instead of a 607 TiB allocation failure, and an output larger than the free disk is refused
before hours of work.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from augment.config import AugmentConfig
from augment.io import existing_ancestor
from distill.core.errors import ConfigError, OutputError

MAX_ROWS = 10**9
# Copies of one chunk held at once (word ids, random draws, strings): ~10^6 copies of a 20-word
# sentence take about 1 GB; chunk_size 64 x n_iter 20 (Tang's and TinyBERT's) are 1,280.
MAX_CHUNK_COPIES = 10**6


def output_rows(rows_in: int, cfg: AugmentConfig) -> int:
    """The most rows an augmentation of ``rows_in`` rows writes."""
    return rows_in * (cfg.n_iter + int(cfg.keep_original))


def check_size(rows_in: int, cfg: AugmentConfig, source: str, bytes_per_row: float = 0.0) -> int:
    """Refuse more than :data:`MAX_ROWS` output rows, or a chunk of more than
    :data:`MAX_CHUNK_COPIES` copies; ``source`` names the config. Returns the most rows written."""
    rows = output_rows(rows_in, cfg)
    if rows > MAX_ROWS:
        raise ConfigError(
            f"{source}: n_iter: {cfg.n_iter} copies of each of {rows_in:,} input rows make up to {rows:,} output "
            f"rows (about {rows * bytes_per_row / 2**30:,.1f} GiB); the limit is {MAX_ROWS:,} rows: lower n_iter "
            "or augment part of the input"
        )
    chunk = min(cfg.chunk_size, rows_in)
    if chunk * cfg.n_iter > MAX_CHUNK_COPIES:
        raise ConfigError(
            f"{source}: n_iter: {cfg.n_iter} copies of each row of a chunk of {chunk:,} rows (chunk_size) are "
            f"{chunk * cfg.n_iter:,} sentences in memory at once; the limit is {MAX_CHUNK_COPIES:,}: lower n_iter "
            "or chunk_size"
        )
    return rows


def check_output_size(
    rows_in: int, bytes_in: int, cfg: AugmentConfig, output: str | Path, source: str
) -> int:
    """:func:`check_size`, and refuse more bytes than the disk at ``output`` has free; ``bytes_in``
    is the size of the ``rows_in`` input rows. Returns the most rows written."""
    per_row = bytes_in / max(rows_in, 1)
    rows = check_size(rows_in, cfg, source, per_row)
    need = rows * per_row
    where = existing_ancestor(Path(output).parent)
    free = shutil.disk_usage(where).free
    if need > free:
        raise OutputError(
            f"{output}: the augmented file would take about {need / 2**20:,.1f} MiB (up to {rows:,} rows of about "
            f"{per_row:.0f} bytes), but {where} has {free / 2**20:,.1f} MiB free; free disk space, lower n_iter "
            "or write elsewhere"
        )
    return rows

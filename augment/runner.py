"""Running a pipeline over a file: two streaming passes, optional worker processes, atomic output.

:func:`prepare_run` checks before any work (output location, input rows and columns, output
size); it reads every row once, counting them. Pass 1 (only when a strategy needs corpus
statistics: POS tables, neighbour tables) streams the input through ``Pipeline.observe``; pass 2
streams it again in chunks of ``chunk_size`` rows.
Each row ``i`` draws from its own streams of ``(seed, i)`` (:func:`augment.base.row_uniforms`), and chunks are written
in input order, so the output is byte-identical for any number of workers. At most
``4 * workers`` chunks are in flight, so memory does not grow with the file.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from augment.base import Pipeline, detokenize, finish, tokenize
from augment.bounds import check_output_size
from augment.config import AugmentConfig
from augment.io import (
    Row,
    check_output,
    check_paths,
    existing_ancestor,
    format_rows,
    header_line,
    open_rows,
    output_format,
)
from augment.signals import fault_hook, init_worker
from distill.core.atomic import atomic_file
from distill.core.readers import detect_format

# Set in the parent before forking workers, inherited by them (no pickling of models or tables).
_STATE: dict[str, object] = {}


@dataclass
class RunStats:
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0

    @property
    def sentences_per_s(self) -> float:
        return self.rows_out / self.seconds if self.seconds > 0 else 0.0


def target_columns(cfg: AugmentConfig) -> list[str]:
    """The text columns that get augmented: the only one, or the pair's first, second or both."""
    cols = cfg.text_columns
    if len(cols) == 1 or cfg.pair_mode == "first":
        return [cols[0]]
    return [cols[1]] if cfg.pair_mode == "second" else list(cols)


def augment_rows(pipeline: Pipeline, cfg: AugmentConfig, seed: int, start: int, rows: list[Row]) -> list[Row]:
    """The output rows for input rows ``start, start+1, ...``: each original (if kept) then its copies."""
    targets = target_columns(cfg)
    words = {c: [tokenize(r[c]) for r in rows] for c in targets}
    new = {
        c: pipeline.outputs(pipeline.prepare(words[c]), seed, start, stream)
        for stream, c in enumerate(targets)
    }
    out: list[Row] = []
    for r, row in enumerate(rows):
        if cfg.keep_original:
            out.append(row)
        if len(targets) == 1:  # the common case, without tuples
            (c,) = targets
            out.extend({**row, c: s} for s in finish(detokenize(words[c][r]), new[c][r], dedup=cfg.dedup))
            continue
        unchanged = tuple(detokenize(words[c][r]) for c in targets)
        for combo in finish(unchanged, zip(*(new[c][r] for c in targets), strict=True), dedup=cfg.dedup):
            out.append({**row, **dict(zip(targets, combo, strict=True))})
    return out


def _work(job: tuple[int, list[Row]]) -> tuple[int, int, str]:
    pipeline, cfg, seed, columns, fmt = (_STATE[k] for k in ("pipeline", "cfg", "seed", "columns", "fmt"))
    start, rows = job
    out = augment_rows(pipeline, cfg, seed, start, rows)  # type: ignore[arg-type]
    return len(rows), len(out), format_rows(out, columns, fmt)  # type: ignore[arg-type]


def _chunks(rows: Iterator[tuple[int, Row]], size: int) -> Iterator[tuple[int, list[Row]]]:
    start, chunk = 0, []
    for _, row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield start, chunk
            start, chunk = start + size, []
    if chunk:
        yield start, chunk


def observe_corpus(pipeline: Pipeline, cfg: AugmentConfig, path: str | Path) -> None:
    """Pass 1: stream the target columns through ``pipeline.observe``, then ``fit``.

    Every row is read even when no strategy needs corpus statistics, so a bad line (encoding,
    ragged row, broken JSON) of ``augment text --corpus`` fails here, before any augmenting
    (``augment run`` has read them all in :func:`prepare_run`)."""
    _, rows = open_rows(path, cfg.format, cfg.encoding, cfg.text_columns)
    targets = target_columns(cfg)
    for _, chunk in _chunks(rows, 256):
        if pipeline.needs_corpus:
            pipeline.observe([tokenize(r[c]) for r in chunk for c in targets])
    pipeline.fit()


@dataclass
class RunPlan:
    """What :func:`prepare_run` found out about a run before any work."""

    header: list[str]
    out_fmt: str
    rows_in: int


def prepare_run(
    cfg: AugmentConfig, input_path: str | Path, output_path: str | Path, source: str, flag: str = "--output"
) -> RunPlan:
    """Every check a run can make before it builds its pipeline or augments: the output's location
    (``flag`` names it in errors), the input (each row read once, so a bad line fails here) and
    its text columns, and the output's size (:func:`augment.bounds.check_output_size`)."""
    check_paths(input_path, output_path)
    check_output(output_path, flag)
    header, rows = open_rows(input_path, cfg.format, cfg.encoding, cfg.text_columns)
    out_fmt = output_format(output_path, cfg.output_format, cfg.format or detect_format(input_path))
    rows_in = sum(1 for _ in rows)
    check_output_size(rows_in, Path(input_path).stat().st_size, cfg, output_path, source)
    return RunPlan(header, out_fmt, rows_in)


def run_file(
    pipeline: Pipeline,
    cfg: AugmentConfig,
    input_path: str | Path,
    output_path: str | Path,
    *,
    plan: RunPlan | None = None,
    source: str = "augment.yaml",
    workers: int = 1,
    seed: int | None = None,
    progress: bool | None = None,
) -> RunStats:
    """Augment ``input_path`` into ``output_path`` (written atomically). ``progress=None``: on a TTY.

    ``plan`` is :func:`prepare_run`'s result when the caller checked before building ``pipeline``
    (``source`` names the config in its errors). On any exception or signal nothing is left: no
    temporary file, no output, and no folder this call created for it."""
    plan = plan or prepare_run(cfg, input_path, output_path, source)
    seed = cfg.seed if seed is None else seed
    t0 = time.perf_counter()
    made = _first_missing(Path(output_path).parent)
    stats = RunStats()
    try:
        if pipeline.needs_corpus:
            observe_corpus(pipeline, cfg, input_path)
        else:
            pipeline.fit()
        _write(pipeline, cfg, input_path, output_path, plan, seed, workers, progress, stats)
    except BaseException:
        if made is not None:
            _remove_empty(made, Path(output_path).parent)
        raise
    stats.seconds = time.perf_counter() - t0
    return stats


def _write(
    pipeline, cfg, input_path, output_path, plan: RunPlan, seed, workers, progress, stats: RunStats
) -> None:
    _STATE.update(pipeline=pipeline, cfg=cfg, seed=seed, columns=plan.header, fmt=plan.out_fmt)
    _, rows = open_rows(input_path, cfg.format, cfg.encoding, cfg.text_columns)
    jobs = _chunks(rows, cfg.chunk_size)
    bar = tqdm(
        unit=" sent", unit_scale=True, desc="augment", disable=None if progress is None else not progress
    )
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=init_worker) if workers > 1 else None
    try:
        with atomic_file(output_path, encoding="utf-8") as f:
            f.write(header_line(plan.header, plan.out_fmt))
            results = _ordered(pool, jobs, 4 * workers) if pool else map(_work, jobs)
            for chunk, (n_in, n_out, text) in enumerate(results, 1):
                f.write(text)
                stats.rows_in += n_in
                stats.rows_out += n_out
                bar.update(n_out)
                fault_hook(chunk)
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
        _STATE.clear()


def _first_missing(folder: Path) -> Path | None:
    """The topmost folder of ``folder``'s chain that does not exist yet (None if it exists)."""
    folder = folder.absolute()
    top = existing_ancestor(folder)
    return None if top == folder else top / folder.relative_to(top).parts[0]


def _remove_empty(top: Path, folder: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` (made by this run) while they are empty."""
    folder = folder.absolute()
    for d in (folder, *folder.parents):
        try:
            d.rmdir()
        except OSError:
            return
        if d == top:
            return


def _ordered(pool, jobs: Iterator[tuple[int, list[Row]]], depth: int) -> Iterator[tuple[int, int, str]]:
    """Results in job order with at most ``depth`` jobs in flight (Pool.imap would read all input)."""
    pending: deque = deque()
    for job in jobs:
        pending.append(pool.apply_async(_work, (job,)))
        if len(pending) >= depth:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()

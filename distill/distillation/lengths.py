"""Token lengths per split: how many examples ``max_length`` cuts, and the 50th/95th percentiles.

Texts longer than the teacher's ``max_length`` are truncated when tokenized, silently: on a corpus
of news articles 99.96% of the examples were cut and the models saw only their first 128 tokens.
:func:`measure_lengths` counts them with the teacher's own tokenizer (a pair counts both sentences
and the special tokens, as the model sees them) and warns when more than :data:`WARN_FRACTION` of
a split is cut. ``distill run`` calls it before the teacher is loaded or fine-tuned (the warning
comes before the long wait, and the figures go to ``metrics.json`` under ``data.lengths``) and
``distill validate`` prints the same figures.

It tokenizes the splits once more, untruncated, beside the batching's own pass: the figures are
wanted before the teacher, whose tokenizer the batching uses, is ready; a fast tokenizer takes
seconds where fine-tuning takes minutes.
"""

from __future__ import annotations

import logging
import math
import os

from distill.config import TeacherConfig
from distill.core.errors import ConfigError, first_line
from distill.data.dataset import DataSplits, TextDataset

log = logging.getLogger("distill")

SPLITS = ("train", "dev", "test")
WARN_FRACTION = 0.10  # more than this share of a split cut at max_length: a warning
_CHUNK = 2048  # examples tokenized at a time (untruncated ids of long documents add up)


def token_lengths(dataset: TextDataset, tokenizer) -> list[int]:
    """Tokens per example, untruncated, special tokens included (a pair: both sentences together)."""
    lengths: list[int] = []
    for start in range(0, len(dataset), _CHUNK):
        texts = dataset.texts[start : start + _CHUNK]
        args = (texts,) if dataset.pairs is None else (texts, dataset.pairs[start : start + _CHUNK])
        enc = tokenizer(*args, truncation=False, padding=False, verbose=False)
        lengths.extend(len(ids) for ids in enc["input_ids"])
    return lengths


def _percentile(ordered: list[int], q: float) -> int:
    """Nearest-rank percentile of sorted values: the smallest value with at least ``q`` of them at or below it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0


def length_figures(lengths: list[int], max_length: int) -> dict:
    """``examples``, ``truncated`` (longer than ``max_length``), ``fraction``, ``p50``, ``p95`` and ``max_length``."""
    ordered = sorted(lengths)
    cut = sum(n > max_length for n in lengths)
    return {
        "examples": len(lengths),
        "truncated": cut,
        "fraction": cut / len(lengths) if lengths else 0.0,
        "p50": _percentile(ordered, 0.5),
        "p95": _percentile(ordered, 0.95),
        "max_length": max_length,
    }


def lengths_line(figures: dict[str, dict]) -> str:
    """One line for the log and ``validate``: per split p50/p95 and how many examples are cut."""
    if not figures:
        return ""
    max_length = next(iter(figures.values()))["max_length"]
    parts = [
        f"{split} p50 {f['p50']}, p95 {f['p95']}, {f['truncated']} of {f['examples']} cut ({f['fraction']:.1%})"
        for split, f in figures.items()
    ]
    return f"tokens per example (teacher tokenizer, max_length {max_length}): " + "; ".join(parts)


def truncation_warning(figures: dict[str, dict], source: str = "teacher.yaml") -> str | None:
    """The warning when more than :data:`WARN_FRACTION` of any split is cut, else None."""
    over = [(s, f) for s, f in figures.items() if f["fraction"] > WARN_FRACTION]
    if not over:
        return None
    max_length = over[0][1]["max_length"]
    cut = ", ".join(f"{f['fraction']:.1%} of {s} (95th percentile {f['p95']} tokens)" for s, f in over)
    return (
        f"{source}: max_length {max_length} cuts {cut}; those examples are truncated to their first {max_length} "
        "tokens for the teacher and the student: raise `max_length` (up to the model's limit) if the rest matters"
    )


def load_tokenizer(cfg: TeacherConfig, source: str = "teacher.yaml"):
    """The teacher's tokenizer (the fine-tuned teacher's cache holds a copy of the same one)."""
    from transformers import AutoTokenizer

    from distill.train.teacher import resolve_model  # here: distill.train.teacher imports this package

    path = resolve_model(cfg.model)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        where = "local folder" if os.path.isdir(path) else "hub id"
        first = first_line(e)
        raise ConfigError(
            f"{source}: model: cannot load the tokenizer of {cfg.model!r} ({where}): {first}"
        ) from None


def split_lengths(splits: DataSplits, cfg: TeacherConfig, source: str = "teacher.yaml") -> dict[str, dict]:
    """Per split :func:`length_figures` with the teacher's tokenizer; logs nothing."""
    tokenizer = load_tokenizer(cfg, source)
    return {s: length_figures(token_lengths(getattr(splits, s), tokenizer), cfg.max_length) for s in SPLITS}


def report_lengths(figures: dict[str, dict], source: str = "teacher.yaml", log_summary: bool = True) -> None:
    """Log the figures (unless ``log_summary`` is off) and warn when a split is cut too often."""
    if log_summary:
        log.info("data: %s", lengths_line(figures))
    warning = truncation_warning(figures, source)
    if warning:
        log.warning("%s", warning)


def measure_lengths(
    splits: DataSplits, cfg: TeacherConfig, source: str = "teacher.yaml", log_summary: bool = True
) -> dict[str, dict]:
    """:func:`split_lengths`, then :func:`report_lengths`."""
    figures = split_lengths(splits, cfg, source)
    report_lengths(figures, source, log_summary)
    return figures

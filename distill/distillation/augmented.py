"""Augmented training data for task distillation, made inside ``distill run`` (``augment:`` key).

TinyBERT (Jiao et al. 2020) and Tang et al. (2019) distill on an augmented copy of the task's
training set. With ``augment: experiments/augment/tang.yaml`` in student.yaml, ``distill run``:

1. fine-tunes (or checks) the teacher on the ORIGINAL training split — augmentation is for the
   student only;
2. writes the training split to JSONL and runs the ``augment`` pipeline over it (the same code as
   ``augment run``), its text columns mapped onto the split's text (and text pair);
3. distills on the result. Each copy keeps its source sentence's label for hard-label objectives
   (``ce``; a regression's target for ``mse``, a multi-label row's labels for ``bce``); soft objectives (``pred``, ``kd_kl``, ``logit_mse``, ...) use the teacher's outputs on
   the augmented text itself, which is Tang's re-labelling by the teacher.

The augmented split is cached as ``<teacher cache_dir>/augmented/<key>.jsonl``, the key a hash of
the training split's content and the augment config, so repeated runs (and the teacher-output
cache keyed by the data) reuse it. Dev and test splits are never augmented.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from distill.core.atomic import atomic_file
from distill.core.errors import ConfigError, DistillError
from distill.data.dataset import JSONL_LABEL, JSONL_PAIR, JSONL_TEXT, DataSplits, TextDataset

log = logging.getLogger("distill")

AUGMENT_CACHE_VERSION = "3"  # bump when the augment code's output for a config changes


def load_augment_config(path: str, source: str):
    """The validated augment config; errors name student.yaml's ``augment`` key and the file."""
    from augment.config import load_config

    if not Path(path).is_file():
        raise ConfigError(f"{source}: augment: no such augment config file: {path}")
    try:
        return load_config(path)
    except DistillError as e:
        raise ConfigError(f"{source}: augment: {e}") from None


def for_split(cfg, pair: bool, where: str):
    """An augment config re-pointed at a split written by :meth:`TextDataset.write_jsonl`: its text
    columns become the split's JSONL columns (``pair_mode`` kept) and both formats JSONL. Used by
    student.yaml's ``augment:`` key and by the pipeline's augment step, so both read a config alike.
    A sentence-pair config (two text_columns) on single-text data is refused rather than guessed."""
    if len(cfg.text_columns) == 2 and not pair:
        raise ConfigError(
            f"{where}: the augment config names two text_columns (a sentence-pair task) but the "
            "training data has a single text column"
        )
    columns = [JSONL_TEXT, JSONL_PAIR] if pair else [JSONL_TEXT]
    return cfg.model_copy(update={"text_columns": columns, "format": "jsonl", "output_format": "jsonl"})


class _ByteCount:
    """A write-only text sink that counts UTF-8 bytes (the size of a JSONL split, not held in memory)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> None:
        self.bytes += len(text.encode("utf-8"))


def check_augment(
    train: TextDataset, label_names: list[str], augment_yaml: str | None, cache_dir: str | Path, source: str
) -> None:
    """What augmenting ``train`` would do, checked before the teacher loads (``distill run`` and
    ``distill validate``, through :func:`distill.distillation.preflight.check_data`, whose write locations cover
    the cache folder; :func:`augment_train` checks the same again through the runner): the config
    fits the data and the output is not too big (:func:`augment.bounds.check_output_size`).
    Nothing to check when the split is cached."""
    if not augment_yaml:
        return
    from augment.bounds import check_output_size

    cfg, _ = load_augment_config(augment_yaml, source)
    cfg = for_split(cfg, train.pairs is not None, f"{source}: augment")
    out = _cache_path(train, label_names, augment_yaml, cache_dir)
    if out.is_file():
        return
    sink = _ByteCount()
    train.write_jsonl(sink, label_names)  # type: ignore[arg-type]
    check_output_size(len(train), sink.bytes, cfg, out, f"{source}: augment: {augment_yaml}")


def _cache_path(train: TextDataset, label_names: list[str], augment_yaml: str, cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "augmented" / f"{_key(train, label_names, augment_yaml)}.jsonl"


def _key(train: TextDataset, label_names: list[str], augment_yaml: str) -> str:
    h = hashlib.sha256(f"v{AUGMENT_CACHE_VERSION}\x1e{json.dumps(label_names)}\x1e".encode())
    h.update(Path(augment_yaml).read_bytes())
    for t, p, y in zip(train.texts, train.pairs or [None] * len(train), train.labels, strict=True):
        h.update(f"{t}\x1f{p}\x1f{y}\x1e".encode())
    return h.hexdigest()[:16]


def _read(path: Path, pair: bool, label_names: list[str], task: str) -> TextDataset:
    """The augmented split back: each row's label as :meth:`TextDataset.write_jsonl` wrote it (the
    augment runner carries it as a column of text: a name, a number, a JSON list of names)."""
    from distill.data.labels import list_literal
    from distill.data.multilabel import multi_hot

    ids = {name: i for i, name in enumerate(label_names)}
    texts, pairs, labels = [], [], []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            row = json.loads(line)
            texts.append(row[JSONL_TEXT])
            y = row[JSONL_LABEL]
            if task == "regression":
                labels.append(float(y))
            elif task == "multi_label":
                names = list_literal(y) if isinstance(y, str) else y
                labels += multi_hot([names], label_names, [line_no], str(path), JSONL_LABEL)
            else:
                labels.append(ids[y])
            if pair:
                pairs.append(row[JSONL_PAIR])
    return TextDataset(texts, labels, pairs if pair else None)


def augment_train(
    splits: DataSplits, augment_yaml: str, cache_dir: str | Path, source: str, workers: int = 1
) -> TextDataset:
    """``splits.train`` augmented by the pipeline of ``augment_yaml`` (cached on disk by content);
    each copy keeps its source row's label: a class, a regression's target, a multi-label row's names."""
    from augment.config import build_pipeline
    from augment.runner import prepare_run, run_file

    train, label_names, task = splits.train, splits.label_names, splits.task
    cfg, strategies = load_augment_config(augment_yaml, source)
    pair = train.pairs is not None
    cfg = for_split(cfg, pair, f"{source}: augment")
    out = _cache_path(train, label_names, augment_yaml, cache_dir)
    if out.is_file():
        data = _read(out, pair, label_names, task)
        log.info("augment: %d training examples -> %d (cached: %s)", len(train), len(data), out)
        return data
    # The original label travels as a plain column.
    src = out.with_suffix(".input.jsonl")
    with atomic_file(src, encoding="utf-8") as f:
        train.write_jsonl(f, label_names)
    where = f"{source}: augment: {augment_yaml}"
    try:
        plan = prepare_run(cfg, src, out, where, flag=f"{source}: augment: the augmented-split cache")
        pipeline = build_pipeline(cfg, strategies, source=where)
        # `out` appears only when complete
        stats = run_file(pipeline, cfg, src, out, plan=plan, workers=workers)
    finally:
        src.unlink(missing_ok=True)
    log.info(
        "augment: %d training examples -> %d with %s (%.1f s, %.0f sentences/s; cached: %s)",
        stats.rows_in,
        stats.rows_out,
        augment_yaml,
        stats.seconds,
        stats.sentences_per_s,
        out,
    )
    return _read(out, pair, label_names, task)

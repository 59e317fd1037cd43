"""Labelled text datasets: load train/dev/test from any supported source, validated.

Sources: the embedded tweets, CSV/TSV/JSONL files, GLUE task folders (``train.tsv``, ``dev.tsv``),
and ``datasets.save_to_disk`` folders. Splits without a file of their own are carved out of the
training data, stratified by label and seeded, so every run sees the same split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from distill.core.errors import DataError
from distill.core.readers import detect_format, iter_rows, require_columns
from distill.data.config import DataConfig
from distill.data.embedded import embedded_corpus
from distill.data.labels import infer_task, parse_targets, require_task
from distill.data.multilabel import label_sets, multi_hot

log = logging.getLogger("distill")

JSONL_TEXT, JSONL_PAIR, JSONL_LABEL = "text", "text_pair", "label"  # columns of TextDataset.write_jsonl

# GLUE task -> (text column, pair column, label column, dev file name). CoLA's files have no header.
GLUE_TASKS: dict[str, tuple[str, str | None, str, str]] = {
    "sst2": ("sentence", None, "label", "dev.tsv"),
    "cola": ("sentence", None, "label", "dev.tsv"),
    "mrpc": ("#1 String", "#2 String", "Quality", "dev.tsv"),
    "qqp": ("question1", "question2", "is_duplicate", "dev.tsv"),
    "stsb": ("sentence1", "sentence2", "score", "dev.tsv"),  # a regression task: similarity 0..5
    "mnli": ("sentence1", "sentence2", "gold_label", "dev_matched.tsv"),
    "qnli": ("question", "sentence", "label", "dev.tsv"),
    "rte": ("sentence1", "sentence2", "label", "dev.tsv"),
    "wnli": ("sentence1", "sentence2", "label", "dev.tsv"),
}


@dataclass
class TextDataset:
    """Texts (and optional second texts for pair tasks) with labels: class ids, or a regression's
    float targets."""

    texts: list[str]
    labels: list[int] | list[float]
    pairs: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def write_jsonl(self, f: TextIO, label_names: list[str]) -> None:
        """One JSON object per example: ``text``, ``label`` (its name; a regression's target, a
        number; a multi-label row's list of names) and, for pairs, ``text_pair`` (the files the
        pipeline and ``augment:`` hand to the augment runner and read back)."""
        for i, (text, y) in enumerate(zip(self.texts, self.labels, strict=True)):
            if isinstance(y, list):  # multi-label: the 0/1 row as the names it holds
                label = [name for name, v in zip(label_names, y, strict=True) if v >= 0.5]
            else:
                label = y if isinstance(y, float) else label_names[y]
            row = {JSONL_TEXT: text, JSONL_LABEL: label}
            if self.pairs is not None:
                row[JSONL_PAIR] = self.pairs[i]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def subset(self, indices: list[int]) -> TextDataset:
        return TextDataset(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            [self.pairs[i] for i in indices] if self.pairs is not None else None,
        )


@dataclass
class DataSplits:
    train: TextDataset
    dev: TextDataset
    test: TextDataset
    label_names: list[str]  # regression: one name, the label column's
    task: str = "classification"  # distill.data.labels.TASKS
    task_reason: str = ""  # why: "data.task", or what the train labels hold (for refusals that name it)

    def majority_rate(self, split: str = "dev") -> tuple[float, str]:
        """Accuracy of always predicting the most frequent label of ``split``, and that label."""
        labels = getattr(self, split).labels
        label, count = Counter(labels).most_common(1)[0]
        return count / len(labels), self.label_names[label]

    def fingerprint(self) -> str:
        """A content hash of all splits and labels (for caches keyed by data)."""
        h = hashlib.sha256(json.dumps(self.label_names).encode())
        if self.task != "classification":  # classification fingerprints stay as they were (caches)
            h.update(self.task.encode())
        for split in (self.train, self.dev, self.test):
            for t, p, y in zip(split.texts, split.pairs or [None] * len(split), split.labels, strict=True):
                h.update(f"{t}\x1f{p}\x1f{y}\x1e".encode())
        return h.hexdigest()


@dataclass
class _Raw:
    """Rows as read: strings, with line numbers for error messages."""

    texts: list[str]
    pairs: list[str] | None
    labels: list[str]
    lines: list[int]
    where: str
    column: str = "label"  # the label column, for error messages


def _read_table(path: Path, fmt: str, encoding: str, text: str, pair: str | None, label: str) -> _Raw:
    raw = _Raw([], [] if pair else None, [], [], str(path), label)
    empty: list[int] = []
    checked = False
    for lineno, row in iter_rows(path, fmt, encoding):
        if not checked:
            wanted = [text, label] + ([pair] if pair else [])
            require_columns(path, list(row), wanted)
            checked = True
        if not row[text].strip() or (pair and not row[pair].strip()):
            empty.append(lineno)
            continue
        raw.texts.append(row[text])
        if pair:
            raw.pairs.append(row[pair])
        raw.labels.append(row[label].strip())
        raw.lines.append(lineno)
    if empty:
        shown = ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else "")
        log.warning("%s: skipped %d rows with empty text (lines %s)", path, len(empty), shown)
    if not raw.texts:
        raise DataError(f"{path}: no rows with text")
    return raw


def _read_disk(path: Path, cfg: DataConfig) -> dict[str, _Raw]:
    try:
        import datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError("format: disk needs the `datasets` package") from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        raise DataError(f"{path}: not a `datasets.save_to_disk` folder ({e})") from None
    parts = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    parts = {("dev" if k == "validation" else k): v for k, v in parts.items()}
    if "train" not in parts:
        raise DataError(f"{path}: no `train` split (the folder has: {', '.join(parts)})")
    out = {}
    for split, ds in parts.items():
        where = f"{path}[{split}]"
        wanted = [cfg.text_column, cfg.label_column] + (
            [cfg.text_pair_column] if cfg.text_pair_column else []
        )
        require_columns(where, ds.column_names, wanted)
        feature = ds.features[cfg.label_column]
        names = getattr(feature, "names", None)  # a ClassLabel stores ints and their names
        labels = [
            names[y] if names and isinstance(y, int) and y >= 0 else str(y) for y in ds[cfg.label_column]
        ]
        if split != "train" and all(y == "-1" for y in labels):  # GLUE test splits have no labels
            continue
        texts = [str(t) for t in ds[cfg.text_column]]
        pairs = [str(t) for t in ds[cfg.text_pair_column]] if cfg.text_pair_column else None
        keep = [i for i, t in enumerate(texts) if t.strip() and (pairs is None or pairs[i].strip())]
        if len(keep) < len(texts):
            log.warning("%s: skipped %d rows with empty text", where, len(texts) - len(keep))
        out[split] = _Raw(
            [texts[i] for i in keep],
            [pairs[i] for i in keep] if pairs else None,
            [labels[i] for i in keep],
            [i + 1 for i in keep],
            where,
            cfg.label_column,
        )
    return out


def _read_sources(cfg: DataConfig) -> tuple[dict[str, _Raw], list[str] | None]:
    """Read every split that has a source of its own; also return labels fixed by the source."""
    if cfg.source.startswith("embedded:"):
        corpus = embedded_corpus(cfg.source.removeprefix("embedded:"))
        raw = _read_table(corpus.path, "csv", corpus.encoding, corpus.text_column, None, corpus.label_column)
        keep = [i for i, y in enumerate(raw.labels) if y in corpus.labels]
        raw = _Raw(
            [raw.texts[i] for i in keep],
            None,
            [raw.labels[i] for i in keep],
            [raw.lines[i] for i in keep],
            raw.where,
        )
        return {"train": raw}, list(corpus.labels)

    source = Path(cfg.source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder (data.source)")
    fmt = cfg.format
    if fmt == "disk" or (fmt == "auto" and source.is_dir() and not cfg.glue_task):
        return _read_disk(source, cfg), None

    text, pair, label = cfg.text_column, cfg.text_pair_column, cfg.label_column
    files = {"train": source, "dev": cfg.dev and Path(cfg.dev), "test": cfg.test and Path(cfg.test)}
    if fmt == "glue" or cfg.glue_task:
        fmt = "glue"
        if not cfg.glue_task:
            raise DataError(f"{source}: format: glue needs `glue_task` ({', '.join(GLUE_TASKS)})")
        text, pair, label, dev_name = GLUE_TASKS[cfg.glue_task]
        if source.is_dir():
            files["train"] = source / "train.tsv"
            files["dev"] = files["dev"] or _glue_dev(source, dev_name, cfg)
    elif fmt == "auto":
        fmt = detect_format(source)
    out = {}
    for split, path in files.items():
        if path is not None:
            out[split] = _read_table(Path(path), fmt, cfg.encoding, text, pair, label)
    return out, None


def _glue_dev(folder: Path, dev_name: str, cfg: DataConfig) -> Path | None:
    """The folder's dev file; None (carve dev out of train) when it has none and ``split.dev`` is
    set explicitly. Without either the run would have no dev split, so both remedies are named."""
    path = folder / dev_name
    if path.exists() or not (folder / "train.tsv").exists():  # a missing train.tsv is reported as such
        return path
    if "dev" in cfg.split.model_fields_set:
        log.info(
            "%s: no %s; carving the dev split (split.dev: %g) out of train.tsv",
            folder,
            dev_name,
            cfg.split.dev,
        )
        return None
    raise DataError(
        f"{folder}: no {dev_name} in the GLUE folder; add it, or set data.split.dev (e.g. 0.1) to carve dev out of train.tsv"
    )


def _stratified_split(n_labels: int, labels: list[int], fractions: list[float], seed: int) -> list[list[int]]:
    """Split indices into ``len(fractions)`` parts plus the rest, keeping label proportions."""
    rng = random.Random(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for y in range(n_labels):
        idx = [i for i, label in enumerate(labels) if label == y]
        rng.shuffle(idx)
        start = 0
        for k, frac in enumerate(fractions):
            take = round(frac * len(idx))
            parts[k].extend(idx[start : start + take])
            start += take
        parts[-1].extend(idx[start:])
    for part in parts:
        rng.shuffle(part)
    return parts


def _to_ids(raw: _Raw, names: list[str]) -> TextDataset:
    index = {n: i for i, n in enumerate(names)}
    labels = []
    for y, line in zip(raw.labels, raw.lines, strict=True):
        if y not in index:
            raise DataError(
                f"{raw.where}: line {line}: unknown label {y!r}; expected one of {', '.join(names)}"
            )
        labels.append(index[y])
    return TextDataset(raw.texts, labels, raw.pairs)


def _task(cfg: DataConfig, raws: dict[str, _Raw], fixed_labels: list[str] | None) -> tuple[str, str, bool]:
    """The task, why (what the train labels hold, or what declared it) and whether it was declared
    (data.task, data.labels, the source) rather than inferred; an inferred task is checked on every split."""
    train = raws["train"]
    if cfg.task != "auto":  # with data.labels too: a multi-label task's label names, in their order
        return cfg.task, "data.task", True
    if cfg.labels or fixed_labels:  # declared labels (no task declared) are class names
        return "classification", "data.labels" if cfg.labels else f"{cfg.source}'s labels", True
    task, why = infer_task(train.labels)
    for split, raw in raws.items():  # a dev file of another kind than train is refused by name
        other, other_why = infer_task(raw.labels)
        if split != "train" and other != task and other != "classification":
            raise DataError(f"{raw.where}: label column {raw.column!r} {other_why}, but train {why}")
    return task, why, False


def load_splits(cfg: DataConfig, tasks: tuple[str, ...] = ("classification",)) -> DataSplits:
    """Load train/dev/test as configured; a DataError names the file and line of any bad row, and
    refuses a task (data.task, or inferred) not in ``tasks``, those the caller trains."""
    raws, fixed_labels = _read_sources(cfg)
    task, why, declared = _task(cfg, raws, fixed_labels)
    train = raws["train"]
    require_task(task, why, declared, train.where, train.column, tasks)
    log.info("data: task %s (%s)", task, why if declared else f"inferred: train {why}")
    reason = (  # for refusals that name the task: declared (where), or inferred (from what)
        ("declared" if why == "data.task" else f"from {why}")
        if declared
        else f"inferred: {train.where}: label column {train.column!r} {why}"
    )
    if task == "regression":
        names = [train.column]  # the one output, named after its column (GLUE STS-B: score)
        splits = {
            k: TextDataset(v.texts, parse_targets(v.labels, v.lines, v.where, v.column), v.pairs)
            for k, v in raws.items()
        }
    elif task == "multi_label":  # each row a 0/1 vector over the label names (distill/data/multilabel.py)
        sets = {
            k: label_sets(v.labels, v.lines, v.where, v.column, cfg.label_delimiter) for k, v in raws.items()
        }
        names = cfg.labels or sorted({n for row in sets["train"] for n in row})
        if len(names) < 2:
            raise DataError(f"{train.where}: multi-label data needs two or more labels, got {names}")
        splits = {
            k: TextDataset(v.texts, multi_hot(sets[k], names, v.lines, v.where, v.column), v.pairs)
            for k, v in raws.items()
        }
    else:
        names = cfg.labels or fixed_labels or sorted(set(train.labels))
        if len(names) < 2:
            raise DataError(f"{train.where}: only one label ({names[0]!r}); a classifier needs two or more")
        splits = {k: _to_ids(v, names) for k, v in raws.items()}

    missing = [s for s in ("dev", "test") if s not in splits]
    if missing:
        train = splits["train"]
        fractions = [getattr(cfg.split, s) for s in missing]
        strata = train.labels if task == "classification" else [0] * len(train)  # otherwise: plain random
        parts = _stratified_split(len(names), strata, fractions, cfg.split.seed)
        for split, idx in zip(missing, parts, strict=False):
            splits[split] = train.subset(idx)
        splits["train"] = train.subset(parts[-1])
    else:  # still shuffle train deterministically, so `max_train_examples` takes a fair sample
        rng = random.Random(cfg.split.seed)
        order = list(range(len(splits["train"])))
        rng.shuffle(order)
        splits["train"] = splits["train"].subset(order)

    if cfg.max_train_examples:
        splits["train"] = splits["train"].subset(
            list(range(min(cfg.max_train_examples, len(splits["train"]))))
        )
    if cfg.max_eval_examples:
        for s in ("dev", "test"):
            splits[s] = splits[s].subset(list(range(min(cfg.max_eval_examples, len(splits[s])))))
    for s in ("train", "dev", "test"):
        if len(splits[s]) == 0:
            raise DataError(f"{cfg.source}: the {s} split is empty; give more data or change data.split")
    return DataSplits(splits["train"], splits["dev"], splits["test"], list(names), task, reason)

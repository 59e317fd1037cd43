"""Unlabeled text the student also learns from: student.yaml's ``transfer:`` key (a transfer set).

Hinton et al. (2015) distill on a *transfer set*: inputs the teacher labels, whether or not they
have gold labels. With ``transfer: unlabeled.txt`` in student.yaml, ``distill run``:

1. fine-tunes (or checks) the teacher on the training split alone, as without it;
2. appends the file's texts to what the student trains on (the training split, augmented when
   ``augment:`` is set; the transfer texts are not augmented); the teacher's outputs on a transfer
   text are that text's only target, so every objective of every stage must learn from the
   teacher: one that reads the gold labels (``labels`` in its ``needs``: ``ce``, ``mse``, ``bce``)
   is refused before anything loads, by name;
3. drops a transfer text that is also a dev or test input (the student would be fitted to the
   teacher's outputs on the very inputs it is scored on), one already in the training split, and
   repeats; the counts are logged and recorded in metrics.json (``data.transfer``).

The file: ``.txt``, one text per non-blank line (single-text tasks); or ``.csv`` / ``.tsv`` /
``.jsonl`` with the data's text column (``data.text_column``, a GLUE task's own columns) and, for
a sentence-pair task, its pair column; other columns (a label, an id) are ignored. It is read
whole, in ``data.encoding``, by the pre-flight, so ``distill validate`` reports a bad line.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from distill.config import StudentConfig
from distill.core.errors import ConfigError, DataError
from distill.core.readers import iter_lines, iter_rows, require_columns
from distill.data.config import DataConfig
from distill.data.dataset import GLUE_TASKS, DataSplits, TextDataset
from distill.objectives import OBJECTIVES

# A transfer row's label: never read, since every objective must learn from the teacher; chosen
# so a gold loss that read one anyway would not pass unnoticed (cross-entropy's ignore index; NaN).
NO_CLASS = -100
SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")


@dataclass
class TransferSet:
    """The transfer texts kept (and pairs, for a pair task) and what was dropped, by reason."""

    path: str
    texts: list[str]
    pairs: list[str] | None
    read: int  # non-blank rows in the file
    in_eval: int  # dropped: a dev or test input
    in_train: int  # dropped: already a training input
    repeats: int  # dropped: a repeat of an earlier transfer row

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        """A content hash of the kept texts: part of the resume key (another file is another run)."""
        h = hashlib.sha256()
        for t, p in zip(self.texts, self.pairs or [None] * len(self), strict=True):
            h.update(f"{t}\x1f{p}\x1e".encode())
        return h.hexdigest()

    def summary(self) -> dict:
        """metrics.json's ``data.transfer``."""
        keys = ("path", "read", "in_eval", "in_train", "repeats")
        return {"rows": len(self), **{k: getattr(self, k) for k in keys}}

    def line(self) -> str:
        """What the log and ``distill validate`` say of it."""
        return (
            f"transfer: {len(self):,} texts from {self.path} (of {self.read:,} read; dropped {self.in_eval:,} "
            f"dev/test inputs, {self.in_train:,} training inputs, {self.repeats:,} repeats); "
            "the teacher's outputs are their only targets"
        )


def check_objectives(cfg: StudentConfig, source: str) -> None:
    """Refuse a stage objective that reads the gold labels: a transfer text has none."""
    for i, stage in enumerate(cfg.stages):
        for name in stage.objectives:
            if "labels" in OBJECTIVES.get(name).needs:
                raise ConfigError(
                    f"{source}: stages.{i}.objectives.{name}: reads the gold labels, and the transfer set's "
                    f"texts (transfer: {cfg.transfer}) have none; learn from the teacher alone in every stage "
                    "(e.g. logit_mse, pred, kd_kl, soft_bce), or remove `transfer`"
                )


def text_columns(data: DataConfig) -> tuple[str, str | None]:
    """The text (and pair) column names of the training data: a GLUE task's, else data's keys."""
    if data.glue_task:
        text, pair, _, _ = GLUE_TASKS[data.glue_task]
        return text, pair
    return data.text_column, data.text_pair_column


def _rows(path: Path, data: DataConfig, pair: bool, where: str) -> list[tuple[str, str | None]]:
    """(text, pair) of each row of the file with text; see the module docstring for the formats."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{where}: {path}: cannot tell the format from the extension {suffix or '(none)'!r}; "
            f"expected one of {', '.join(SUFFIXES)}"
        )
    try:
        if suffix == ".txt":
            if pair:
                raise ConfigError(
                    f"{where}: a .txt file holds one text per line, and the task reads sentence pairs; "
                    "give a .csv, .tsv or .jsonl with both columns"
                )
            return [(line, None) for _, line in iter_lines(path, data.encoding)]
        text, second = text_columns(data)
        rows, checked = [], False
        for _, row in iter_rows(path, suffix[1:], data.encoding):
            if not checked:
                require_columns(path, list(row), [text, second] if pair else [text])
                checked = True
            if row[text].strip() and (not pair or row[second].strip()):
                rows.append((row[text], row[second] if pair else None))
        return rows
    except DataError as e:
        raise DataError(f"{where}: {e}") from None


def load_transfer(
    cfg: StudentConfig, data: DataConfig, splits: DataSplits, source: str
) -> TransferSet | None:
    """student.yaml's transfer set, read and filtered (None without ``transfer:``); refuses a missing
    or malformed file and one with no text left once filtered (:func:`check_objectives`, which needs
    no data, runs earlier, in the pre-flight's plan)."""
    if not cfg.transfer:
        return None
    where = f"{source}: transfer"
    path = Path(cfg.transfer)
    if not path.is_file():
        raise ConfigError(f"{where}: no such file: {path}")
    pair = splits.train.pairs is not None

    def inputs(d: TextDataset) -> set[tuple[str, str | None]]:
        return set(zip(d.texts, d.pairs or [None] * len(d), strict=True))

    held, train = inputs(splits.dev) | inputs(splits.test), inputs(splits.train)
    rows = _rows(path, data, pair, where)
    kept: dict[tuple[str, str | None], None] = {}
    in_eval = in_train = repeats = 0
    for row in rows:
        if row in held:
            in_eval += 1
        elif row in train:
            in_train += 1
        elif row in kept:
            repeats += 1
        else:
            kept[row] = None
    if not kept:
        raise DataError(
            f"{where}: {path}: no text left of {len(rows):,} rows ({in_eval:,} dev/test inputs, "
            f"{in_train:,} training inputs, {repeats:,} repeats)"
        )
    texts = [t for t, _ in kept]
    pairs = [p for _, p in kept] if pair else None
    return TransferSet(str(path), texts, pairs, len(rows), in_eval, in_train, repeats)  # type: ignore[arg-type]


def with_transfer(train: TextDataset, transfer: TransferSet, task: str, n_labels: int) -> TextDataset:
    """``train`` and the transfer texts after it, each transfer row with a label no loss reads."""
    blank = {"classification": NO_CLASS, "regression": math.nan}.get(task, [math.nan] * n_labels)
    pairs = None if train.pairs is None else train.pairs + (transfer.pairs or [])
    return TextDataset(train.texts + transfer.texts, list(train.labels) + [blank] * len(transfer), pairs)

"""Evaluation / calibration text sets read from the project's data files, and their tokenisation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distill.core.errors import DataError
from distill.core.readers import iter_rows


@dataclass
class EvalSet:
    texts: list[str]
    # class ids; a regression's targets; a multi-label task's 0/1 rows; None for calibration-only sets
    labels: list | None = None
    pairs: list[str] | None = None
    label_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


def read_eval_set(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    text_pair_column: str | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
    limit: int | None = None,
    label2id: dict[str, int] | None = None,
    task: str = "classification",
) -> EvalSet:
    """Read texts (and labels) from a csv/tsv/glue/jsonl file with ``iter_rows``.

    Labels of a classifier may be ids ("0", "1") or names found in ``label2id`` (the model config's
    mapping); a regression's are numbers; a multi-label model's are lists or delimited names of
    ``label2id``'s labels (:mod:`distill.data.multilabel`), read as 0/1 rows in its id order.
    """
    texts: list[str] = []
    pairs: list[str] | None = [] if text_pair_column else None
    raw_labels: list[str] = []
    lines: list[int] = []
    for lineno, row in iter_rows(path, fmt, encoding=encoding):
        for col in (text_column, label_column, text_pair_column):
            if col and col not in row:
                raise DataError(f"{path}: line {lineno}: no column {col!r}; columns are {sorted(row)}")
        texts.append(row[text_column])
        if pairs is not None:
            pairs.append(row[text_pair_column])
        if label_column:
            raw_labels.append(row[label_column].strip())
            lines.append(lineno)
        if limit and len(texts) >= limit:
            break
    if not texts:
        raise DataError(f"{path}: no rows")
    labels = None
    names: list[str] = []
    if label_column and task != "classification":
        labels, names = _task_labels(raw_labels, lines, f"{path}", label_column, label2id, task)
    elif label_column:
        if label2id and all(x in label2id for x in raw_labels):
            labels = [label2id[x] for x in raw_labels]
            names = sorted(label2id, key=label2id.get)
        elif all(x.lstrip("-").isdigit() for x in raw_labels):
            labels = [int(x) for x in raw_labels]
        else:
            names = sorted(set(raw_labels))
            labels = [names.index(x) for x in raw_labels]
    return EvalSet(texts=texts, labels=labels, pairs=pairs, label_names=names)


def _task_labels(
    raw: list[str], lines: list[int], where: str, column: str, label2id: dict[str, int] | None, task: str
) -> tuple[list, list[str]]:
    """A regression's float targets, or a multi-label model's 0/1 rows over its label2id names."""
    from distill.data.labels import parse_targets
    from distill.data.multilabel import label_sets, multi_hot

    if task == "regression":
        return parse_targets(raw, lines, where, column), [column]
    if not label2id:
        raise DataError(f"{where}: a multi-label model's labels need its config.json's label2id")
    names = sorted(label2id, key=label2id.get)
    return multi_hot(label_sets(raw, lines, where, column), names, lines, where, column), names


def teacher_split(
    teacher_yaml: str | Path, split: str, limit: int | None, label2id: dict[str, int] | None
) -> EvalSet:
    """A split of a teacher.yaml's data, exactly as ``distill run`` loads it (embedded corpus included);
    labels mapped onto the model's ``label2id`` by name when every name is in it (a multi-label
    task's 0/1 columns put in its id order; a regression's targets as they are)."""
    from distill.config import load_teacher_config
    from distill.data.dataset import load_splits
    from distill.data.labels import TASKS

    splits = load_splits(load_teacher_config(teacher_yaml).data, TASKS)
    data = getattr(splits, split)
    n = min(len(data), limit) if limit else len(data)
    names = splits.label_names
    labels = data.labels[:n]
    aligned = splits.task != "regression" and label2id and all(x in label2id for x in names)
    if aligned and splits.task == "multi_label":
        order = [names.index(x) for x in sorted(label2id, key=label2id.get)]
        labels, names = [[row[j] for j in order] for row in labels], [names[j] for j in order]
    elif aligned:
        labels, names = [label2id[names[y]] for y in labels], sorted(label2id, key=label2id.get)
    return EvalSet(
        texts=data.texts[:n], labels=labels, pairs=data.pairs[:n] if data.pairs else None, label_names=names
    )


def trained_inputs(model_dir: str | Path) -> tuple[int | None, str | None]:
    """(max_length, text_pair_column) of the `distill run` that saved ``model_dir``, read from the
    config.resolved.yaml it wrote there; (None, None) for a folder saved otherwise. They say how the
    model was evaluated: export verifies, and bench evaluates, it the same way."""
    import yaml

    path = Path(model_dir) / "config.resolved.yaml"
    try:
        teacher = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("teacher") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return None, None
    data = teacher.get("data") or {}
    max_len = teacher.get("max_length")
    return (max_len if isinstance(max_len, int) else None), data.get("text_pair_column")


def encode_batches(
    tokenizer, texts: list[str], pairs: list[str] | None, max_len: int, batch_size: int, types: bool = False
) -> Iterator[tuple[np.ndarray, ...]]:
    """(input_ids, attention_mask) int64 [B, T<=max_len] batches, padded to each batch's longest;
    ``types``: (input_ids, attention_mask, token_type_ids), for models that take them (a BERT whose
    tokenizer produces them, a pair BiLSTM)."""
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[i : i + batch_size],
            pairs[i : i + batch_size] if pairs else None,
            truncation=True,
            max_length=max_len,
            padding=True,
            return_tensors="np",
        )
        ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        if types:
            # Single texts (no pairs given) are all sentence one.
            yield (
                ids,
                mask,
                enc["token_type_ids"].astype(np.int64) if "token_type_ids" in enc else np.zeros_like(ids),
            )
        else:
            yield ids, mask


def pad_id(tokenizer) -> int:
    """The id a tokenizer pads with (BERT 0, MPNet 1); 0 without a tokenizer (random-weight BERT shapes)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    return 0 if pad is None else int(pad)


def synthetic_batch(
    batch: int, seq_len: int, vocab_size: int, seed: int = 0, types: bool = False
) -> tuple[np.ndarray, ...]:
    """Random full-length token ids: speed depends on shapes only, not on which tokens.
    ``types``: also token_type_ids, the second half of each row a second sentence."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000 if vocab_size > 2000 else 1, vocab_size, size=(batch, seq_len), dtype=np.int64)
    if not types:
        return ids, np.ones_like(ids)
    token_types = np.zeros_like(ids)
    token_types[:, seq_len // 2 :] = 1
    return ids, np.ones_like(ids), token_types

"""Multi-label targets: each row's set of label names, and its multi-hot vector.

A row's labels are a JSON or Python list literal (``["sports", "negative"]``, a JSONL list value
too), or a delimited string (``sports,negative``) split at ``data.label_delimiter`` (default: the
first of :data:`~distill.data.labels.DELIMITERS` the column uses). Parts are stripped, blanks
dropped, a repeated name counted once; a row may hold no label at all (``[]`` or an empty cell).
The label set is the sorted union of the training rows' names (or ``data.labels``, in its order);
a dev or test row naming another label is refused with its line.
"""

from __future__ import annotations

from collections.abc import Sequence

from distill.core.errors import DataError
from distill.data.labels import DELIMITERS, list_literal


def delimiter_of(labels: Sequence[str]) -> str | None:
    """The delimiter a label column uses: the first of DELIMITERS found in a label, else None."""
    return next((d for d in DELIMITERS if any(d in y for y in labels)), None)


def label_sets(
    labels: Sequence[str], lines: Sequence[int], where: str, column: str, delimiter: str | None = None
) -> list[list[str]]:
    """Each row's label names, in first-seen order (see the module docstring)."""
    sep = delimiter or delimiter_of([y for y in labels if list_literal(y) is None])
    out = []
    for y, line in zip(labels, lines, strict=True):
        listed = list_literal(y.strip())
        if listed is not None:
            if not all(isinstance(v, str | int) for v in listed):
                raise DataError(
                    f"{where}: line {line}: label column {column!r} holds {y!r}: a list of label names expected"
                )
            parts = [str(v).strip() for v in listed]
        else:
            parts = [p.strip() for p in (y.split(sep) if sep else [y])]
        out.append(list(dict.fromkeys(p for p in parts if p)))
    return out


def multi_hot(
    sets: Sequence[Sequence[str]], names: Sequence[str], lines: Sequence[int], where: str, column: str
) -> list[list[float]]:
    """0/1 vectors over ``names``; a DataError names the line of a label outside them."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for labels, line in zip(sets, lines, strict=True):
        row = [0.0] * len(names)
        for name in labels:
            if name not in index:
                raise DataError(
                    f"{where}: line {line}: label column {column!r} names {name!r}, not one of the "
                    f"training labels ({', '.join(names)})"
                )
            row[index[name]] = 1.0
        out.append(row)
    return out

"""What a label column holds: class names, regression targets or label lists (``data.task``).

``data.task: auto`` (the default) infers it from the training labels and says why in the log;
``classification``, ``regression`` or ``multi_label`` declares it (``distill run`` trains all
three; what each other command takes, :func:`supported` says). Inference only decides where it
is unambiguous, leaning towards classification: refusing a real classification task is worse than
letting an odd one through (its labels are listed in the log and in ``validate``'s output).
Without it every distinct float would become a class (hundreds of classes, a dev split of one
example, then a confusing majority-class error after the teacher fine-tuned for minutes), and
"negative,sports" a combination class.

- Numbers, not all integers (``0.13``, ``2.5``): a regression target, however few the values.
  Integers written as floats (``0.0``, ``1.0``) count as integers. A code like ``1.2`` that is a
  class must be spelled as a name (``c1.2``), declared in ``data.labels`` or ``task: classification``.
- Integers: class ids when there are at most :data:`MAX_FREE_INTEGER_CLASSES` of them (star
  ratings, ``-1/0/1`` polarity, a few codes), or when they start at 0 or 1 and use at least
  :data:`MIN_ID_COVERAGE` of the ids up to the largest (``0..k-1`` with a few ids absent from a
  file). Many scattered integers (counts, years, scores out of 100) are a regression target.
- Lists: a label that is a JSON/Python list literal (``["a", "b"]``), or that a delimiter of
  :data:`DELIMITERS` splits into parts of which one also occurs in another label
  (``negative,sports`` beside ``negative``, or ``a|b`` beside ``b|c``). A name that merely holds a
  comma (``Arts, Culture``) whose parts are no labels elsewhere is a class name.

Labels declared in ``data.labels``, or fixed by the source (the embedded corpora), are class names.
Which tasks a command trains is its own business: :func:`require_task` words the refusal.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter
from collections.abc import Iterable

from distill.core.errors import DataError

DELIMITERS = (",", ";", "|")
MAX_FREE_INTEGER_CLASSES = 20
MIN_ID_COVERAGE = 0.9
TASKS = ("classification", "regression", "multi_label")
SUPPORTED = {
    "classification": "classification with class-name or integer labels",
    "regression": "regression (numeric targets)",
    "multi_label": "multi-label (lists of label names)",
}


def supported(tasks: tuple[str, ...]) -> str:
    """What a command that trains ``tasks`` supports, and where the others are (for its refusal)."""
    return "supported here: " + "; ".join(SUPPORTED[t] for t in tasks if t in SUPPORTED)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _shown(values: list[str], quote: bool = False, n: int = 3) -> str:
    parts = [repr(v) if quote else v for v in values[:n]]
    return ", ".join(parts) + (", ..." if len(values) > n else "")


def list_literal(label: str) -> list | None:
    """The list a label spells as a JSON or Python literal (``["a", "b"]``), else None."""
    if not (label.startswith("[") and label.endswith("]")):
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(label)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        return value if isinstance(value, list) else None
    return None


def _is_list_literal(label: str) -> bool:
    return list_literal(label) is not None


def _lists(distinct: list[str]) -> list[str]:
    """The labels that are lists of labels (see the module docstring), in file order."""
    lists = [y for y in distinct if _is_list_literal(y)]
    if lists:
        return lists
    for sep in DELIMITERS:
        split = {y: [p.strip() for p in y.split(sep)] for y in distinct if sep in y}
        if not split:
            continue
        seen_in = Counter(p for y in distinct for p in set(split.get(y, [y])) if p)
        if any(seen_in[p] > 1 for parts in split.values() for p in parts):
            return list(split)
    return []


def _regression(distinct: list[str]) -> str | None:
    """What makes all-numeric labels look like a regression target, or None."""
    if not distinct or not all(_NUMBER.fullmatch(y) for y in distinct):
        return None
    values = [float(y) for y in distinct]
    if not all(v.is_integer() for v in values):
        return f"{len(distinct)} distinct numbers, not all integers ({_shown(distinct)})"
    ints = sorted({int(v) for v in values})
    if len(ints) <= MAX_FREE_INTEGER_CLASSES:
        return None
    low, high = ints[0], ints[-1]
    if low in (0, 1) and len(ints) >= MIN_ID_COVERAGE * (high - low + 1):
        return None
    return f"{len(ints)} distinct integers that are not the class ids 0..k-1 or 1..k ({_shown(distinct)})"


def infer_task(labels: Iterable[str]) -> tuple[str, str]:
    """The task the label column's values mean, and why (for the log and for errors)."""
    distinct = list(dict.fromkeys(labels))  # file order, for the examples in the message
    lists = _lists(distinct)
    if lists:
        return (
            "multi_label",
            f"holds lists of labels ({_shown(lists, quote=True)}): looks like multi-label data",
        )
    what = _regression(distinct)
    if what:
        return "regression", f"holds {what}: looks like a regression target"
    return "classification", f"holds {len(distinct)} class labels ({_shown(sorted(distinct))})"


def parse_targets(labels: list[str], lines: list[int], where: str, column: str) -> list[float]:
    """Regression targets as floats; a DataError names the line of one that is not a finite number."""
    out = []
    for y, line in zip(labels, lines, strict=True):
        try:
            value = float(y)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(
                f"{where}: line {line}: label column {column!r} holds {y!r}, not a finite number "
                "(task: regression)"
            )
        out.append(value)
    return out


def require_task(
    task: str, why: str, declared: bool, where: str, column: str, tasks: tuple[str, ...]
) -> None:
    """Refuse a task the caller does not train (``declared``: set in data.task, else inferred)."""
    if task in tasks:
        return
    if declared:
        raise DataError(f"{where}: data.task: {task}: {supported(tasks)}")
    raise DataError(
        f"{where}: label column {column!r} {why} (task {task}, inferred; data.task overrides it); {supported(tasks)}"
    )

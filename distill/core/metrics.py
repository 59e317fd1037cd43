"""The scores a model of each task is measured by, as plain Python over predictions and targets
(no torch: export, bench and reports use them on numpy outputs, the training loop on its own):
accuracy and macro-F1 of a classifier; Pearson, Spearman and MSE of a regression; micro-/macro-F1
and subset accuracy of a multi-label model at per-label thresholds.

Which score ranks models of a task (the best dev weights, the sanity bar, "% of the teacher") is
:data:`PRIMARY`; :func:`task_of` reads the task off the number of outputs, as Hugging Face infers
``problem_type`` (one output: regression).
"""

from __future__ import annotations

TASKS = ("classification", "regression", "multi_label")  # the tasks a model is scored for
PRIMARY = {"classification": "accuracy", "regression": "pearson", "multi_label": "micro_f1"}
REPORTED = {
    "classification": ("accuracy", "f1"),
    "regression": ("pearson", "spearman", "mse"),
    "multi_label": ("micro_f1", "macro_f1", "subset_accuracy"),
}
METRIC_NAMES = {
    "accuracy": "accuracy",
    "f1": "macro-F1",
    "pearson": "Pearson r",
    "spearman": "Spearman rho",
    "mse": "MSE",
    "micro_f1": "micro-F1",
    "macro_f1": "macro-F1",
    "subset_accuracy": "subset accuracy",
}
RATES = ("accuracy", "f1", "micro_f1", "macro_f1", "subset_accuracy")  # shown in percent


def column_name(metric: str) -> str:
    """A metric as a table's column names it: a classifier's ``acc`` and ``F1``, the rest by name."""
    return {"accuracy": "acc", "f1": "F1"}.get(metric, METRIC_NAMES[metric])


def task_of(num_labels: int, labels: list | None = None) -> str:
    """``multi_label`` when the gold labels are 0/1 vectors, ``regression`` for a model with one
    output, else ``classification``."""
    if labels and isinstance(labels[0], list):
        return "multi_label"
    return "regression" if num_labels == 1 else "classification"


def primary_metric(num_labels: int, labels: list | None = None) -> str:
    """The score that ranks models: accuracy, Pearson's r for one output, micro-F1 for 0/1 vectors."""
    return PRIMARY[task_of(num_labels, labels)]


def shown(metric: str, value: float) -> str:
    """A score as reports print it: rates in percent, correlations and errors as plain numbers."""
    return f"{value:.1%}" if metric in RATES else f"{value:.4f}"


def confusion_counts(preds: list[int], labels: list[int], num_labels: int) -> list[float]:
    """``[correct, n, tp_0.., predicted_0.., actual_0..]``: what accuracy and macro-F1 are made of,
    and what ranks add up when each has evaluated a slice of the split."""
    tp, predicted, actual = [0] * num_labels, [0] * num_labels, [0] * num_labels
    for p, y in zip(preds, labels, strict=True):
        tp[p] += p == y
        predicted[p] += 1
        actual[y] += 1
    return [float(sum(tp)), float(len(labels)), *tp, *predicted, *actual]


def scores(counts: list[float], num_labels: int) -> dict[str, float]:
    """Accuracy and macro-F1 from :func:`confusion_counts` (summed over any number of slices)."""
    correct, n = counts[0], counts[1]
    tp, predicted, actual = (counts[2 + k * num_labels : 2 + (k + 1) * num_labels] for k in range(3))
    f1s = [2 * t / (p + a) for t, p, a in zip(tp, predicted, actual, strict=True) if p + a]
    return {"accuracy": correct / n, "f1": sum(f1s) / len(f1s)}


def accuracy_f1(preds: list[int], labels: list[int], num_labels: int | None = None) -> dict[str, float]:
    """Accuracy and macro-averaged F1: each label's F1, averaged with equal weight over the labels
    that occur in ``labels`` or ``preds`` (scikit-learn's ``f1_score(average="macro")``; a label
    absent from both has no defined F1 and is left out rather than counted as 0)."""
    n = max([*preds, *labels, (num_labels or 0) - 1]) + 1
    return scores(confusion_counts(preds, labels, n), n)


def pearson(x: list[float], y: list[float]) -> float:
    """Pearson's r; 0.0 where either side is constant (no linear relation can be measured, as for a
    model that predicts one value: the regression baseline)."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else 0.0


def ranks(x: list[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span (as scipy.stats.rankdata)."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    out = [0.0] * len(x)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and x[order[end + 1]] == x[order[start]]:
            end += 1
        for k in range(start, end + 1):
            out[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return out


def regression_scores(preds: list[float], targets: list[float]) -> dict[str, float]:
    """Pearson and Spearman correlation (GLUE STS-B's metrics) and the mean squared error."""
    mse = sum((p - t) ** 2 for p, t in zip(preds, targets, strict=True)) / len(targets)
    return {"pearson": pearson(preds, targets), "spearman": pearson(ranks(preds), ranks(targets)), "mse": mse}


def multilabel_scores(
    probs: list[list[float]], targets: list[list[float]], thresholds: list[float] | None = None
) -> dict[str, float]:
    """A multi-label task's scores at per-label ``thresholds`` (default 0.5): micro-F1 (every label
    decision of every row pooled), macro-F1 (each label's F1, averaged over the labels that occur in
    the targets or the predictions, as for :func:`accuracy_f1`) and subset accuracy (rows whose every
    label is right)."""
    k = len(targets[0]) if targets else 0
    cut = thresholds or [0.5] * k
    tp, fp, fn = [0] * k, [0] * k, [0] * k
    exact = 0
    for p_row, y_row in zip(probs, targets, strict=True):
        right = True
        for j in range(k):
            pred, gold = p_row[j] >= cut[j], y_row[j] >= 0.5
            tp[j] += pred and gold
            fp[j] += pred and not gold
            fn[j] += gold and not pred
            right &= pred == gold
        exact += right
    f1s = [2 * t / (2 * t + a + b) for t, a, b in zip(tp, fp, fn, strict=True) if 2 * t + a + b]
    pooled = 2 * sum(tp) + sum(fp) + sum(fn)
    return {
        "micro_f1": 2 * sum(tp) / pooled if pooled else 0.0,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "subset_accuracy": exact / len(targets),
    }


THRESHOLD_GRID = [round(0.05 * i, 2) for i in range(1, 20)]  # 0.05 .. 0.95


def tune_thresholds(probs: list[list[float]], targets: list[list[float]]) -> list[float]:
    """Each label's decision threshold: the one of :data:`THRESHOLD_GRID` with the best F1 of that
    label on these (dev) rows; ties go to the threshold nearest 0.5, a label absent from the rows
    keeps 0.5."""
    k = len(targets[0]) if targets else 0
    best = []
    for j in range(k):
        column = [(p[j], y[j] >= 0.5) for p, y in zip(probs, targets, strict=True)]

        def f1(t: float, column=column) -> float:
            tp = sum(p >= t and g for p, g in column)
            wrong = sum((p >= t) != g for p, g in column)
            return 2 * tp / (2 * tp + wrong) if 2 * tp + wrong else 0.0

        if not any(g for _, g in column):
            best.append(0.5)
            continue
        best.append(max(THRESHOLD_GRID, key=lambda t: (f1(t), -abs(t - 0.5))))
    return best

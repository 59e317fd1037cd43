"""What a saved model's outputs mean, and how export and bench score and compare them.

A model folder's config.json says its task (as ``distill run`` saved it): ``problem_type:
regression`` (or a single output, as Hugging Face infers it) is a regression whose one output is
the score; ``multi_label_classification`` is a multi-label model whose outputs are per-label
logits, decided at the per-label ``label_thresholds`` tuned on dev (0.5 where none are saved);
anything else is a classifier whose decision is the arg-max. Export verification and the
benchmark compare a graph with its PyTorch model by those decisions, and score them by the task's
metrics (:data:`distill.core.metrics.REPORTED`), the first of which ranks variants:

- classification: the share of inputs whose predicted class is the same; accuracy, macro-F1;
- multi-label: the share of (input, label) decisions that are the same; micro-F1, macro-F1,
  subset accuracy;
- regression: the share of inputs whose score is within :data:`REGRESSION_TOLERANCE` of the
  reference's standard deviation over those inputs (a graph that shifts or scales every score
  fails it, as a broken classifier graph fails on classes); Pearson, Spearman, MSE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.core.metrics import (
    PRIMARY,
    RATES,
    REPORTED,
    accuracy_f1,
    column_name,
    multilabel_scores,
    regression_scores,
)

# A regression graph agrees on an input when |Δscore| <= this share of the reference scores' std:
# FP32 graphs differ by ~1e-6 of it, INT8 graphs by a few hundredths; a wrong graph by far more.
REGRESSION_TOLERANCE = 0.1
PROBLEM_TASKS = {"regression": "regression", "multi_label_classification": "multi_label"}


@dataclass(frozen=True)
class Task:
    """A model's task and, for a multi-label model, its per-label decision thresholds."""

    name: str = "classification"
    thresholds: tuple[float, ...] | None = None

    @property
    def metric(self) -> str:
        """The score that ranks variants: accuracy, Pearson r or micro-F1."""
        return PRIMARY[self.name]

    @property
    def metrics(self) -> tuple[str, ...]:
        return REPORTED[self.name]

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        """outputs (N, C) -> class ids (N,), scores (N,) or 0/1 label decisions (N, C)."""
        if self.name == "regression":
            return outputs[:, 0]
        if self.name == "multi_label":
            cut = np.asarray(self.thresholds if self.thresholds else [0.5] * outputs.shape[1])
            return (sigmoid(outputs) >= cut).astype(np.int64)
        return outputs.argmax(-1)

    def agreement(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        """How often ``candidate``'s outputs (N, C) decide as ``reference``'s (module docstring)."""
        ref, cand = self.decisions(reference), self.decisions(candidate)
        if self.name == "regression":
            tolerance = REGRESSION_TOLERANCE * float(ref.std()) if len(ref) > 1 else 0.0
            return float((np.abs(ref - cand) <= max(tolerance, 1e-6)).mean())
        return float((ref == cand).mean())

    def scores(self, outputs: np.ndarray, labels) -> dict[str, float]:
        """The task's metrics of outputs (N, C) against gold labels (class ids, targets or 0/1 rows)."""
        n = len(outputs)
        if self.name == "regression":
            return regression_scores(outputs[:n, 0].tolist(), [float(y) for y in labels[:n]])
        if self.name == "multi_label":
            probs = sigmoid(outputs).tolist()
            return multilabel_scores(
                probs, [list(y) for y in labels[:n]], list(self.thresholds or []) or None
            )
        return accuracy_f1(outputs.argmax(-1).tolist(), [int(y) for y in labels[:n]], outputs.shape[1])

    def describe(self) -> str:
        """One line for reports: the task and what its agreement and score mean."""
        if self.name == "regression":
            return f"regression: agreement = |Δscore| <= {REGRESSION_TOLERANCE:g}·std; score = Pearson r"
        if self.name == "multi_label":
            return (
                "multi-label: agreement = same per-label decisions at the saved thresholds; score = micro-F1"
            )
        return "classification: agreement = same predicted class; score = accuracy"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def task_of_config(cfg: dict) -> Task:
    """The task of a model from its config.json (a Hugging Face config or the BiLSTM's own)."""
    problem = cfg.get("problem_type")
    n = len(cfg.get("id2label") or {}) or cfg.get("num_labels") or 2
    name = PROBLEM_TASKS.get(problem) or ("regression" if n == 1 and problem is None else "classification")
    thresholds = cfg.get("label_thresholds") if name == "multi_label" else None
    return Task(name, tuple(float(t) for t in thresholds) if thresholds else None)


def task_of_model(model_dir: str | Path) -> Task:
    """:func:`task_of_config` of a saved model folder (classification where config.json is unreadable)."""
    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Task()
    return task_of_config(cfg if isinstance(cfg, dict) else {})


def metric_label(metric: str) -> str:
    """A metric as a report's column names it: rates in percent, a correlation or MSE as ×100."""
    name = column_name(metric)
    return f"{name} %" if metric in RATES else f"{name} ×100"


def score_of(variant: dict) -> float | None:
    """A bench variant's primary score (reports written before ``score`` existed: ``accuracy``)."""
    return variant.get("score", variant.get("accuracy"))

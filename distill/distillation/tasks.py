"""What the data's task (``data.task``) changes in ``distill run``: which objectives apply, what
the student is measured by and against, and what is not offered for it yet.

A classification is scored by accuracy against the majority class; a regression (one output, its
prediction; ``problem_type: regression``) by Pearson's r against 0, the r of always predicting the
training mean (which is also the MSE baseline the teacher must beat, see
:func:`distill.train.teacher.check_teacher`). The primary metric (``distill.train.evaluate.PRIMARY``)
is the one the best dev weights are chosen by, the sanity bar compares and "% of the teacher" divides.
"""

from __future__ import annotations

import torch

from distill.core.errors import ConfigError
from distill.data.dataset import DataSplits
from distill.distillation.sanity import Bar
from distill.models.head import output_layer, start_at_mean
from distill.objectives.spec import check_task as check_objectives
from distill.train.evaluate import PRIMARY
from distill.train.teacher import mean_baseline

# What `distill run` does not offer a regression yet, with the key that asks for it.
NOT_FOR_REGRESSION = {
    "export": "the INT8 graphs are verified by agreement on predicted classes",
    "augment": "the augmenters carry class labels",
}


def check_run_task(cfg, splits: DataSplits, source: str) -> None:
    """Refuse, before anything is trained, what ``distill run`` cannot do for the data's task:
    every stage's objectives must apply to it, and a regression has no ``export:`` or ``augment:`` yet."""
    for i, stage in enumerate(cfg.stages):
        check_objectives(
            stage.objectives, splits.task, source, ("stages", i, "objectives"), splits.task_reason
        )
    if splits.task != "regression":
        return
    for key, why in NOT_FOR_REGRESSION.items():
        if getattr(cfg, key) is not None:
            raise ConfigError(
                f"{source}: {key}: not offered for a regression task yet ({why}); remove `{key}:`"
            )


def bar_for(splits: DataSplits, teacher_dev: dict[str, float]) -> Bar:
    """What the student's dev score must beat: the majority class (or the training mean) and the teacher."""
    metric = PRIMARY[splits.task]
    if splits.task == "regression":
        return Bar(teacher_dev[metric], 0.0, f"{mean_baseline(splits)[0]:.4g}", metric)
    return Bar(teacher_dev[metric], *splits.majority_rate("dev"))


def baseline_block(splits: DataSplits) -> dict:
    """metrics.json's ``data`` figures of the baseline: the majority class, or the training mean."""
    if splits.task == "regression":
        mean, mse = mean_baseline(splits)
        return {"train_mean": mean, "mean_dev_mse": mse}
    majority, label = splits.majority_rate("dev")
    return {"majority_dev_accuracy": majority, "majority_label": label}


def set_task(student, teacher, splits: DataSplits) -> str | None:
    """Make a built student a regression model: ``problem_type: regression`` in its config (so a
    ``pipeline`` returns its raw score) and, unless its head came from the teacher (copied, or cut:
    its output bias is the teacher's), its output bias at the training mean (distill/models/head.py).
    Returns what was done to the head, for the log (None: nothing)."""
    if splits.task != "regression":
        return None
    config = getattr(student, "config", None)  # the BiLSTM saves its own format, without one
    if config is not None:
        config.problem_type = "regression"
    mine, theirs = output_layer(student, 1), output_layer(teacher, 1)
    if mine.bias is not None and theirs.bias is not None and torch.equal(mine.bias, theirs.bias):
        return None  # the head came from the teacher (copied, or cut with its bias): keep it
    mean = mean_baseline(splits)[0]
    start_at_mean(student, mean)
    return f"regression head's bias starts at the training mean {mean:.4g}"

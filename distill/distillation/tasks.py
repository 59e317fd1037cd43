"""What the data's task (``data.task``) changes in ``distill run``: which objectives apply, what
the student is measured by and against.

A classification is scored by accuracy against the majority class; a regression (one output, its
prediction; ``problem_type: regression``) by Pearson's r against 0, the r of always predicting the
training mean (which is also the MSE baseline the teacher must beat, see
:func:`distill.train.teacher.check_teacher`); a multi-label task (one sigmoid per label;
``problem_type: multi_label_classification``) by micro-F1 against predicting each label where most
training rows have it, the final scores at per-label thresholds tuned on dev (saved in the
student's config.json as ``label_thresholds``; training's best-dev choice uses 0.5). The primary metric (``distill.core.metrics.PRIMARY``)
is the one the best dev weights are chosen by, the sanity bar compares and "% of the teacher" divides.
"""

from __future__ import annotations

import torch

from distill.core.metrics import PRIMARY, multilabel_scores, task_of, tune_thresholds
from distill.data.dataset import DataSplits
from distill.distillation.sanity import Bar
from distill.models.head import output_layer, saved_settings, start_at_mean
from distill.objectives.spec import check_task as check_objectives
from distill.train.evaluate import evaluate, probabilities
from distill.train.teacher import PROBLEM_TYPES, label_baseline, mean_baseline

COMMON_LABELS = "predicting each label where most training rows have it"


def check_run_task(cfg, splits: DataSplits, source: str) -> None:
    """Refuse, before anything is trained, an objective of a stage that does not apply to the
    data's task (``ce`` on a regression, ``bce`` on one label per row, ...)."""
    for i, stage in enumerate(cfg.stages):
        check_objectives(
            stage.objectives, splits.task, source, ("stages", i, "objectives"), splits.task_reason
        )


def bar_for(splits: DataSplits, teacher_dev: dict[str, float]) -> Bar:
    """What the student's dev score must beat: the task's baseline, and the teacher."""
    metric = PRIMARY[splits.task]
    if splits.task == "regression":
        return Bar(teacher_dev[metric], 0.0, f"{mean_baseline(splits)[0]:.4g}", metric)
    if splits.task == "multi_label":
        return Bar(teacher_dev[metric], label_baseline(splits), COMMON_LABELS, metric)
    return Bar(teacher_dev[metric], *splits.majority_rate("dev"))


def baseline_block(splits: DataSplits) -> dict:
    """metrics.json's ``data`` figures of the baseline: the majority class, the training mean, or
    each label's training frequency and the micro-F1 of predicting the common ones."""
    if splits.task == "regression":
        mean, mse = mean_baseline(splits)
        return {"train_mean": mean, "mean_dev_mse": mse}
    if splits.task == "multi_label":
        n = len(splits.train)
        freq = [sum(col) / n for col in zip(*splits.train.labels, strict=True)]
        return {
            "label_frequency": dict(zip(splits.label_names, freq, strict=True)),
            "baseline_dev_micro_f1": label_baseline(splits),
        }
    majority, label = splits.majority_rate("dev")
    return {"majority_dev_accuracy": majority, "majority_label": label}


def set_task(student, teacher, splits: DataSplits) -> str | None:
    """Make a built student a model of the data's task: its config's ``problem_type`` (so a
    ``pipeline`` applies no softmax: a regression's raw score, a sigmoid per label) and, for a
    regression whose head did not come from the teacher (copied, or cut: its output bias is the
    teacher's), its output bias at the training mean (distill/models/head.py). Returns what was
    done to the head, for the log (None: nothing)."""
    if splits.task == "classification":
        return None
    saved_settings(student).problem_type = PROBLEM_TYPES[splits.task]  # written to config.json
    if splits.task != "regression":
        return None
    mine, theirs = output_layer(student, 1), output_layer(teacher, 1)
    if mine.bias is not None and theirs.bias is not None and torch.equal(mine.bias, theirs.bias):
        return None  # the head came from the teacher (copied, or cut with its bias): keep it
    mean = mean_baseline(splits)[0]
    start_at_mean(student, mean)
    return f"regression head's bias starts at the training mean {mean:.4g}"


def tuned_scores(model, dev, test, batch_size: int, device, world) -> tuple[dict, list[float]]:
    """A multi-label model's dev and test scores at per-label thresholds tuned on dev, and the
    thresholds (what the run reports, and saves in the student's config.json); one pass per split."""
    probs = {
        split: probabilities(model, data, batch_size, device, world)
        for split, data in (("dev", dev), ("test", test))
    }
    thresholds = tune_thresholds(probs["dev"], dev.labels)
    scores = {
        split: multilabel_scores(probs[split], data.labels, thresholds)
        for split, data in (("dev", dev), ("test", test))
    }
    return scores, thresholds


def final_scores(
    student, teacher, dev, test, teacher_scores: dict, num_labels: int, batch_size: int, device, world
):
    """The finished student's dev and test scores, and the teacher's as metrics.json reports them.
    Multi-label: both at per-label thresholds tuned on dev (:func:`tuned_scores`), the student's set
    in its config (``label_thresholds``, saved in config.json), the teacher's in its scores."""
    if task_of(num_labels, dev.labels) != "multi_label":
        scores = {
            s: evaluate(student, d.for_student(), num_labels, batch_size, device, world)
            for s, d in (("dev", dev), ("test", test))
        }
        return scores, teacher_scores
    scores, thresholds = tuned_scores(
        student, dev.for_student(), test.for_student(), batch_size, device, world
    )
    saved_settings(student).label_thresholds = thresholds
    t_scores, t_thresholds = tuned_scores(teacher, dev, test, batch_size, device, world)
    return {**scores, "thresholds": thresholds}, {**t_scores, "thresholds": t_thresholds}

"""Did the student learn anything? Its dev accuracy against the majority class and the teacher (a
regression: its dev Pearson r against 0, that of always predicting the training mean).

The teacher must beat the majority-class rate before distillation starts (``teacher.check_teacher``);
the student is measured after each stage that evaluates on dev and at the end. A student that is
not above the majority-class rate, or below :data:`TEACHER_FRACTION` of the teacher's dev
accuracy, gets a warning: in the log, the printed summary and metrics.json's ``warnings``, with the
likely cause and what to try. The usual cause is a schedule too short for a randomly initialised
student (a few hundred optimizer steps on a small task), or a learning rate that is off.

Before any training, :func:`step_budget` warns (validate prints it, run logs it and lists it in
metrics.json's ``warnings``) when a student whose Transformer layers start random gets fewer optimizer
steps, over all its stages, than such a student needs: :data:`RANDOM_LAYER_STEPS`.

``student.yaml: fail_below: majority | <fraction>`` turns the final check into an error
(:class:`~distill.core.errors.StudentBelowBar`, exit code 3); the student is still saved and
metrics.json still written, so the result can be inspected.
"""

from __future__ import annotations

from dataclasses import dataclass

from distill.config import StudentConfig
from distill.core.metrics import METRIC_NAMES, shown
from distill.train.schedule import steps_per_epoch, total_steps

TEACHER_FRACTION = 0.9  # below this share of the teacher's dev accuracy, a student gets a warning
RANDOM_INITS = ("random", "glove")  # nothing learned is copied in (glove: only the word vectors)
# Optimizer steps, all stages together, below which a student whose layers start random learns too
# little. Measured (experiments/reports/pruned-init/report.md, TinyBERT-4 of the MiniLM teacher with
# PCA embeddings and random layers, batch 32): 128 steps stayed at the majority rate, 252 reached
# 94.5% of the teacher, 752 99.7%; the same student cut out of the teacher reached 100-108% at each.
RANDOM_LAYER_STEPS = 750


def step_budget(cfg: StudentConfig, why_random: str | None, train_rows: int, source: str) -> str | None:
    """The warning for a student whose layers start random (``why_random``, from its family) and whose
    stages make fewer than :data:`RANDOM_LAYER_STEPS` optimizer steps on ``train_rows``; None otherwise."""
    if why_random is None:
        return None
    per_epoch = steps_per_epoch(train_rows, cfg.batch_size, cfg.train.grad_accum_steps)
    steps = [total_steps(s.epochs, per_epoch) for s in cfg.stages]
    if sum(steps) >= RANDOM_LAYER_STEPS:
        return None
    stages = ", ".join(f"{s.name} {n:,}" for s, n in zip(cfg.stages, steps, strict=True))
    other = (
        "family: distilbert (the teacher's own layers, copied)"
        if why_random.startswith("init: teacher")
        else "init: teacher (a student cut out of the teacher)"
    )
    todo = f"{other}, more epochs (stages.N.epochs, x{RANDOM_LAYER_STEPS / sum(steps):.1f}) or more training data"
    return (
        f"{source}: the student's layers start random ({why_random}) and its stages make {sum(steps):,} "
        f"optimizer steps ({stages}; {train_rows:,} train rows, batch_size {cfg.batch_size}), fewer than "
        f"the ~{RANDOM_LAYER_STEPS:,} such a student needs; try {todo}"
    )


@dataclass(frozen=True)
class Bar:
    """What a student's dev score is compared with: accuracy, or a regression's Pearson r."""

    teacher: float  # the teacher's dev score
    majority: float  # the baseline's: always the most frequent dev label (a regression: 0.0, see label)
    label: str  # that label (a regression: the training mean, which always predicting scores r = 0)
    metric: str = "accuracy"

    def baseline(self) -> str:
        if self.metric == "accuracy":
            return f"the majority-class rate {self.majority:.1%} (always {self.label!r})"
        if self.metric == "micro_f1":
            return f"{self.majority:.1%}, the micro-F1 of {self.label}"
        return f"{self.majority:g}, the Pearson r of always predicting the training mean {self.label}"

    def shortfall(
        self, score: float, fraction: float | None = TEACHER_FRACTION, majority: bool = True
    ) -> str | None:
        """How ``score`` falls short (the baseline first), or None when it does not."""
        if majority and score <= self.majority:
            return f"is not above {self.baseline()}"
        if fraction is not None and score < fraction * self.teacher:
            share = score / self.teacher if self.teacher else 0.0
            return f"is {share:.0%} of the teacher's {shown(self.metric, self.teacher)}, below {fraction * 100:g}%"
        return None

    def dev(self, score: float) -> str:
        """``dev accuracy 81.2%`` / ``dev Pearson r 0.8123``: how warnings name the student's score."""
        return f"dev {METRIC_NAMES[self.metric]} {shown(self.metric, score)}"


def warn_fraction(cfg: StudentConfig) -> float:
    """The warning threshold: 90% of the teacher, or a stricter ``fail_below`` fraction."""
    return max(TEACHER_FRACTION, cfg.fail_below) if isinstance(cfg.fail_below, float) else TEACHER_FRACTION


def _advice(cfg: StudentConfig, stage: int, steps: int) -> str:
    lr = cfg.stages[stage].lr
    key = f"stages.{stage}"
    family = cfg.architecture.student_family
    if cfg.init in RANDOM_INITS or cfg.init == "pca":
        cause = (
            f"too few optimizer steps ({steps:,}) for a randomly initialised student (init: {cfg.init}), "
            f"or the learning rate ({key}.lr {lr:g})"
        )
        copied = (
            "copied teacher layers"
            if family.copies_teacher_layers
            else "cut out of the teacher"
            if "pruned" in family.inits
            else "family: distilbert, a student copied from teacher layers"
        )
        todo = f"more epochs ({key}.epochs), init: teacher ({copied}), or another lr"
    else:
        cause = f"too few optimizer steps ({steps:,}) or the learning rate ({key}.lr {lr:g})"
        todo = f"more epochs ({key}.epochs) or another lr"
        if family.is_transformer and not family.copies_teacher_layers:
            todo += " (or family: distilbert, a student copied from teacher layers)"
    return f"likely cause: {cause}; try {todo}"


def stage_warning(cfg: StudentConfig, stages: list[dict], i: int, bar: Bar) -> str | None:
    """The warning for stage ``i`` (``stages``: the runs' StageResult dicts so far), or None."""
    score = stages[i].get("best_dev", stages[i].get("best_dev_accuracy"))  # (a checkpoint of older code)
    if score is None:  # eval: false
        return None
    short = bar.shortfall(score, warn_fraction(cfg))
    if short is None:
        return None
    steps = sum(s["steps"] for s in stages[: i + 1])
    return f"stage {stages[i]['name']}: the student's {bar.dev(score)} after {steps:,} optimizer steps {short}; {_advice(cfg, i, steps)}"


def final_warning(cfg: StudentConfig, stages: list[dict], score: float, bar: Bar) -> str | None:
    short = bar.shortfall(score, warn_fraction(cfg))
    if short is None:
        return None
    steps = sum(s["steps"] for s in stages)
    last = max((i for i, st in enumerate(cfg.stages) if st.eval), default=len(cfg.stages) - 1)
    return f"final student: {bar.dev(score)} after {steps:,} optimizer steps {short}; {_advice(cfg, last, steps)}"


def student_warnings(
    cfg: StudentConfig, stages: list[dict], accuracy: float, bar: Bar, final_bar: Bar | None = None
) -> list[str]:
    """Every warning of a finished run: each stage that evaluated on dev but the last (the final
    check measures that one), then the final student (against ``final_bar`` when the final scores
    differ in kind from training's: multi-label thresholds tuned on dev). Recomputed from ``stages``
    at the end, so a resumed run lists the warnings of the stages an earlier process trained."""
    found = [stage_warning(cfg, stages, i, bar) for i in range(len(stages) - 1)]
    found.append(final_warning(cfg, stages, accuracy, final_bar or bar))
    return [w for w in found if w]


def below_bar(cfg: StudentConfig, accuracy: float, bar: Bar) -> str | None:
    """Why the final student fails ``fail_below`` (None: it passes, or there is no bar)."""
    if cfg.fail_below is None:
        return None
    if cfg.fail_below == "majority":
        short = bar.shortfall(accuracy, fraction=None)
    else:
        short = bar.shortfall(accuracy, fraction=cfg.fail_below, majority=False)
    return (
        None if short is None else f"fail_below: {cfg.fail_below}: the student's {bar.dev(accuracy)} {short}"
    )

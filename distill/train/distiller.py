"""The training loop: one stage of distillation (or plain fine-tuning), read top to bottom.

A stage is a set of weighted objectives trained for some epochs at one learning rate. TinyBERT's
task distillation is two stages (intermediate layers, then predictions); fine-tuning a teacher is
one stage whose only objective is the hard-label ``ce`` and which has no teacher at all; general
distillation is one stage of intermediate objectives on a streamed corpus. All three are
:func:`fit`; only the batch source differs (:mod:`distill.train.batches`: a split's epochs, or a
corpus's chunks), and it carries its own position, so one loop state and one checkpoint serve all.

Per step: the teacher's features (if any objective needs them) come from a live pass under
``inference_mode`` or from the teacher-output cache, holding only what the objectives ask for; the
student runs in training mode on its own token stream (the teacher's tokens, or the BiLSTM's word
ids for the same examples); the weighted sum of the objectives is back-propagated into the student
and the objectives' projections.

An optimizer step averages ``grad_accum_steps`` micro-batches of ``batch_size`` (see
:class:`distill.train.stepper.Stepper`). On several processes (``torchrun``, see :mod:`distill.train.distributed`)
each micro-batch of ``batch_size`` is the global one: every rank trains on its slice, with its loss
weighted by its share of the batch, under ``DistributedDataParallel``. The loop's progress lives in
a :class:`LoopState` and its position in the batch source, so that a checkpoint taken after any
step resumes onto exactly the batches, RNG draws and best weights the uninterrupted run would have
seen.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from distill.config import OptimizerConfig, TeacherCacheConfig, TrainConfig
from distill.core.metrics import primary_metric
from distill.data.batching import Encoded, collate
from distill.models.features import FeatureRequest, Features, enable_capture
from distill.objectives import Objective
from distill.train.batches import BatchSource, SplitBatches, Step
from distill.train.checkpoint import StageCheckpoints, restore_training, training_state
from distill.train.distributed import SINGLE, World, all_sum, main_first, shard, unit_shares
from distill.train.evaluate import evaluate
from distill.train.schedule import total_steps
from distill.train.stepper import Stepper
from distill.train.teacher_cache import CachedTeacher, LiveTeacher, cacheable, cached_teacher
from distill.train.tracking import Tracker
from distill.train.trainable import Trainable, replicate, sync_unless


@dataclass
class StageResult:
    name: str
    steps: int
    seconds: float
    examples_per_second: float
    loss_first: float  # mean total loss over the first 10% of steps
    loss_last: float  # mean total loss over the last 10% of steps
    dev_history: list[dict[str, float]] = field(default_factory=list)
    best_dev_accuracy: float | None = None  # a classifier's best dev accuracy (the weights kept)
    teacher_calls: int = 0  # teacher forward passes (live batches, plus cache building)
    teacher_cache: str = "off"  # off | hit | miss
    dev_metric: str = "accuracy"  # the score the best dev weights were chosen by (a regression: pearson)
    best_dev: float | None = None  # its best value (= best_dev_accuracy for a classifier)


def feature_requests(
    objectives: list[Objective], layer_map: list[int]
) -> tuple[FeatureRequest, FeatureRequest]:
    """What to capture from the student and the teacher for these objectives."""
    needs = set().union(*(o.needs for o in objectives))
    student_layers = tuple(range(1, len(layer_map) + 1))
    teacher_layers = tuple(layer_map)
    # Q/K/V are big (3 x (batch, heads, seq, head_dim) per layer): capture only the last mapped
    # pair when every objective reading them uses only that one (MiniLM's relation, `layers: last`).
    qkv_last = all(o.last_layer_only for o in objectives if "qkv" in o.needs)
    qkv = slice(-1, None) if qkv_last else slice(None)
    student = FeatureRequest(
        embeddings="embeddings" in needs,
        hidden_layers=student_layers if "hidden" in needs else (),
        attn_layers=student_layers if "attn" in needs else (),
        qkv_layers=student_layers[qkv] if "qkv" in needs else (),
    )
    teacher = FeatureRequest(
        embeddings="embeddings" in needs,
        hidden_layers=teacher_layers if "hidden" in needs else (),
        attn_layers=teacher_layers if "attn" in needs else (),
        qkv_layers=teacher_layers[qkv] if "qkv" in needs else (),
    )
    return student, teacher


def total_loss(
    objectives: list[Objective], student: Features, teacher: Features | None, labels: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """``Σ_k w_k L_k``, and each weighted term by objective name as in YAML (for the progress bar)."""
    parts = {o.name: o.weight * o(student, teacher, labels) for o in objectives}
    return sum(parts.values()), parts


@dataclass
class LoopState:
    """How far a stage is, in plain values a checkpoint can hold (where in the data: the batch source)."""

    step: int = 0  # optimizer steps done in this stage
    seen: int = 0  # training examples (of the global batches, on every rank)
    seconds: float = 0.0  # training time before the current process took over
    losses: list[float] = field(default_factory=list)  # total loss per optimizer step
    dev_history: list[dict[str, float]] = field(default_factory=list)
    best_acc: float | None = None  # the best dev score of the primary metric (accuracy, Pearson's r)
    teacher_calls: int = 0
    teacher_cache: str = "off"

    @classmethod
    def of(cls, values: dict) -> LoopState:
        """From a checkpoint's ``loop`` (which also holds the source's position and the job's own values)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def teacher_features(
    teacher: nn.Module | None,
    want_t: FeatureRequest,
    objectives: list[Objective],
    source: BatchSource,
    teacher_cache: TeacherCacheConfig | None,
    world: World,
    device: torch.device,
) -> tuple[LiveTeacher | CachedTeacher | None, str, int]:
    """Where the teacher's features come from: None (no objective reads them), the teacher-output
    cache (the whole split, filled once by rank 0), or a live pass per batch; and (state, calls)."""
    if teacher is None or not any(o.uses_teacher for o in objectives):
        return None, "off", 0
    if teacher_cache is not None and source.whole is not None and cacheable(want_t, teacher_cache.mode):
        with main_first(world):  # rank 0 fills the cache (whole training set), the others read it
            cached, calls = cached_teacher(teacher, source.whole, want_t, teacher_cache.dir, device)
        return cached, "miss" if calls else "hit", calls
    return LiveTeacher(teacher, want_t), "off", 0


def optimizer_step(
    model: nn.Module,
    stepper: Stepper,
    step: Step,
    teacher: LiveTeacher | CachedTeacher | None,
    unit_names: list[str],
    world: World,
    device: torch.device,
) -> tuple[float, dict[str, Tensor]]:
    """One update from the (global) micro-batches of ``step``: their mean loss, the last one's parts."""
    # the teacher's tokens; the student's (BiLSTM: word ids)
    t_data, s_data = (
        step.data,
        step.data.for_student(),
    )

    def batch(data: Encoded, indices: list[int]) -> dict[str, Tensor]:
        return {
            k: v.to(device) for k, v in collate(data, indices).items()
        }  # (batch, seq) each, padded to the longest

    def lengths(indices: list[int]) -> list[int]:
        return [len(s_data.input_ids[i]) for i in indices]

    step_loss, group = 0.0, step.group
    for k, global_indices in enumerate(group):
        indices = shard(global_indices, world)  # this rank's slice of the global batch
        # each objective's loss weighted by this rank's share of the global batch, in the unit it
        # averages over (examples, tokens, token pairs): DDP's gradient average is then the global mean
        shares = unit_shares(lengths(indices), lengths(global_indices), unit_names, world)
        if not indices:  # a last batch smaller than the world: every rank must still join the all-reduce
            indices, shares = global_indices[:1], [0.0] * len(shares)
        t_batch = batch(t_data, indices)
        s_batch = t_batch if s_data is t_data else batch(s_data, indices)
        # logits (batch, labels), hidden (batch, seq, hidden), ...
        t_feats = teacher(indices, t_batch) if teacher is not None else None
        with sync_unless(
            model, skip=k < len(group) - 1
        ):  # gradients all-reduced once, with the last micro-batch
            with stepper.autocast():
                loss, parts = model(s_batch, t_feats, shares)  # () and {objective name: ()}
            stepper.backward(loss, len(group))
        step_loss += loss.item() / len(group)
    stepper.step()
    # each rank's loss is its share-weighted part: their average is the global batch's loss
    return all_sum([step_loss], world)[0] / world.size, parts


def fit(
    name: str,
    student: nn.Module,
    teacher: nn.Module | None,
    objectives: list[Objective],
    layer_map: list[int],
    source: BatchSource,
    dev: Encoded | None,
    *,
    epochs: float,
    lr: float,
    optim: OptimizerConfig,
    device: torch.device,
    eval_batch_size: int = 64,
    num_labels: int = 0,
    teacher_cache: TeacherCacheConfig | None = None,
    train_cfg: TrainConfig | None = None,
    checkpoints: StageCheckpoints | None = None,
    world: World = SINGLE,
    keep: dict | None = None,
    saves_last_step: bool = False,
    tracker: Tracker | None = None,
) -> StageResult:
    """Train ``student`` on ``objectives`` for ``epochs`` passes over ``source``; keep the best dev
    weights when ``dev``.

    ``source`` (:mod:`distill.train.batches`) draws the batches and holds the position in the data; each
    step's ``data`` carries the teacher's tokens and, when the student has its own tokenizer, the
    student's (``student_view``); ``dev`` is evaluated in the student's stream after each pass.
    ``checkpoints`` (optional) resumes from its state and saves when due after each step; ``keep``:
    the job's own plain values, saved with every checkpoint (back in ``checkpoints.resume["loop"]``).
    ``saves_last_step``: also save periodically at the last step (general distillation, which has no
    stage-end checkpoint; ``distill run`` writes one after the stage, so it skips that save).
    ``world``: this process's place among the data-parallel ones; batches are global.
    ``tracker`` (every rank: the parts are summed over ranks; rank 0's writes): each step's losses
    and learning rate, each dev evaluation (:mod:`distill.train.tracking`).
    """
    train_cfg = train_cfg or TrainConfig()
    want_s, want_t = feature_requests(objectives, layer_map)
    if want_s.attn_layers or want_s.qkv_layers:
        enable_capture(student)
    teacher_feats, cache_state, cache_calls = teacher_features(
        teacher, want_t, objectives, source, teacher_cache, world, device
    )
    objectives = [o.to(device) for o in objectives]
    student.to(device).train()
    model = replicate(Trainable(student, objectives, want_s), world, device)
    unit_names = [o.unit for o in objectives]
    # what "best dev weights" means: accuracy, Pearson's r (one output), micro-F1 (0/1 vectors)
    metric = primary_metric(num_labels, dev.labels if dev is not None else None)

    total = total_steps(epochs, source.steps_per_epoch)
    stepper = Stepper(
        [student, *objectives], lr=lr, optim=optim, train=train_cfg, total_steps=total, device=device
    )
    loop, best_state = LoopState(teacher_calls=cache_calls, teacher_cache=cache_state), None
    if checkpoints is not None and checkpoints.resume is not None:
        values, best_state = restore_training(checkpoints.resume, student, objectives, stepper, world)
        loop = LoopState.of(values)
        source.load_state_dict(values)
    calls_before = loop.teacher_calls  # teacher passes counted by the run(s) before this process

    def snapshot(seconds: float) -> dict:
        """The checkpoint's state: the loop's values beside the source's position and the job's own."""
        values = asdict(loop) | {"seconds": seconds} | source.state_dict() | (keep or {})
        return training_state(values, student, objectives, stepper, best_state)

    start = time.perf_counter()
    # `with`: the bar is closed (its line ended) before an Interrupted message is printed.
    with tqdm(
        total=total, initial=loop.step, desc=name, unit="step", dynamic_ncols=True, disable=not world.is_main
    ) as bar:
        # A resumed stage whose last step was already done draws no batch at all.
        for step in source if loop.step < total else ():
            lr_now = stepper.optimizer.param_groups[0]["lr"]  # this step's (the scheduler moves after it)
            step_loss, parts = optimizer_step(model, stepper, step, teacher_feats, unit_names, world, device)
            loop.step += 1
            loop.seen += sum(len(b) for b in step.group)
            loop.losses.append(step_loss)
            loop.teacher_calls = calls_before + (teacher_feats.calls if teacher_feats is not None else 0)
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.4f}", **{k: f"{v.item():.3f}" for k, v in parts.items()})
            if tracker is not None:  # the last micro-batch's weighted terms, summed over the ranks' shares
                terms = all_sum([v.item() for v in parts.values()], world)
                tracker.step(loop.step, step_loss, dict(zip(parts, terms, strict=True)), lr_now)
            if (step.epoch_end or loop.step == total) and dev is not None:
                scores = evaluate(student, dev.for_student(), num_labels, eval_batch_size, device, world)
                student.train()
                loop.dev_history.append({"step": loop.step, **scores})
                if tracker is not None:
                    tracker.dev(loop.step, scores)
                if world.is_main:
                    shown = " ".join(f"{k} {v:.4f}" for k, v in scores.items())
                    bar.write(f"{name}: step {loop.step}/{total} dev {shown}")  # dev accuracy 0.8 f1 0.7
                if loop.best_acc is None or scores[metric] > loop.best_acc:
                    loop.best_acc, best_state = scores[metric], copy.deepcopy(student.state_dict())
            if checkpoints is not None:  # the snapshot is taken only when a save is due
                seconds = loop.seconds + time.perf_counter() - start
                last = loop.step == total and not saves_last_step
                checkpoints.after_step(loop.step, last, lambda s=seconds: snapshot(s))
            if loop.step == total:
                break
    if best_state is not None:
        student.load_state_dict(best_state)
    seconds = loop.seconds + time.perf_counter() - start
    k = max(1, len(loop.losses) // 10)
    return StageResult(
        name=name,
        steps=loop.step,
        seconds=seconds,
        examples_per_second=loop.seen / seconds,
        loss_first=sum(loop.losses[:k]) / k,
        loss_last=sum(loop.losses[-k:]) / k,
        dev_history=loop.dev_history,
        best_dev_accuracy=loop.best_acc if metric == "accuracy" else None,
        teacher_calls=loop.teacher_calls,
        teacher_cache=loop.teacher_cache,
        dev_metric=metric,
        best_dev=loop.best_acc,
    )


def fit_stage(
    name: str,
    student: nn.Module,
    teacher: nn.Module | None,
    objectives: list[Objective],
    layer_map: list[int],
    train: Encoded,
    dev: Encoded | None,
    *,
    batch_size: int,
    seed: int,
    train_cfg: TrainConfig | None = None,
    **kw,
) -> StageResult:
    """:func:`fit` on the epochs of ``train``, shuffled with ``seed`` (teacher fine-tuning and each
    stage of ``distill run``); ``batch_size`` is the global batch, ``kw`` as for :func:`fit`."""
    accum = (train_cfg or TrainConfig()).grad_accum_steps
    source = SplitBatches(train, batch_size, accum, seed)
    return fit(name, student, teacher, objectives, layer_map, source, dev, train_cfg=train_cfg, **kw)

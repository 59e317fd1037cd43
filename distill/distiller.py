"""The training loop: one stage of distillation (or plain fine-tuning), read top to bottom.

A stage is a set of weighted objectives trained for some epochs at one learning rate. TinyBERT's
task distillation is two stages (intermediate layers, then predictions); fine-tuning a teacher is
one stage whose only objective is the hard-label ``ce`` and which has no teacher at all.

Per step: the teacher's features (if any objective needs them) come from a live pass under
``inference_mode`` or from the teacher-output cache, holding only what the objectives ask for; the
student runs in training mode on its own token stream (the teacher's tokens, or the BiLSTM's word
ids for the same examples); the weighted sum of the objectives is back-propagated into the student
and the objectives' projections.

An optimizer step averages ``grad_accum_steps`` micro-batches of ``batch_size`` (see
:class:`distill.stepper.Stepper`). On several processes (``torchrun``, see :mod:`distill.distributed`)
each micro-batch of ``batch_size`` is the global one: every rank trains on its slice, with its loss
weighted by its share of the batch, under ``DistributedDataParallel``. The loop's position lives in a :class:`LoopState`, so that a
checkpoint taken after any step resumes onto exactly the batches, RNG draws and best weights the
uninterrupted run would have seen.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from distill.bounds import steps_per_epoch, total_steps
from distill.checkpoint import StageCheckpoints, capture_rng, rank_rng, restore_rng
from distill.config import OptimizerConfig, TeacherCacheConfig, TrainConfig
from distill.data.batching import Encoded, collate, train_batches
from distill.distributed import SINGLE, World, all_sum, main_first, shard, unit_shares
from distill.evaluate import evaluate
from distill.features import FeatureRequest, Features, enable_capture
from distill.objectives import Objective
from distill.stepper import Stepper
from distill.teacher_cache import LiveTeacher, cacheable, cached_teacher
from distill.trainable import Trainable, replicate, sync_unless


@dataclass
class StageResult:
    name: str
    steps: int
    seconds: float
    examples_per_second: float
    loss_first: float  # mean total loss over the first 10% of steps
    loss_last: float  # mean total loss over the last 10% of steps
    dev_history: list[dict[str, float]] = field(default_factory=list)
    best_dev_accuracy: float | None = None
    teacher_calls: int = 0  # teacher forward passes (live batches, plus cache building)
    teacher_cache: str = "off"  # off | hit | miss


def feature_requests(objectives: list[Objective], layer_map: list[int]) -> tuple[FeatureRequest, FeatureRequest]:
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


def total_loss(objectives: list[Objective], student: Features, teacher: Features | None, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """``Σ_k w_k L_k``, and each weighted term by objective name as in YAML (for the progress bar)."""
    parts = {o.name: o.weight * o(student, teacher, labels) for o in objectives}
    return sum(parts.values()), parts


@dataclass
class LoopState:
    """Where a stage is, in plain values a checkpoint can hold."""

    step: int = 0  # optimizer steps done in this stage
    epoch: int = 0
    position: int = 0  # optimizer steps done in this epoch
    epoch_rng: tuple | None = None  # the data-order RNG's state at this epoch's start
    seen: int = 0  # training examples (of the global batches, on every rank)
    seconds: float = 0.0  # training time before the current process took over
    losses: list[float] = field(default_factory=list)  # total loss per optimizer step
    dev_history: list[dict[str, float]] = field(default_factory=list)
    best_acc: float | None = None
    teacher_calls: int = 0
    teacher_cache: str = "off"


def snapshot(loop: LoopState, student: nn.Module, objectives: list[Objective], stepper: Stepper, best_state: dict | None) -> dict:
    """The whole state of a stage in progress (tensors, and plain Python values for torch.load)."""
    return {
        "loop": asdict(loop), "student": student.state_dict(), "objectives": [o.state_dict() for o in objectives],
        "stepper": stepper.state_dict(), "best": best_state, "rng": capture_rng(),
    }  # fmt: skip


def restore(state: dict, student: nn.Module, objectives: list[Objective], stepper: Stepper, world: World = SINGLE) -> tuple[LoopState, dict | None]:
    student.load_state_dict(state["student"])
    for o, s in zip(objectives, state["objectives"], strict=True):
        o.load_state_dict(s)
    stepper.load_state_dict(state["stepper"])
    restore_rng(rank_rng(state, world))
    loop = LoopState(**state["loop"])
    loop.epoch_rng = _as_tuple(loop.epoch_rng)
    return loop, state["best"]


def _as_tuple(x):
    """random.setstate wants the tuples back that a checkpoint round trip may turn into lists."""
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def fit_stage(
    name: str,
    student: nn.Module,
    teacher: nn.Module | None,
    objectives: list[Objective],
    layer_map: list[int],
    train: Encoded,
    dev: Encoded | None,
    *,
    epochs: float,
    lr: float,
    optim: OptimizerConfig,
    batch_size: int,
    eval_batch_size: int,
    seed: int,
    device: torch.device,
    num_labels: int,
    teacher_cache: TeacherCacheConfig | None = None,
    train_cfg: TrainConfig | None = None,
    checkpoints: StageCheckpoints | None = None,
    world: World = SINGLE,
) -> StageResult:
    """Train ``student`` on ``objectives`` for ``epochs``; keep the best dev weights when ``dev``.

    ``train`` carries the teacher's tokens and, when the student has its own tokenizer, the
    student's (``train.student_view``); ``dev`` is evaluated in the student's stream.
    ``checkpoints`` (optional) resumes from its state and saves when due after each step.
    ``world``: this process's place among the data-parallel ones; ``batch_size`` is the global batch.
    """
    train_cfg = train_cfg or TrainConfig()
    want_s, want_t = feature_requests(objectives, layer_map)
    needs_teacher = teacher is not None and any(o.uses_teacher for o in objectives)
    if want_s.attn_layers or want_s.qkv_layers:
        enable_capture(student)
    teacher_features, cache_state, cache_calls = None, "off", 0
    if needs_teacher:
        if teacher_cache is not None and cacheable(want_t, teacher_cache.mode):
            with main_first(world):  # rank 0 fills the cache (whole training set), the others read it
                teacher_features, cache_calls = cached_teacher(teacher, train, want_t, teacher_cache.dir, device)
            cache_state = "miss" if cache_calls else "hit"
        else:
            teacher_features = LiveTeacher(teacher, want_t)
    objectives = [o.to(device) for o in objectives]
    student.to(device).train()
    student_stream = train.for_student()
    model = replicate(Trainable(student, objectives, want_s), world, device)
    unit_names = [o.unit for o in objectives]

    accum = train_cfg.grad_accum_steps
    total = total_steps(epochs, steps_per_epoch(len(train), batch_size, accum))
    stepper = Stepper([student, *objectives], lr=lr, optim=optim, train=train_cfg, total_steps=total, device=device)
    rng = random.Random(seed)
    loop, best_state = LoopState(teacher_calls=cache_calls, teacher_cache=cache_state), None
    if checkpoints is not None and checkpoints.resume is not None:
        loop, best_state = restore(checkpoints.resume, student, objectives, stepper, world)
        rng.setstate(loop.epoch_rng)
    calls_before = loop.teacher_calls  # teacher passes counted by the run(s) before this process

    def batch(data: Encoded, indices: list[int]) -> dict[str, Tensor]:
        return {k: v.to(device) for k, v in collate(data, indices).items()}

    def lengths(indices: list[int]) -> list[int]:
        return [len(student_stream.input_ids[i]) for i in indices]

    def optimizer_step(group: list[list[int]]) -> tuple[float, dict[str, Tensor]]:
        """One update from the (global) micro-batches ``group``; their mean loss, the last one's parts."""
        step_loss = 0.0
        for k, global_indices in enumerate(group):
            indices = shard(global_indices, world)
            shares = unit_shares(lengths(indices), lengths(global_indices), unit_names, world)
            if not indices:  # a last batch smaller than the world: every rank must still join the all-reduce
                indices, shares = global_indices[:1], [0.0] * len(shares)
            t_batch = batch(train, indices)
            s_batch = t_batch if student_stream is train else batch(student_stream, indices)
            t_feats = teacher_features(indices, t_batch) if teacher_features is not None else None
            with sync_unless(model, skip=k < len(group) - 1):
                with stepper.autocast():
                    loss, parts = model(s_batch, t_feats, shares)
                stepper.backward(loss, len(group))
            step_loss += loss.item() / len(group)
            loop.seen += len(global_indices)
        stepper.step()
        # each rank's loss is its share-weighted part: their average is the global batch's loss
        return all_sum([step_loss], world)[0] / world.size, parts

    start = time.perf_counter()
    # `with`: the bar is closed (its line ended) before an Interrupted message is printed.
    with tqdm(total=total, initial=loop.step, desc=name, unit="step", dynamic_ncols=True, disable=not world.is_main) as bar:
        while loop.step < total:
            loop.epoch_rng = rng.getstate()
            batches = train_batches(train, batch_size, rng)
            groups = [batches[k : k + accum] for k in range(0, len(batches), accum)]  # one optimizer step each
            for group in groups[loop.position :]:
                step_loss, parts = optimizer_step(group)
                loop.step += 1
                loop.position += 1
                loop.losses.append(step_loss)
                loop.teacher_calls = calls_before + (teacher_features.calls if teacher_features is not None else 0)
                bar.update(1)
                bar.set_postfix(loss=f"{step_loss:.4f}", **{k: f"{v.item():.3f}" for k, v in parts.items()})
                if (loop.position == len(groups) or loop.step == total) and dev is not None:
                    scores = evaluate(student, dev.for_student(), num_labels, eval_batch_size, device, world)
                    student.train()
                    loop.dev_history.append({"step": loop.step, **scores})
                    if world.is_main:
                        bar.write(f"{name}: step {loop.step}/{total} dev accuracy {scores['accuracy']:.4f} f1 {scores['f1']:.4f}")
                    if loop.best_acc is None or scores["accuracy"] > loop.best_acc:
                        loop.best_acc, best_state = scores["accuracy"], copy.deepcopy(student.state_dict())
                if checkpoints is not None:  # the snapshot is taken only when a save is due
                    now = replace(loop, seconds=loop.seconds + time.perf_counter() - start)
                    checkpoints.after_step(loop.step, loop.step == total, partial(snapshot, now, student, objectives, stepper, best_state))
                if loop.step == total:
                    break
            else:
                loop.epoch, loop.position = loop.epoch + 1, 0
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
        best_dev_accuracy=loop.best_acc,
        teacher_calls=loop.teacher_calls,
        teacher_cache=loop.teacher_cache,
    )

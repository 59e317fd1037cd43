"""`distill run teacher.yaml student.yaml`: the whole task-distillation job, one call per step.

config.load -> data.load -> teacher (load or fine-tune, cached, checked) -> student (build, init
from teacher) -> stages (TinyBERT: intermediate layers, then predictions) -> evaluate both ->
save the student (``from_pretrained``-loadable) -> metrics.json + a summary table.

Under ``torchrun`` (see :mod:`distill.train.distributed`) every process runs this same sequence; rank 0
alone fine-tunes the teacher and fills the caches (the others wait, then read them) and alone
writes the output folder, checkpoints and logs; training and evaluation are split across ranks.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch
import yaml

from distill.config import ConfigSource
from distill.core.atomic import atomic_dir, write_text
from distill.core.errors import DistillError, OutputError, StudentBelowBar
from distill.core.interrupt import Interrupted, save_on_sigint, stop_requested
from distill.core.metrics import PRIMARY
from distill.core.output_dir import prepare_output_dir
from distill.data.batching import encode_views
from distill.distillation.augmented import augment_train
from distill.distillation.deploy import deploy
from distill.distillation.lengths import report_lengths
from distill.distillation.model_card import write_model_card
from distill.distillation.plan import Plan, build_objectives, pick_device
from distill.distillation.preflight import (
    Preflight,
    check_student_steps,
    preflight,
    run_key,
    student_step_budget,
)
from distill.distillation.sanity import below_bar, final_warning, stage_warning, student_warnings
from distill.distillation.summary import machine_block, track_summary
from distill.distillation.tasks import bar_for, baseline_block, final_scores, set_task
from distill.distillation.transfer import with_transfer
from distill.models.layer_importance import choose_layers
from distill.objectives.base import start_projections
from distill.train.checkpoint import (
    CheckpointManager,
    StageCheckpoints,
    agreed_resume_point,
    capture_rng,
    rank_rng,
    restore_rng,
)
from distill.train.distiller import fit_stage
from distill.train.distributed import World, close, init_world, main_first
from distill.train.speed import measure
from distill.train.stepper import DTYPES
from distill.train.teacher import check_teacher, evaluate_teacher, load_teacher
from distill.train.tracking import Tracker
from students import BuildRequest, build

log = logging.getLogger("distill")
__all__ = [
    "Plan",
    "build_objectives",
    "pick_device",
    "run",
]  # Plan & co. live in distill.distillation.preflight


def _save_student(model, tokenizer, out: Path) -> None:
    """Move a fully written model into ``out``; config.json (what makes it loadable) goes first out
    and last in, so ``out`` never holds an old config beside new weights. A failed write (disk
    full) leaves the previous model in place."""
    try:
        with atomic_dir(out / ".student") as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    except OSError as e:
        raise OutputError(
            f"{out}: could not write the student ({e.strerror or e}); nothing was replaced"
        ) from None
    staged = out / ".student"
    (out / "config.json").unlink(missing_ok=True)
    names = sorted(os.listdir(staged), key=lambda n: n == "config.json")
    for name in names:
        os.replace(staged / name, out / name)
    staged.rmdir()


def _attach_log(out: Path) -> logging.Handler:
    handler = logging.FileHandler(out / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("distill").addHandler(handler)
    return handler


def run(
    teacher_yaml: ConfigSource,
    student_yaml: ConfigSource,
    output_dir: str | Path | None = None,
    resume: str = "auto",
) -> dict:
    """Run task distillation end to end; returns the metrics written to ``metrics.json``.

    ``resume``: ``auto`` continues from a compatible checkpoint in the output folder when there is
    one, ``require`` (``--resume``) insists on one, ``fresh`` (``--fresh``) discards them (and
    retrains over a finished run, which the others refuse). Everything that needs no trained
    weights is checked first, by :func:`distill.distillation.preflight.preflight` (as ``distill validate`` does).
    Launched by ``torchrun`` on N processes, rank 0 returns the metrics and the others ``{}``.
    """
    started = time.perf_counter()
    world = init_world()
    logger, level = logging.getLogger("distill"), logging.getLogger("distill").level
    if not world.is_main:  # one copy of the log: rank 0's (warnings and errors from every rank)
        logger.setLevel(logging.WARNING)
    handler, out, created, failed = None, None, False, False
    try:
        # Every rank: the same error everywhere, none left waiting. Nothing is written before it passed.
        checked = preflight(teacher_yaml, student_yaml, output_dir, resume, world.size)
        out = checked.out
        created = not out.exists()
        prepare_output_dir(out, checked.out_key)
        if world.is_main and resume == "fresh":  # retraining: the folder no longer holds a finished run
            (out / "metrics.json").unlink(missing_ok=True)
        handler = _attach_log(out) if world.is_main else None
        return _run(checked, out, started, resume, world)
    except StudentBelowBar:  # a finished run: the student and metrics.json stay
        raise
    except DistillError:
        failed = True
        raise
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        # A user error found after the folder was made (labels that do not align, a teacher at the
        # majority rate, a student that cannot be built): leave no partial output behind, unless
        # training already wrote a checkpoint worth resuming from.
        if failed and created and world.is_main and not (out / "checkpoints").exists():
            shutil.rmtree(out, ignore_errors=True)
        close(world)


def _run(checked: Preflight, out: Path, started: float, resume: str, world: World) -> dict:
    plan, splits = checked.plan, checked.splits
    t_cfg, s_cfg = plan.teacher_cfg, plan.student_cfg
    device = world.device(pick_device(s_cfg.device))  # fp16 on a CPU was refused by the pre-flight

    n_labels = len(splits.label_names)
    log.info(
        "data: train %d, dev %d, test %d; labels %s",
        len(splits.train),
        len(splits.dev),
        len(splits.test),
        splits.label_names,
    )
    # measured by the pre-flight; logged (and warned) before the teacher trains
    lengths = checked.facts["lengths"]
    if world.is_main:
        report_lengths(lengths, plan.teacher_source)
    # A checkpoint resumes only a run of the same configs and data (see checkpoint.HARMLESS).
    # The number of processes is part of it: each holds its own RNG streams (dropout).
    key = run_key(plan, splits, world.size, checked.transfer)
    manager = CheckpointManager(out / "checkpoints" / "resume", s_cfg.checkpoint, key)
    ckpt = agreed_resume_point(manager, resume, plan.student_source, world)
    if world.is_main:
        write_text(out / "config.resolved.yaml", yaml.safe_dump(plan.resolved(), sort_keys=False))

    with main_first(world):  # rank 0 fine-tunes and caches the teacher; the others load the cache
        teacher = load_teacher(t_cfg, splits, world.device(pick_device(t_cfg.device)), plan.teacher_source)
    teacher.model.to(device)
    teacher_scores = evaluate_teacher(teacher, splits, t_cfg.max_length, device, world)
    metric = PRIMARY[splits.task]  # accuracy; a regression: Pearson's r
    log.info(
        "teacher: dev %s %.4f, test %s %.4f",
        metric,
        teacher_scores["dev"][metric],
        metric,
        teacher_scores["test"][metric],
    )
    check_teacher(teacher_scores["dev"], splits, plan.teacher_source)
    bar = bar_for(splits, teacher_scores["dev"])  # what the student must beat
    teacher.model.to(DTYPES[s_cfg.train.teacher_precision])  # inference only from here on

    # What the student distills on: the training split, augmented (the teacher was fine-tuned on the
    # original), then the transfer texts. `splits.train` stays the original: the baselines read it.
    distilled = splits.train
    if s_cfg.augment:
        with main_first(world):
            distilled = augment_train(splits, s_cfg.augment, t_cfg.cache_dir, plan.student_source)
    if checked.transfer is not None:
        log.info(checked.transfer.line())
        distilled = with_transfer(distilled, checked.transfer, splits.task, n_labels)
    if s_cfg.augment:  # its size is known only now
        check_student_steps(plan, len(distilled), "augmented train rows (and transfer texts)")
    budget = checked.facts["step_budget"] or (
        student_step_budget(plan, len(distilled)) if s_cfg.augment else None
    )
    if budget and world.is_main:
        log.warning(budget)

    layer_scores = None
    if s_cfg.layer_map == "importance":  # the layers that turn the residual stream most (validate: uniform)
        plan.layer_map, layer_scores, line = choose_layers(
            teacher.model, teacher.tokenizer, distilled.texts, len(plan.layer_map)
        )
        log.info(line)
    torch.manual_seed(s_cfg.seed)
    built = build(
        BuildRequest(
            arch=s_cfg.architecture,
            shape=plan.shape,
            teacher=teacher.model,
            teacher_tokenizer=teacher.tokenizer,
            label_names=splits.label_names,
            texts=distilled.texts + (distilled.pairs or []),
            pair=distilled.pairs is not None,
            init=s_cfg.init,
            layer_map=plan.layer_map,
            init_layers=plan.init_layers,
            source=plan.student_source,
            tokenizer=plan.student_tokenizer,
        )
    )
    student, tokenizer = built.model, built.tokenizer
    if head := set_task(student, teacher.model, splits):
        built.notes.append(head)
    log.info("student %s init: %s", s_cfg.architecture.family, "; ".join(built.notes))
    if world.rank:  # own dropout masks per rank (the replicas' weights are made equal by DDP, not by the RNG)
        torch.manual_seed(s_cfg.seed + 1_000_003 * world.rank)
    train, dev, test = (
        encode_views(split, teacher.tokenizer, tokenizer, t_cfg.max_length)
        for split in (distilled, splits.dev, splits.test)
    )

    stages, first, global_step, last = [], 0, 0, manager.root
    if ckpt is not None:
        stages, global_step = list(ckpt.meta["stages"]), ckpt.meta["global_step"]
        first = ckpt.meta["stage"] + ckpt.meta["stage_done"]
        if ckpt.meta["stage_done"]:  # continue exactly where the finished stage left the student and RNGs
            student.load_state_dict(ckpt.state["student"])
            restore_rng(rank_rng(ckpt.state, world))
    cache_cfg = s_cfg.teacher_cache.model_copy(update={"dir": str(plan.teacher_outputs_dir())})
    # metrics.jsonl / TensorBoard from the step the checkpoint holds (what came after it is redone)
    tracker = Tracker(out, s_cfg.tracking, global_step) if world.is_main else Tracker.off()
    with save_on_sigint():
        for i in range(first, len(s_cfg.stages)):
            stage = s_cfg.stages[i]
            objectives = build_objectives(s_cfg, i, plan.student_dims, plan.teacher_dims, plan.student_source)
            if built.channels is not None and start_projections(objectives, built.channels):
                log.info("stage %s: W_h/W_e start as the kept channels' selection", stage.name)
            log.info(
                "stage %s: %s",
                stage.name,
                ", ".join(f"{k} x {v.weight}" for k, v in stage.objectives.items()),
            )
            mid_stage = (
                ckpt.state
                if ckpt is not None and not ckpt.meta["stage_done"] and i == ckpt.meta["stage"]
                else None
            )
            hooks = StageCheckpoints(manager, i, global_step, stages, mid_stage, world)
            tracker.begin_stage(stage.name, global_step - (ckpt.meta["step"] if mid_stage is not None else 0))
            result = fit_stage(
                stage.name,
                student,
                teacher.model,
                objectives,
                plan.layer_map,
                train,
                dev if stage.eval else None,
                epochs=stage.epochs,
                lr=stage.lr,
                optim=s_cfg.optimizer,
                batch_size=s_cfg.batch_size,
                eval_batch_size=s_cfg.eval_batch_size,
                seed=s_cfg.seed + i,
                device=device,
                num_labels=n_labels,
                teacher_cache=cache_cfg,
                train_cfg=s_cfg.train,
                checkpoints=hooks,
                world=world,
                tracker=tracker,
            )
            ckpt, global_step = None, hooks.global_step
            stages.append(asdict(result))
            # the last: checked at the end
            warning = stage_warning(s_cfg, stages, i, bar) if i < len(s_cfg.stages) - 1 else None
            if warning and world.is_main:
                log.warning(warning)
            log.info(
                "stage %s: %d steps in %.0f s, loss %.4f -> %.4f; teacher forward passes %d (cache: %s)",
                stage.name,
                result.steps,
                result.seconds,
                result.loss_first,
                result.loss_last,
                result.teacher_calls,
                result.teacher_cache,
            )
            if world.is_main:
                with atomic_dir(out / "checkpoints" / f"{i}-{stage.name}") as tmp:
                    student.save_pretrained(tmp)
                    torch.save({o.name: o.state_dict() for o in objectives}, tmp / "objectives.pt")
            last = hooks.save(
                result.steps, {"student": student.state_dict(), "rng": capture_rng()}, stage_done=True
            )
        if stop_requested():
            raise Interrupted(f"checkpoint saved to {last}; run the same command again to resume")

    student.to(device).eval()
    # dev and test scores (multi-label: both models at thresholds tuned on dev, the student's saved)
    student_scores, teacher_scores = final_scores(
        student, teacher.model, dev, test, teacher_scores, n_labels, s_cfg.eval_batch_size, device, world
    )
    if not world.is_main:  # rank 0 alone saves, measures speed and writes metrics.json
        return {}
    _save_student(student.to("cpu"), tokenizer, out)

    # Speed: both models on the CPU in fp32, same threads, same real dev examples, one after the other.
    teacher.model.to("cpu").float()
    speed_cfg = s_cfg.speed.model_dump()
    speed = {
        "teacher": measure(teacher.model, dev, **speed_cfg),
        "student": measure(student, dev.for_student(), **speed_cfg),
    }
    exported = None
    if s_cfg.export is not None:  # the INT8 graphs, verified against the models just measured
        t_cut = teacher_scores.get("thresholds")  # a multi-label teacher's, tuned on dev
        exported = deploy(s_cfg.export, out, teacher, splits, dev, test, s_cfg.speed, t_cfg.max_length, t_cut)
    metrics = {
        "run": s_cfg.name,
        "task": splits.task,
        "teacher_model": t_cfg.model,
        "student_family": s_cfg.architecture.family,
        "teacher_path": teacher.path,
        "student_path": str(out),
        "machine": machine_block(world),
        "data": {
            "train": len(distilled),  # what the student learned on
            "train_original": len(splits.train),  # what the teacher was fine-tuned on
            "augment": s_cfg.augment,
            "transfer": checked.transfer.summary() if checked.transfer else None,
            "dev": len(splits.dev),
            "test": len(splits.test),
            "labels": splits.label_names,
            **baseline_block(splits),  # the majority class; a regression: the training mean
        },
        "teacher": {
            **teacher_scores,
            **speed["teacher"],
            "finetune_seconds": teacher.finetune_seconds,
            "cached": teacher.cached,
        },
        "student": {
            **student_scores,
            **speed["student"],
            "disk_mb": (out / "model.safetensors").stat().st_size / 2**20,
        },
        "export": exported,
        "layer_map": plan.layer_map,
        "layer_importance": layer_scores,  # layer_map: importance: every teacher layer's BI
        "stages": stages,
        "total_seconds": time.perf_counter() - started,
    }
    metrics["data"]["lengths"] = lengths  # per split: truncated at max_length, p50/p95 tokens
    metrics["student"][f"{metric}_vs_teacher"] = student_scores["dev"][metric] / teacher_scores["dev"][metric]
    metrics["student"]["speedup_b32"] = (
        speed["student"]["throughput_b32"] / speed["teacher"]["throughput_b32"]
    )
    metrics["student"]["speedup_b1"] = (
        speed["teacher"]["latency_ms_b1"]["p50"] / speed["student"]["latency_ms_b1"]["p50"]
    )
    final = student_scores["dev"][metric]
    final_bar = bar_for(splits, teacher_scores["dev"])  # multi-label: the teacher at its tuned thresholds
    # every stage's, also those before a resume
    metrics["warnings"] = [budget] * bool(budget) + student_warnings(s_cfg, stages, final, bar, final_bar)
    if warning := final_warning(s_cfg, stages, final, final_bar):
        log.warning(warning)
    write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    tracker.summary(track_summary(metrics, metric), global_step)
    tracker.close()
    write_model_card(out, metrics, s_cfg, t_cfg)  # README.md: Hugging Face's card, from those metrics
    manager.clear()  # finished: the resume checkpoints are no longer needed
    failure = below_bar(s_cfg, final, final_bar)
    if failure:
        raise StudentBelowBar(
            f"{plan.student_source}: {failure}; the student was saved to {out} (metrics.json lists the warnings)",
            metrics,
            failure,
        )
    return metrics

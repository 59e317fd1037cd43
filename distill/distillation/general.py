"""`distill general teacher.yaml student.yaml --corpus texts.txt|.jsonl`: TinyBERT's general
distillation (stage 1, Jiao et al. 2020, section 3.2).

A pre-trained, *not* fine-tuned encoder (teacher.yaml ``model``; its data and fine-tuning keys are
not used) teaches a student of student.yaml's architecture on unlabeled text, through the
intermediate layers only: embeddings, hidden states and attention scores (no logits, no labels).
The result is a bare encoder folder that task distillation starts from with
``init: general:<folder>``.

The corpus is streamed: it is read in chunks of ``chunk_batches x batch_size`` texts, each chunk
tokenized, length-grouped into batches and trained on, then dropped; only one chunk is in memory.
Objectives: the first stage of student.yaml when all its objectives are intermediate ones (emb,
hidden, attn, relation), else ``emb + hidden + attn`` with weight 1.

Checkpoints, resume, Ctrl-C, precision and gradient accumulation work as in ``distill run``
(student.yaml ``checkpoint:`` and ``train:``); the corpus position is the chunk index, the batch
index inside it and the data-order RNG at the chunk's start.

Under ``torchrun`` every rank streams the same corpus and draws the same global batches (of
``batch_size``); each trains on its slice (see :mod:`distill.train.distributed`). Rank 0 alone writes.
Memory: one chunk of texts and their token ids per process, whatever the corpus size.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from distill.config import load_student_config, load_teacher_config
from distill.core.atomic import atomic_dir
from distill.core.errors import ConfigError, DataError
from distill.core.interrupt import save_on_sigint
from distill.core.output_dir import prepare_output_dir
from distill.data.batching import Encoded, collate
from distill.models.adapters import adapter_for
from distill.models.features import enable_capture, forward_features
from distill.models.layer_importance import IMPORTANCE_TEXTS, choose_layers, teacher_batches
from distill.models.layer_map import resolve_layer_map
from distill.objectives import OBJECTIVES, ModelDims, Objective
from distill.objectives.base import start_projections
from distill.objectives.spec import build_objectives, parse_objectives
from distill.train.batches import CorpusBatches, corpus_steps_per_epoch, iter_chunks, iter_corpus
from distill.train.checkpoint import CheckpointManager, StageCheckpoints, agreed_resume_point, resume_key
from distill.train.distiller import feature_requests, fit, total_loss
from distill.train.distributed import World, close, init_world
from distill.train.schedule import check_steps
from distill.train.stepper import DTYPES, check_precision
from distill.train.teacher import dims, resolve_model
from students.pruned_init import refusal

log = logging.getLogger("distill")
INTERMEDIATE = {"embeddings", "hidden", "attn", "qkv"}
DEFAULT_OBJECTIVES = ("emb", "hidden", "attn")


def _encode(texts: list[str], tokenizer, max_length: int) -> Encoded:
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
    return Encoded(enc["input_ids"], enc.get("token_type_ids"), [0] * len(texts), tokenizer.pad_token_id or 0)


def _objectives(student_yaml: str, stage_objectives: dict, s: ModelDims, t: ModelDims) -> list[Objective]:
    """The first stage's objectives when they are all intermediate ones, else ``emb + hidden + attn``
    at their defaults; built as ``distill run`` builds a stage's (:mod:`distill.objectives.spec`)."""
    source = f"{student_yaml}: general distillation objectives"
    if all(OBJECTIVES.get(n).needs <= INTERMEDIATE for n in stage_objectives):  # validated by the config
        return build_objectives(stage_objectives, s, t, source, ("stages", 0, "objectives"))
    return build_objectives(parse_objectives(dict.fromkeys(DEFAULT_OBJECTIVES), source), s, t, source)


def intermediate_loss(
    student, teacher, objectives, layer_map, data: Encoded, batch_size: int, device=None
) -> float:
    """Mean total intermediate loss over ``data`` (for before/after comparison), no gradients."""
    want_s, want_t = feature_requests(objectives, layer_map)
    total, n = 0.0, 0
    student.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = {
                k: v.to(device)
                for k, v in collate(data, list(range(start, min(start + batch_size, len(data))))).items()
            }
            loss, _ = total_loss(
                objectives,
                forward_features(student, batch, want_s),
                forward_features(teacher, batch, want_t),
                batch["labels"],
            )
            total, n = total + loss.item(), n + 1
    student.train()
    return total / max(n, 1)


def general_distill(
    teacher_yaml: str | Path,
    student_yaml: str | Path,
    corpus: str | Path,
    output_dir: str | Path,
    *,
    epochs: float = 1.0,
    lr: float = 1e-4,
    batch_size: int = 32,
    max_length: int | None = None,
    chunk_batches: int = 50,
    seed: int = 0,
    resume: str = "auto",
) -> dict:
    """Distill the pre-trained encoder of teacher.yaml into student.yaml's architecture on ``corpus``.

    ``resume``: ``auto``, ``require`` or ``fresh``, as for :func:`distill.distillation.run.run`. Launched by
    ``torchrun``, rank 0 returns the result and the others ``{}``.
    """
    world = init_world()
    logger, level = logging.getLogger("distill"), logging.getLogger("distill").level
    if not world.is_main:
        logger.setLevel(logging.WARNING)
    try:
        return _general(
            teacher_yaml,
            student_yaml,
            corpus,
            output_dir,
            epochs,
            lr,
            batch_size,
            max_length,
            chunk_batches,
            seed,
            resume,
            world,
        )
    finally:
        logger.setLevel(level)
        close(world)


def _check_flags(epochs: float, lr: float, batch_size: int, max_length: int | None) -> None:
    """``--epochs nan`` or ``--batch-size 0`` would otherwise train on a poisoned schedule or divide by zero."""
    for flag, value, integer in (
        ("--epochs", epochs, False),
        ("--lr", lr, False),
        ("--batch-size", batch_size, True),
        ("--max-length", max_length, True),
    ):
        if value is None and flag == "--max-length":
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int if integer else int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            kind = "an integer >= 1" if integer else "a finite number > 0"
            raise ConfigError(f"{flag}: expected {kind}, got {value!r}")


def _general(
    teacher_yaml,
    student_yaml,
    corpus,
    output_dir,
    epochs,
    lr,
    batch_size,
    max_length,
    chunk_batches,
    seed,
    resume,
    world: World,
) -> dict:
    from distill.distillation.plan import pick_device

    t_cfg, s_cfg = load_teacher_config(teacher_yaml), load_student_config(student_yaml)
    _check_flags(epochs, lr, batch_size, max_length)
    device = world.device(pick_device(s_cfg.device))
    check_precision(s_cfg.train, device, str(student_yaml))
    # The schedule's length needs the corpus size: count it (one streamed pass) before anything is written.
    n_texts = sum(1 for _ in iter_corpus(corpus))
    if n_texts == 0:
        raise DataError(f"{corpus}: the corpus has no text")
    accum = s_cfg.train.grad_accum_steps
    per_epoch = corpus_steps_per_epoch(n_texts, batch_size * chunk_batches, batch_size, accum)
    how = f"ceil({n_texts:,} corpus texts / --batch-size {batch_size}) / train.grad_accum_steps {accum}, chunk by chunk"
    check_steps(epochs, per_epoch, "--epochs", how)
    arch = s_cfg.architecture
    family = arch.student_family
    if not family.general:
        raise ConfigError(
            f"{student_yaml}: architecture.family: general distillation needs a Transformer student, got {arch.family}"
        )
    if s_cfg.tokenizer is not None:  # distillation/own_tokenizer.py
        raise ConfigError(
            f"{student_yaml}: tokenizer: general distillation compares the models token by token, and a "
            "student of its own tokenizer reads other tokens; it learns by prediction-level objectives in distill run"
        )
    out = Path(output_dir)
    prepare_output_dir(out, "--output-dir")  # the flag (or its default outputs/general-<student>) chose it
    path = resolve_model(t_cfg.model)
    t_hf = AutoConfig.from_pretrained(path)
    t = dims(t_hf)
    shape = arch.shape(t.hidden_size, t.num_heads, t.num_layers, adapter_for(t_hf.model_type).ffn_size(t_hf))
    layer_map = resolve_layer_map(s_cfg.layer_map, shape.num_layers, t.num_layers, str(student_yaml))
    s = shape.dims()
    torch.manual_seed(seed)  # before the objectives: their projections W are drawn at random
    objectives = _objectives(str(student_yaml), s_cfg.stages[0].objectives, s, t)
    max_length = max_length or t_cfg.max_length

    teacher = AutoModel.from_pretrained(path).eval().to(device, DTYPES[s_cfg.train.teacher_precision])
    tokenizer = AutoTokenizer.from_pretrained(path)
    for p in teacher.parameters():
        p.requires_grad_(False)
    if s_cfg.layer_map == "importance":  # from the corpus's first texts, before the student copies layers
        layer_map, _, line = choose_layers(
            teacher, tokenizer, next(iter_chunks(corpus, IMPORTANCE_TEXTS)), len(layer_map)
        )
        log.info("general: %s", line)
    if s_cfg.init == "pruned" and (
        why := refusal(t_hf, shape.hidden_size, shape.num_heads, shape.intermediate_size, shape.num_layers)
    ):
        raise ConfigError(f"{student_yaml}: init: pruned: {why}")
    student = family.build_encoder(arch, shape, t_hf)  # through the students registry
    if s_cfg.init in ("teacher", "pca", "pruned"):  # as `distill run` starts the student (the family's)

        def batches() -> list[dict]:  # the corpus's first texts, read only for a cut
            return teacher_batches(tokenizer, next(iter_chunks(corpus, IMPORTANCE_TEXTS)), device)

        notes, channels = family.init_encoder(student, teacher, layer_map, s_cfg.init, batches)
        log.info("general: student init: %s", "; ".join(notes))
        if channels is not None and start_projections(objectives, channels):
            log.info("general: W_h/W_e start as the kept channels' selection")
    enable_capture(teacher)
    enable_capture(student)
    student.to(device)
    if world.rank:  # own dropout masks per rank (DDP makes the replicas' weights equal)
        torch.manual_seed(seed + 1_000_003 * world.rank)
    log.info(
        "general: %s -> %s, objectives %s, layer map %s",
        t_cfg.model,
        arch.family,
        ", ".join(o.name for o in objectives),
        layer_map,
    )

    probe = _encode(next(iter_chunks(corpus, batch_size)), tokenizer, max_length)

    run_args = {
        "corpus": str(corpus),
        "texts": n_texts,
        "bytes": Path(corpus).stat().st_size,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "max_length": max_length,
        "chunk_batches": chunk_batches,
        "seed": seed,
    }
    key = resume_key({"teacher": {"model": t_cfg.model}, "student": s_cfg.model_dump(), "general": run_args})
    manager = CheckpointManager(out / "checkpoints" / "resume", s_cfg.checkpoint, key)
    ckpt = agreed_resume_point(manager, resume, str(student_yaml), world)
    # The probe loss before any step: measured on the fresh student, or kept by the checkpoint.
    before = (
        intermediate_loss(student, teacher, objectives, layer_map, probe, batch_size, device)
        if ckpt is None
        else ckpt.state["loop"]["before"]
    )
    hooks = StageCheckpoints(
        manager,
        0,
        0 if ckpt is None else ckpt.state["loop"]["step"],
        [],
        None if ckpt is None else ckpt.state,
        world,
    )
    source = CorpusBatches(
        lambda: iter_chunks(corpus, batch_size * chunk_batches),
        n_texts,
        lambda texts: _encode(texts, tokenizer, max_length),
        batch_size,
        chunk_batches,
        accum,
        seed,
    )
    with save_on_sigint():
        stage = fit(
            "general distillation",
            student,
            teacher,
            objectives,
            layer_map,
            source,
            None,
            epochs=epochs,
            lr=lr,
            optim=s_cfg.optimizer,
            device=device,
            train_cfg=s_cfg.train,
            checkpoints=hooks,
            world=world,
            keep={"before": before},
            saves_last_step=True,
        )
    step = stage.steps
    after = intermediate_loss(student, teacher, objectives, layer_map, probe, batch_size, device)
    if not world.is_main:
        return {}
    with atomic_dir(out) as tmp:  # replaces the folder, resume checkpoints included
        student.to("cpu").save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        torch.save({o.name: o.state_dict() for o in objectives}, tmp / "objectives.pt")
        result = {
            "teacher_model": t_cfg.model,
            "family": arch.family,
            "sizes": shape.as_dict(),
            "layer_map": layer_map,
            "corpus": str(corpus),
            "texts": n_texts,
            "steps": step,
            "seconds": stage.seconds,
            "probe_loss_before": before,
            "probe_loss_after": after,
        }
        (tmp / "general.json").write_text(json.dumps(result, indent=2))
    log.info(
        "general: %d steps, intermediate loss on the first batch %.4f -> %.4f; saved to %s",
        step,
        before,
        after,
        out,
    )
    return result

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
``batch_size``); each trains on its slice (see :mod:`distill.distributed`). Rank 0 alone writes.
Memory: one chunk of texts and their token ids per process, whatever the corpus size.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer

from distill.atomic import atomic_dir
from distill.bounds import check_steps, steps_per_epoch, total_steps
from distill.checkpoint import (
    CheckpointManager,
    StageCheckpoints,
    agreed_resume_point,
    capture_rng,
    rank_rng,
    restore_rng,
    resume_key,
)
from distill.config import load_student_config, load_teacher_config
from distill.data.batching import Encoded, collate, train_batches
from distill.distiller import _as_tuple, feature_requests, total_loss
from distill.distributed import World, all_sum, close, init_world, shard, unit_shares
from distill.errors import ConfigError, DataError
from distill.features import enable_capture, forward_features
from distill.interrupt import save_on_sigint
from distill.layer_map import resolve_layer_map
from distill.objectives import OBJECTIVES, ModelDims, Objective
from distill.output_dir import prepare_output_dir
from distill.stepper import DTYPES, Stepper, check_precision
from distill.teacher import dims, resolve_model
from distill.trainable import Trainable, replicate, sync_unless
from students.init import init_from_teacher

log = logging.getLogger("distill")
INTERMEDIATE = {"embeddings", "hidden", "attn", "qkv"}


def iter_corpus(path: str | Path) -> Iterator[str]:
    """Texts of a corpus file, one at a time: ``.txt`` one per non-blank line, ``.jsonl`` the
    ``text`` field of each line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such corpus file (--corpus)")
    jsonl = path.suffix == ".jsonl"
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if not jsonl:
                yield line.rstrip("\n")
                continue
            try:
                text = json.loads(line).get("text")
            except (json.JSONDecodeError, AttributeError):
                raise DataError(f"{path}: line {lineno}: not a JSON object") from None
            if not isinstance(text, str):
                raise DataError(f"{path}: line {lineno}: no string field `text`")
            if text.strip():
                yield text


def iter_chunks(path: str | Path, size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for text in iter_corpus(path):
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _encode(texts: list[str], tokenizer, max_length: int) -> Encoded:
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
    return Encoded(enc["input_ids"], enc.get("token_type_ids"), [0] * len(texts), tokenizer.pad_token_id or 0)


def _objectives(student_yaml: str, stage_objectives: dict, s: ModelDims, t: ModelDims) -> list[Objective]:
    chosen = stage_objectives if all(OBJECTIVES.get(n).needs <= INTERMEDIATE for n in stage_objectives) else None
    if chosen is None:
        chosen = {n: OBJECTIVES.get(n).Params() for n in ("emb", "hidden", "attn")}
    try:
        return [OBJECTIVES.get(name)(params, s, t) for name, params in chosen.items()]
    except ValueError as e:
        raise ConfigError(f"{student_yaml}: general distillation objectives: {e}") from None


def intermediate_loss(student, teacher, objectives, layer_map, data: Encoded, batch_size: int, device=None) -> float:
    """Mean total intermediate loss over ``data`` (for before/after comparison), no gradients."""
    want_s, want_t = feature_requests(objectives, layer_map)
    total, n = 0.0, 0
    student.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = {k: v.to(device) for k, v in collate(data, list(range(start, min(start + batch_size, len(data))))).items()}
            loss, _ = total_loss(objectives, forward_features(student, batch, want_s), forward_features(teacher, batch, want_t), batch["labels"])
            total, n = total + loss.item(), n + 1
    student.train()
    return total / max(n, 1)


@dataclass
class CorpusLoop:
    """Where general distillation is in the corpus, in plain values a checkpoint can hold."""

    step: int = 0
    epoch: int = 0
    chunk: int = 0  # chunks done in this epoch
    position: int = 0  # optimizer steps done in this chunk
    chunk_rng: tuple | None = None  # the data-order RNG's state at this chunk's start
    seconds: float = 0.0
    before: float = 0.0  # probe loss of the student before any step
    losses: list[float] = field(default_factory=list)


def general_distill(
    teacher_yaml: str | Path, student_yaml: str | Path, corpus: str | Path, output_dir: str | Path,
    *, epochs: float = 1.0, lr: float = 1e-4, batch_size: int = 32, max_length: int | None = None,
    chunk_batches: int = 50, seed: int = 0, resume: str = "auto",
) -> dict:  # fmt: skip
    """Distill the pre-trained encoder of teacher.yaml into student.yaml's architecture on ``corpus``.

    ``resume``: ``auto``, ``require`` or ``fresh``, as for :func:`distill.run.run`. Launched by
    ``torchrun``, rank 0 returns the result and the others ``{}``.
    """
    world = init_world()
    logger, level = logging.getLogger("distill"), logging.getLogger("distill").level
    if not world.is_main:
        logger.setLevel(logging.WARNING)
    try:
        return _general(teacher_yaml, student_yaml, corpus, output_dir, epochs, lr, batch_size, max_length, chunk_batches, seed, resume, world)
    finally:
        logger.setLevel(level)
        close(world)


def _check_flags(epochs: float, lr: float, batch_size: int, max_length: int | None) -> None:
    """``--epochs nan`` or ``--batch-size 0`` would otherwise train on a poisoned schedule or divide by zero."""
    for flag, value, integer in (("--epochs", epochs, False), ("--lr", lr, False), ("--batch-size", batch_size, True),
                                 ("--max-length", max_length, True)):  # fmt: skip
        if value is None and flag == "--max-length":
            continue
        if isinstance(value, bool) or not isinstance(value, int if integer else int | float) or not math.isfinite(value) or value <= 0:
            kind = "an integer >= 1" if integer else "a finite number > 0"
            raise ConfigError(f"{flag}: expected {kind}, got {value!r}")


def _general(teacher_yaml, student_yaml, corpus, output_dir, epochs, lr, batch_size, max_length, chunk_batches, seed, resume, world: World) -> dict:
    from distill.preflight import pick_device

    t_cfg, s_cfg = load_teacher_config(teacher_yaml), load_student_config(student_yaml)
    _check_flags(epochs, lr, batch_size, max_length)
    device = world.device(pick_device(s_cfg.device))
    check_precision(s_cfg.train, device, str(student_yaml))
    # The schedule's length needs the corpus size: count it (one streamed pass) before anything is written.
    n_texts = sum(1 for _ in iter_corpus(corpus))
    if n_texts == 0:
        raise DataError(f"{corpus}: the corpus has no text")
    chunk, accum = batch_size * chunk_batches, s_cfg.train.grad_accum_steps
    per_epoch = sum(steps_per_epoch(min(chunk, n_texts - k), batch_size, accum) for k in range(0, n_texts, chunk))
    how = f"ceil({n_texts:,} corpus texts / --batch-size {batch_size}) / train.grad_accum_steps {accum}, chunk by chunk"
    check_steps(epochs, per_epoch, "--epochs", how)
    total = total_steps(epochs, per_epoch)
    out = Path(output_dir)
    prepare_output_dir(out, "--output-dir")  # the flag (or its default outputs/general-<student>) chose it
    arch = s_cfg.architecture
    family = arch.student_family
    if not family.general:
        raise ConfigError(f"{student_yaml}: architecture.family: general distillation needs a Transformer student, got {arch.family}")
    path = resolve_model(t_cfg.model)
    t_hf = AutoConfig.from_pretrained(path)
    t = dims(t_hf)
    shape = arch.shape(t.hidden_size, t.num_heads, t.num_layers, getattr(t_hf, "intermediate_size", None))
    layer_map = resolve_layer_map(s_cfg.layer_map, shape.num_layers, t.num_layers, str(student_yaml))
    s = shape.dims()
    torch.manual_seed(seed)  # before the objectives: their projections W are drawn at random
    objectives = _objectives(str(student_yaml), s_cfg.stages[0].objectives, s, t)
    max_length = max_length or t_cfg.max_length

    teacher = AutoModel.from_pretrained(path).eval().to(device, DTYPES[s_cfg.train.teacher_precision])
    tokenizer = AutoTokenizer.from_pretrained(path)
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = family.build_encoder(arch, shape, t_hf)  # through the students registry
    if s_cfg.init == "teacher":
        log.info("general: student init from teacher: %s", ", ".join(init_from_teacher(student, teacher, layer_map)) or "nothing")
    want_s, want_t = feature_requests(objectives, layer_map)
    enable_capture(teacher)
    enable_capture(student)
    student.to(device)
    objectives = [o.to(device) for o in objectives]
    model = replicate(Trainable(student, objectives, want_s), world, device)
    unit_names = [o.unit for o in objectives]
    if world.rank:  # own dropout masks per rank (DDP makes the replicas' weights equal)
        torch.manual_seed(seed + 1_000_003 * world.rank)
    log.info("general: %s -> %s, objectives %s, layer map %s", t_cfg.model, arch.family, ", ".join(o.name for o in objectives), layer_map)

    probe = _encode(next(iter_chunks(corpus, batch_size)), tokenizer, max_length)

    run_args = {"corpus": str(corpus), "texts": n_texts, "bytes": Path(corpus).stat().st_size, "epochs": epochs, "lr": lr,
                "batch_size": batch_size, "max_length": max_length, "chunk_batches": chunk_batches, "seed": seed}  # fmt: skip
    key = resume_key({"teacher": {"model": t_cfg.model}, "student": s_cfg.model_dump(), "general": run_args})
    manager = CheckpointManager(out / "checkpoints" / "resume", s_cfg.checkpoint, key)
    ckpt = agreed_resume_point(manager, resume, str(student_yaml), world)
    stepper = Stepper([student, *objectives], lr=lr, optim=s_cfg.optimizer, train=s_cfg.train, total_steps=total, device=device)
    rng, loop = random.Random(seed), CorpusLoop()
    if ckpt is None:
        loop.before = intermediate_loss(student, teacher, objectives, layer_map, probe, batch_size, device)
    else:
        student.load_state_dict(ckpt.state["student"])
        for o, state in zip(objectives, ckpt.state["objectives"], strict=True):
            o.load_state_dict(state)
        stepper.load_state_dict(ckpt.state["stepper"])
        restore_rng(rank_rng(ckpt.state, world))
        loop = CorpusLoop(**ckpt.state["loop"])
        rng.setstate(_as_tuple(loop.chunk_rng))
    hooks = StageCheckpoints(manager, 0, loop.step, [], None, world)

    def lengths(data: Encoded, indices: list[int]) -> list[int]:
        return [len(data.input_ids[i]) for i in indices]

    start = time.perf_counter()
    student.train()
    bar = tqdm(total=total, initial=loop.step, desc="general distillation", unit="step", dynamic_ncols=True, disable=not world.is_main)
    with save_on_sigint(), bar:
        while loop.step < total:
            for c, texts in enumerate(iter_chunks(corpus, chunk)):
                if c < loop.chunk:  # done before a resume: skipped without tokenizing
                    continue
                loop.chunk_rng = rng.getstate()
                data = _encode(texts, tokenizer, max_length)
                batches = train_batches(data, batch_size, rng)
                groups = [batches[k : k + accum] for k in range(0, len(batches), accum)]
                for group in groups[loop.position :]:
                    step_loss = 0.0
                    for m, global_indices in enumerate(group):  # micro-batches of the global batch
                        indices = shard(global_indices, world)
                        shares = unit_shares(lengths(data, indices), lengths(data, global_indices), unit_names, world)
                        if not indices:  # fewer examples than ranks: join the all-reduce with a zero-weighted loss
                            indices, shares = global_indices[:1], [0.0] * len(shares)
                        batch = {k: v.to(device) for k, v in collate(data, indices).items()}
                        with torch.inference_mode():
                            t_feats = forward_features(teacher, batch, want_t)
                        with sync_unless(model, skip=m < len(group) - 1):
                            with stepper.autocast():
                                loss, _ = model(batch, t_feats.detached(), shares)
                            stepper.backward(loss, len(group))
                        step_loss += loss.item() / len(group)
                    stepper.step()
                    step_loss = all_sum([step_loss], world)[0] / world.size
                    loop.step, loop.position = loop.step + 1, loop.position + 1
                    loop.losses.append(step_loss)
                    bar.update(1)
                    bar.set_postfix(loss=f"{step_loss:.4f}")
                    elapsed = loop.seconds + time.perf_counter() - start
                    hooks.after_step(loop.step, False, lambda e=elapsed: {
                        "loop": asdict(loop) | {"seconds": e}, "student": student.state_dict(),
                        "objectives": [o.state_dict() for o in objectives], "stepper": stepper.state_dict(), "rng": capture_rng(),
                    })  # fmt: skip
                    if loop.step == total:
                        break
                if loop.step == total:
                    break
                loop.chunk, loop.position = loop.chunk + 1, 0
            else:
                loop.epoch, loop.chunk = loop.epoch + 1, 0
    step, before = loop.step, loop.before
    after = intermediate_loss(student, teacher, objectives, layer_map, probe, batch_size, device)
    if not world.is_main:
        return {}
    with atomic_dir(out) as tmp:  # replaces the folder, resume checkpoints included
        student.to("cpu").save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        torch.save({o.name: o.state_dict() for o in objectives}, tmp / "objectives.pt")
        result = {
            "teacher_model": t_cfg.model, "family": arch.family, "sizes": shape.as_dict(), "layer_map": layer_map,
            "corpus": str(corpus), "texts": n_texts, "steps": step, "seconds": loop.seconds + time.perf_counter() - start,
            "probe_loss_before": before, "probe_loss_after": after,
        }  # fmt: skip
        (tmp / "general.json").write_text(json.dumps(result, indent=2))
    log.info("general: %d steps, intermediate loss on the first batch %.4f -> %.4f; saved to %s", step, before, after, out)
    return result

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
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer

from distill.atomic import atomic_dir
from distill.config import load_student_config, load_teacher_config
from distill.data.batching import Encoded, collate, train_batches
from distill.distiller import _param_groups, _schedule, feature_requests, total_loss
from distill.errors import ConfigError, DataError
from distill.features import enable_capture, forward_features
from distill.layer_map import resolve_layer_map
from distill.objectives import OBJECTIVES, ModelDims, Objective
from distill.teacher import dims, resolve_model
from students.distilbert import distilbert_config
from students.init import init_from_teacher
from students.tinybert import tinybert_config

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


def intermediate_loss(student, teacher, objectives, layer_map, data: Encoded, batch_size: int) -> float:
    """Mean total intermediate loss over ``data`` (for before/after comparison), no gradients."""
    want_s, want_t = feature_requests(objectives, layer_map)
    total, n = 0.0, 0
    student.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = collate(data, list(range(start, min(start + batch_size, len(data)))))
            loss, _ = total_loss(objectives, forward_features(student, batch, want_s), forward_features(teacher, batch, want_t), batch["labels"])
            total, n = total + loss.item(), n + 1
    student.train()
    return total / max(n, 1)


def general_distill(
    teacher_yaml: str | Path, student_yaml: str | Path, corpus: str | Path, output_dir: str | Path,
    *, epochs: float = 1.0, lr: float = 1e-4, batch_size: int = 32, max_length: int | None = None,
    chunk_batches: int = 50, seed: int = 0,
) -> dict:  # fmt: skip
    """Distill the pre-trained encoder of teacher.yaml into student.yaml's architecture on ``corpus``."""
    t_cfg, s_cfg = load_teacher_config(teacher_yaml), load_student_config(student_yaml)
    arch = s_cfg.architecture
    if arch.family == "bilstm":
        raise ConfigError(f"{student_yaml}: architecture.family: general distillation needs a Transformer student, got bilstm")
    path = resolve_model(t_cfg.model)
    t_hf = AutoConfig.from_pretrained(path)
    t = dims(t_hf)
    sizes = arch.resolved(t.hidden_size, t.num_heads, t.num_layers, getattr(t_hf, "intermediate_size", None))
    layer_map = resolve_layer_map(s_cfg.layer_map, sizes["num_layers"], t.num_layers, str(student_yaml))
    s = ModelDims(sizes["hidden_size"], sizes["num_heads"], sizes["num_layers"])
    objectives = _objectives(str(student_yaml), s_cfg.stages[0].objectives, s, t)
    max_length = max_length or t_cfg.max_length

    teacher = AutoModel.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    for p in teacher.parameters():
        p.requires_grad_(False)
    torch.manual_seed(seed)
    s_hf = distilbert_config(t_hf, sizes["num_layers"], ["0", "1"]) if arch.family == "distilbert" else tinybert_config(sizes, t_hf, ["0", "1"])
    student = AutoModel.from_config(s_hf)
    if s_cfg.init == "teacher":
        log.info("general: student init from teacher: %s", ", ".join(init_from_teacher(student, teacher, layer_map)) or "nothing")
    want_s, want_t = feature_requests(objectives, layer_map)
    enable_capture(teacher)
    enable_capture(student)
    log.info("general: %s -> %s, objectives %s, layer map %s", t_cfg.model, arch.family, ", ".join(type(o).__name__ for o in objectives), layer_map)

    n_texts = sum(1 for _ in iter_corpus(corpus))
    if n_texts == 0:
        raise DataError(f"{corpus}: the corpus has no text")
    chunk = batch_size * chunk_batches
    per_epoch = sum(math.ceil(min(chunk, n_texts - k) / batch_size) for k in range(0, n_texts, chunk))
    total = max(1, math.ceil(epochs * per_epoch))
    probe = _encode(next(iter_chunks(corpus, batch_size)), tokenizer, max_length)
    before = intermediate_loss(student, teacher, objectives, layer_map, probe, batch_size)

    optimizer = torch.optim.AdamW(_param_groups([student, *objectives], s_cfg.optimizer.weight_decay), lr=lr)
    scheduler = _schedule(optimizer, total, s_cfg.optimizer.warmup_ratio, s_cfg.optimizer.schedule)
    rng, step, start, losses = random.Random(seed), 0, time.perf_counter(), []
    bar = tqdm(total=total, desc="general distillation", unit="step", dynamic_ncols=True)
    student.train()
    while step < total:
        for texts in iter_chunks(corpus, chunk):
            data = _encode(texts, tokenizer, max_length)
            for indices in train_batches(data, batch_size, rng):
                batch = collate(data, indices)
                with torch.inference_mode():
                    t_feats = forward_features(teacher, batch, want_t)
                loss, _ = total_loss(objectives, forward_features(student, batch, want_s), t_feats.detached(), batch["labels"])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if s_cfg.optimizer.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], s_cfg.optimizer.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}")
                if step == total:
                    break
            if step == total:
                break
    bar.close()
    after = intermediate_loss(student, teacher, objectives, layer_map, probe, batch_size)
    out = Path(output_dir)
    with atomic_dir(out) as tmp:
        student.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        torch.save({type(o).__name__: o.state_dict() for o in objectives}, tmp / "objectives.pt")
        result = {
            "teacher_model": t_cfg.model, "family": arch.family, "sizes": sizes, "layer_map": layer_map,
            "corpus": str(corpus), "texts": n_texts, "steps": step, "seconds": time.perf_counter() - start,
            "probe_loss_before": before, "probe_loss_after": after,
        }  # fmt: skip
        (tmp / "general.json").write_text(json.dumps(result, indent=2))
    log.info("general: %d steps, intermediate loss on the first batch %.4f -> %.4f; saved to %s", step, before, after, out)
    return result

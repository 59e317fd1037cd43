"""Start a student from its teacher instead of from random weights.

From random weights a small student needs far more steps than a CPU budget allows (measured here:
a random TinyBERT-4 reached 71.4% on a task whose majority rate is 70.0%). So:

- where shapes match (same width, heads and FFN), copy the teacher's embeddings, the teacher layer
  the layer map assigns to each student layer, the pooler and the classifier (DistilBERT's recipe);
- where the student is narrower, project the teacher's embeddings onto their top principal
  components (PCA), so the student starts with the teacher's lexical geometry; layers stay random;
- where the widths match but the architectures differ (an MPNet teacher, a BERT student), copy the
  word and position embeddings and the embedding LayerNorm; layers stay random.

Position rows are aligned by position, not by row: MPNet (like RoBERTa) numbers positions from
``padding_idx + 1`` (rows 0 and 1 unused), BERT from 0, so BERT row p takes MPNet row p + 2.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger("distill")


def _bert_parts(model: nn.Module):
    base = model.base_model
    return base.embeddings, base.encoder.layer, getattr(base, "pooler", None)


def _same_shapes(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


def position_offset(embeddings: nn.Module) -> int:
    """The row of position 0: ``padding_idx + 1`` for fairseq-style embeddings (MPNet, RoBERTa),
    which keep ``padding_idx`` on the embeddings module; 0 for BERT."""
    pad = getattr(embeddings, "padding_idx", None)
    return 0 if pad is None else pad + 1


@torch.no_grad()
def _copy_embeddings(s_emb: nn.Module, t_emb: nn.Module, proj: torch.Tensor | None) -> None:
    """Word and position rows (times ``proj`` (d_T, d_S) when given), positions aligned by offset;
    token-type rows when both have them and the same count."""

    def put(dst: torch.Tensor, src: torch.Tensor) -> None:  # src (rows, d_T) -> dst (rows, d_S)
        dst.copy_(src.float() @ proj if proj is not None else src)

    put(s_emb.word_embeddings.weight, t_emb.word_embeddings.weight)
    s_pos, t_pos = s_emb.position_embeddings.weight, t_emb.position_embeddings.weight
    s_off, t_off = position_offset(s_emb), position_offset(t_emb)
    n = min(s_pos.size(0) - s_off, t_pos.size(0) - t_off)
    put(s_pos[s_off : s_off + n], t_pos[t_off : t_off + n])
    src, dst = getattr(t_emb, "token_type_embeddings", None), getattr(s_emb, "token_type_embeddings", None)
    if src is not None and dst is not None and src.weight.shape[0] == dst.weight.shape[0]:
        put(dst.weight, src.weight)


@torch.no_grad()
def copy_relative_bias(student: nn.Module, teacher: nn.Module) -> bool:
    """MPNet keeps its relative-position bias on the encoder, shared by all layers, not in a layer:
    copy it when both models have one of the same shape."""
    src = getattr(teacher.base_model.encoder, "relative_attention_bias", None)
    dst = getattr(student.base_model.encoder, "relative_attention_bias", None)
    if src is None or dst is None or src.weight.shape != dst.weight.shape:
        return False
    dst.load_state_dict(src.state_dict())
    return True


def pca_projection(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The (d_T, dim) matrix of the top ``dim`` principal directions of the rows of ``weight``."""
    centered = weight - weight.mean(0, keepdim=True)  # (vocab, d_T)
    _, _, v = torch.linalg.svd(centered.float(), full_matrices=False)  # v: (d_T, d_T), rows = directions
    return v[:dim].T.contiguous()  # (d_T, dim)


@torch.no_grad()
def init_from_teacher(student: nn.Module, teacher: nn.Module, layer_map: list[int]) -> list[str]:
    """Initialise ``student`` in place from ``teacher``; returns what was copied, for the log."""
    s_emb, s_layers, s_pool = _bert_parts(student)
    t_emb, t_layers, t_pool = _bert_parts(teacher)
    done = []
    s_width, t_width = student.config.hidden_size, teacher.config.hidden_size
    if s_width == t_width:
        if _same_shapes(s_emb, t_emb):
            s_emb.load_state_dict(t_emb.state_dict())
            done.append("embeddings (copied)")
        elif s_emb.word_embeddings.weight.shape == t_emb.word_embeddings.weight.shape:  # another architecture
            _copy_embeddings(s_emb, t_emb, None)
            if hasattr(s_emb, "LayerNorm") and hasattr(t_emb, "LayerNorm"):
                s_emb.LayerNorm.load_state_dict(t_emb.LayerNorm.state_dict())
            done.append(f"word and position embeddings (copied from {type(t_emb).__name__})")
        copied = []
        for m, t in enumerate(layer_map, 1):
            if _same_shapes(s_layers[m - 1], t_layers[t - 1]):
                s_layers[m - 1].load_state_dict(t_layers[t - 1].state_dict())
                copied.append(f"{m}<-{t}")
        if copied:
            done.append(f"layers {' '.join(copied)} (copied)")
            if copy_relative_bias(student, teacher):
                done.append("relative position bias (copied)")
        if s_pool is not None and t_pool is not None and _same_shapes(s_pool, t_pool):
            s_pool.load_state_dict(t_pool.state_dict())
            done.append("pooler (copied)")
        if (
            hasattr(student, "classifier")
            and hasattr(teacher, "classifier")
            and _same_shapes(student.classifier, teacher.classifier)
        ):
            student.classifier.load_state_dict(teacher.classifier.state_dict())
            done.append("classifier (copied)")
    elif s_width < t_width:
        proj = pca_projection(t_emb.word_embeddings.weight, s_width)  # (d_T, d_S)
        _copy_embeddings(s_emb, t_emb, proj)
        done.append(f"embeddings (PCA {t_width}->{s_width})")
    if not done:
        log.warning("init: teacher: nothing in the student has the teacher's shapes; it starts random")
    return done


@torch.no_grad()
def init_embeddings(weight: torch.Tensor, words: list[str], kv) -> int:
    """Put each vocabulary word's vector from gensim ``kv`` on its row of ``weight`` (vocab, dim).

    Rows 0 and 1 (``[PAD]``, ``[UNK]``) become zero; words that ``kv`` lacks (as written or
    lower-cased) keep their random rows, rescaled to the vectors' standard deviation. Returns how
    many words were found.
    """
    from distill.core.vectors import lookup_key

    if weight.size(1) != kv.vector_size:
        raise ValueError(f"embedding width {weight.size(1)} differs from the vectors' {kv.vector_size}")
    std = float(kv.vectors[: min(len(kv.index_to_key), 50_000)].std())
    weight.normal_(0.0, std)
    weight[:2] = 0.0
    found = 0
    for row, word in enumerate(words):
        key = lookup_key(kv, word) if row >= 2 else None
        if key is not None:
            weight[row] = torch.from_numpy(kv.vectors[kv.key_to_index[key]].copy())
            found += 1
    return found

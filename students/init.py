"""Start a student from its teacher instead of from random weights.

From random weights a small student needs far more steps than a CPU budget allows (measured here:
a random TinyBERT-4 reached 71.4% on a task whose majority rate is 70.0%). So:

- where shapes match (same width, heads and FFN), copy the teacher's embeddings, the teacher layer
  the layer map assigns to each student layer, the pooler and the classifier (DistilBERT's recipe);
- where the student is narrower, project the teacher's embeddings onto their top principal
  components (PCA), so the student starts with the teacher's lexical geometry; layers stay random;
- where the widths match but the families differ (a BERT student of an MPNet, RoBERTa or ELECTRA
  teacher), copy the word and position embeddings and the embedding LayerNorm, and each mapped layer
  whose tensors line up with the student's (RoBERTa's and ELECTRA's layers are BERT's; MPNet's are not);
- a teacher whose word embeddings are narrower than its layers (ELECTRA-small, ALBERT: projected
  inside the model) gives no embeddings; the log says so.

Position rows are aligned by position, not by row: MPNet (like RoBERTa) numbers positions from
``padding_idx + 1`` (rows 0 and 1 unused), BERT from 0, so BERT row p takes MPNet row p + 2. Where
each part is, and each family's offset, come from the family adapters (distill.models.adapters).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from distill.models.adapters import adapter_of

log = logging.getLogger("distill")


def _same_shapes(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


def _fits(student_block: nn.Module, teacher_block: nn.Module) -> bool:
    """Every tensor of the student's block has its namesake, of the same shape, in the teacher's (a
    block may lack a part the teacher's has: ModernBERT's first layer has no attn_norm)."""
    s, t = student_block.state_dict(), teacher_block.state_dict()
    return all(k in t and t[k].shape == v.shape for k, v in s.items())


@torch.no_grad()
def _copy_embeddings(student: nn.Module, teacher: nn.Module, proj: torch.Tensor | None) -> None:
    """Word and position rows (times ``proj`` (d_T, d_S) when given), positions aligned by each
    family's offset (a teacher without absolute positions gives none); token-type rows when both have
    them and the same count."""
    sa, ta = adapter_of(student), adapter_of(teacher)

    def put(dst: torch.Tensor, src: torch.Tensor) -> None:  # src (rows, d_T) -> dst (rows, d_S)
        dst.copy_(src.float() @ proj if proj is not None else src)

    put(sa.word_embeddings(student).weight, ta.word_embeddings(teacher).weight)
    s_pos, t_pos = sa.position_embeddings(student), ta.position_embeddings(teacher)
    if s_pos is not None and t_pos is not None:
        s_off, t_off = sa.position_offset(student.config), ta.position_offset(teacher.config)
        n = min(s_pos.weight.size(0) - s_off, t_pos.weight.size(0) - t_off)
        put(s_pos.weight[s_off : s_off + n], t_pos.weight[t_off : t_off + n])
    src = getattr(ta.embeddings(teacher), "token_type_embeddings", None)
    dst = getattr(sa.embeddings(student), "token_type_embeddings", None)
    if src is not None and dst is not None and src.weight.shape[0] == dst.weight.shape[0]:
        constant = ta.constant_embedding(teacher)  # added to every token: folded into each type's row
        put(dst.weight, src.weight if constant is None else src.weight + constant)


@torch.no_grad()
def copy_shared(student: nn.Module, teacher: nn.Module) -> list[str]:
    """Copy the parts outside the blocks that every block reads (MPNet's relative-position bias,
    DeBERTa's relative embeddings, ModernBERT's final norm) when both models have them alike."""
    s_parts, t_parts = adapter_of(student).shared(student), adapter_of(teacher).shared(teacher)
    done = []
    for name, src in t_parts.items():
        dst = s_parts.get(name)
        if dst is not None and _same_shapes(dst, src):
            dst.load_state_dict(src.state_dict())
            done.append(name)
    return [f"{', '.join(done)} (copied)"] if done else []


@torch.no_grad()
def copy_head(student: nn.Module, teacher: nn.Module) -> list[str]:
    """Copy the pooler and the classifier head where both have them alike."""
    sa, ta = adapter_of(student), adapter_of(teacher)
    done = []
    s_pool, t_pool = sa.pooler(student), ta.pooler(teacher)
    if s_pool is not None and t_pool is not None and _same_shapes(s_pool, t_pool):
        s_pool.load_state_dict(t_pool.state_dict())
        done.append("pooler (copied)")
    s_head, t_head = sa.head(student), ta.head(teacher)
    if s_head is not None and t_head is not None and _same_shapes(s_head, t_head):
        s_head.load_state_dict(t_head.state_dict())
        done.append("classifier (copied)")
    return done


def pca_projection(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The (d_T, dim) matrix of the top ``dim`` principal directions of the rows of ``weight``."""
    centered = weight - weight.mean(0, keepdim=True)  # (vocab, d_T)
    _, _, v = torch.linalg.svd(centered.float(), full_matrices=False)  # v: (d_T, d_T), rows = directions
    return v[:dim].T.contiguous()  # (d_T, dim)


@torch.no_grad()
def init_from_teacher(student: nn.Module, teacher: nn.Module, layer_map: list[int]) -> list[str]:
    """Initialise ``student`` in place from ``teacher``; returns what was copied, for the log."""
    sa, ta = adapter_of(student), adapter_of(teacher)
    s_emb, s_layers = sa.embeddings(student), sa.layers(student)
    t_emb = ta.embeddings(teacher)
    s_width = sa.word_embeddings(student).weight.size(1)
    t_width = ta.word_embeddings(teacher).weight.size(1)
    done = []
    if student.config.hidden_size == teacher.config.hidden_size:
        if (
            s_width != t_width
        ):  # factorised teacher embeddings (ELECTRA-small, ALBERT), projected in its model
            done.append(f"embeddings left random (the teacher's are {t_width} wide, the student's {s_width})")
        elif sa is ta and _same_shapes(s_emb, t_emb):
            s_emb.load_state_dict(t_emb.state_dict())
            done.append("embeddings (copied)")
        elif sa.word_embeddings(student).weight.shape == ta.word_embeddings(teacher).weight.shape:
            _copy_embeddings(student, teacher, None)  # another family: rows by meaning
            s_norm, t_norm = sa.embedding_norm(student), ta.embedding_norm(teacher)
            if s_norm is not None and t_norm is not None and _same_shapes(s_norm, t_norm):
                s_norm.load_state_dict(t_norm.state_dict())
            done.append(f"word and position embeddings (copied from {type(t_emb).__name__})")
        copied = []
        t_applied, s_applied = ta.applied(teacher), sa.applied(student)
        fits = len(s_applied) == len(layer_map) and all(
            _fits(s_applied[m - 1], t_applied[t - 1]) for m, t in enumerate(layer_map, 1)
        )
        if sa is ta and fits:  # the family's own copy (ModernBERT's first layer, ALBERT's shared block)
            done.extend(sa.copy_layers(student, teacher, layer_map))
            copied = layer_map
        else:  # another family or FFN: the layers whose tensors line up (a BERT student of a RoBERTa teacher)
            for m, t in enumerate(layer_map, 1):
                if m <= len(s_layers) and _same_shapes(s_layers[m - 1], t_applied[t - 1]):
                    s_layers[m - 1].load_state_dict(t_applied[t - 1].state_dict())
                    copied.append(f"{m}<-{t}")
            if copied:
                done.append(f"layers {' '.join(copied)} (copied)")
        if copied:
            done.extend(copy_shared(student, teacher))
        done.extend(copy_head(student, teacher))
    elif s_width < t_width:
        proj = pca_projection(ta.word_embeddings(teacher).weight, s_width)  # (d_T, d_S)
        _copy_embeddings(student, teacher, proj)
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

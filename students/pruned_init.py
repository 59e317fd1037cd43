"""A narrower student cut out of its teacher: the teacher's most important weights, copied exactly.

A randomly initialised narrow student gets too few optimizer steps on a small task to learn
(measured: 55% of the teacher's dev accuracy on ~1,500 examples); TinyBERT's remedy, general
distillation on a large corpus, costs GPU-days. Pruning the teacher to the student's shape and then
distilling (Minitron: Muralidharan et al. 2024; Sheared LLaMA: Xia et al. 2023) starts the student
from the teacher's own function. Here, for a BERT student of a teacher whose blocks are BERT's
post-LayerNorm blocks under their own names (``Adapter.bert_parts``: BERT, RoBERTa, ELECTRA, ERNIE,
DistilBERT exactly; MPNet and DeBERTa without their relative-position terms, ``Adapter.cut_drops``):

- importance from a few hundred training texts run through the teacher (no gradients): of each
  residual channel, the mean |activation| over the embedding output and every layer's output (one
  channel set for the whole residual stream, Minitron's embedding-channel importance); of each head,
  the norm of its attention context; of each head dimension, its mean |context|; of each FFN neuron,
  its mean |activation| after the nonlinearity;
- the kept indices are the top ones, in their original order; student layer ``m`` is cut from
  teacher layer ``layer_map[m-1]``: Q/K/V rows of the kept heads and head dimensions, every input
  column of the kept channels, output rows of the kept channels, LayerNorms of the kept channels,
  FFN rows/columns of the kept neurons; the embeddings' columns of the kept channels (rows aligned by
  each family's position offset), the pooler and classifier where the teacher's head is BERT's;
- with fewer head dimensions the score scale 1/√d changes; Q is rescaled by √(d_S/d_T) (times the
  family's own factor, ``Adapter.score_scale``) so that Q Kᵀ/√d_S keeps the teacher's magnitude.
  With every channel, head and neuron kept the student computes exactly the teacher's function
  (tested per family).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from distill.models.adapters import ADAPTERS, adapter_for, adapter_of
from students.init import _copy_embeddings


@dataclass
class Importance:
    """Importance figures of a teacher, from ``texts`` activations (all non-negative)."""

    channels: Tensor  # (hidden,)
    heads: list[Tensor]  # per teacher layer: (heads,)
    head_dims: list[Tensor]  # per teacher layer: (heads, head_dim)
    neurons: list[Tensor]  # per teacher layer: (ffn,)
    texts: int


@torch.no_grad()
def importance(teacher: nn.Module, batches: list[dict[str, Tensor]]) -> Importance:
    """Run ``teacher`` on ``batches`` (input_ids, attention_mask[, token_type_ids]) and average the
    activations' magnitudes over real tokens."""
    adapter = adapter_of(teacher)
    cfg = teacher.config
    heads, width = cfg.num_attention_heads, cfg.hidden_size
    head_dim = width // heads
    parts = [adapter.bert_parts(b) for b in adapter.layers(teacher)]
    channels = torch.zeros(width)
    context = [torch.zeros(heads, head_dim) for _ in parts]
    neurons = [torch.zeros(p.ffn_in.out_features) for p in parts]
    state = {"mask": None, "tokens": 0}

    def into(total: Tensor, shape: tuple[int, ...] | None = None):
        """A hook adding the output's (or, as a pre-hook, the input's) |values| over real tokens to
        ``total``; it returns None, so the model's outputs are left as they are."""

        def hook(module: nn.Module, args: tuple, out: Tensor | None = None) -> None:
            x = (args[0] if out is None else out).abs()  # (batch, seq, n)
            summed = (x * state["mask"][..., None]).sum((0, 1))  # (n,)
            total.add_(summed.view(shape) if shape else summed)

        return hook

    hooks = [adapter.embeddings(teacher).register_forward_hook(into(channels))]
    for i, p in enumerate(parts):
        hooks.append(p.ffn_norm.register_forward_hook(into(channels)))  # the block's output
        hooks.append(p.ffn_out.register_forward_pre_hook(into(neurons[i])))  # after the nonlinearity
        # the attention output's input: the heads' contexts, (batch, seq, heads * head_dim)
        hooks.append(p.attn_out.register_forward_pre_hook(into(context[i], (heads, head_dim))))
    names = ["input_ids", "attention_mask"] + ["token_type_ids"] * adapter.takes_token_types(cfg)
    n_texts = 0
    try:
        teacher.eval()
        for batch in batches:
            state["mask"] = batch["attention_mask"].float()
            state["tokens"] += int(state["mask"].sum())
            n_texts += batch["input_ids"].size(0)
            teacher(**{k: v for k, v in batch.items() if k in names})
    finally:
        for h in hooks:
            h.remove()
    tokens = max(state["tokens"], 1)
    per_dim = [c / tokens for c in context]
    return Importance(
        channels=channels / (tokens * (len(parts) + 1)),
        heads=[d.norm(dim=1) for d in per_dim],
        head_dims=per_dim,
        neurons=[n / tokens for n in neurons],
        texts=n_texts,
    )


def _top(scores: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` largest scores, in their original order."""
    return torch.sort(torch.topk(scores, k).indices).values


def _put(dst: nn.Linear, src: nn.Linear, rows: Tensor, cols: Tensor, scale: float = 1.0) -> None:
    dst.weight.copy_(src.weight[rows][:, cols] * scale)
    if dst.bias is not None and src.bias is not None:
        dst.bias.copy_(src.bias[rows] * scale)


def _norm(dst: nn.LayerNorm, src: nn.LayerNorm, idx: Tensor) -> None:
    dst.weight.copy_(src.weight[idx])
    dst.bias.copy_(src.bias[idx])


@torch.no_grad()
def pruned_copy(student: nn.Module, teacher: nn.Module, layer_map: list[int], imp: Importance) -> list[str]:
    """Cut ``student`` (a BERT classifier of any shape no larger than the teacher's) out of ``teacher``
    by ``imp``; returns what was kept, for the log."""
    s_cfg, t_cfg = student.config, teacher.config
    sa, ta = adapter_of(student), adapter_of(teacher)
    t_heads, s_heads = t_cfg.num_attention_heads, s_cfg.num_attention_heads
    t_hd, s_hd = t_cfg.hidden_size // t_heads, s_cfg.hidden_size // s_heads
    if s_cfg.hidden_size > t_cfg.hidden_size or s_heads > t_heads or s_hd > t_hd:
        raise ValueError("the student is wider than the teacher")
    ch = _top(imp.channels, s_cfg.hidden_size)  # the residual channels kept everywhere
    select = torch.eye(t_cfg.hidden_size)[:, ch]  # (d_T, d_S): one-hot columns
    _copy_embeddings(student, teacher, select)
    types = getattr(sa.embeddings(student), "token_type_embeddings", None)
    if types is not None and not ta.takes_token_types(t_cfg):  # BERT adds a type row the teacher has not
        types.weight.zero_()
    _norm(sa.embedding_norm(student), ta.embedding_norm(teacher), ch)
    s_parts = [sa.bert_parts(b) for b in sa.layers(student)]
    t_parts = [ta.bert_parts(b) for b in ta.layers(teacher)]
    # keeps Q Kᵀ / sqrt(d_S) at the teacher's scale (its own factor included: DeBERTa's 1/sqrt(3))
    q_scale = math.sqrt(s_hd / t_hd) * ta.score_scale(t_cfg)
    ffn_kept = []
    for m, t in enumerate(layer_map, 1):
        s, src = s_parts[m - 1], t_parts[t - 1]
        heads = _top(imp.heads[t - 1], s_heads)
        # Q and K share their dimensions (their product is summed over them); V and O share theirs
        qk = torch.cat(
            [
                h * t_hd
                + _top(
                    src.query.weight[h * t_hd : (h + 1) * t_hd].norm(dim=1)
                    * src.key.weight[h * t_hd : (h + 1) * t_hd].norm(dim=1),
                    s_hd,
                )
                for h in heads.tolist()
            ]
        )
        vo = torch.cat([h * t_hd + _top(imp.head_dims[t - 1][h], s_hd) for h in heads.tolist()])
        _put(s.query, src.query, qk, ch, q_scale)
        _put(s.key, src.key, qk, ch)
        _put(s.value, src.value, vo, ch)
        _put(s.attn_out, src.attn_out, ch, vo)
        _norm(s.attn_norm, src.attn_norm, ch)
        neurons = _top(imp.neurons[t - 1], s.ffn_in.out_features)
        _put(s.ffn_in, src.ffn_in, neurons, ch)
        _put(s.ffn_out, src.ffn_out, ch, neurons)
        _norm(s.ffn_norm, src.ffn_norm, ch)
        ffn_kept.append(len(neurons))
    notes = [
        f"pruned from the teacher by activation importance over {imp.texts} texts: "
        f"{len(ch)}/{t_cfg.hidden_size} channels, {s_heads}/{t_heads} heads x {s_hd}/{t_hd} dims, "
        f"FFN {ffn_kept[0]}/{t_parts[0].ffn_in.out_features}, layers "
        + " ".join(f"{m}<-{t}" for m, t in enumerate(layer_map, 1)),
        f"channel importance kept {float(imp.channels[ch].sum() / imp.channels.sum()):.1%}",
    ]
    if ta.cut_drops:
        notes.append(f"not carried over from {ta.title}: {ta.cut_drops}")
    # BERT's pooler (dense + tanh) and classifier; another head (RoBERTa's, DeBERTa's) stays random
    t_pool, s_pool = ta.pooler(teacher), sa.pooler(student)
    t_head, s_head = ta.head(teacher), sa.head(student)
    if isinstance(getattr(t_pool, "activation", None), nn.Tanh) and s_pool is not None:
        _put(s_pool.dense, t_pool.dense, ch, ch)
        notes.append("pooler (pruned)")
        if isinstance(t_head, nn.Linear) and t_head.out_features == s_head.out_features:
            _put(s_head, t_head, torch.arange(t_head.out_features), ch)
            notes.append("classifier (pruned)")
    return notes


def kept_channels(imp: Importance, width: int) -> list[int]:
    """The teacher's residual channels a student of ``width`` keeps, in order (as ``pruned_copy``)."""
    return _top(imp.channels, width).tolist()


def refusal(teacher: Any, hidden: int, heads: int, ffn: int, layers: int) -> str | None:
    """Why a student of these sizes cannot be cut out of a teacher of config ``teacher`` (None: it
    can): the teacher's blocks must be BERT's (``Adapter.cut``), its embeddings as wide as its layers, and the student
    no larger in any dimension. Validate words its error with this; ``build`` asserts it."""
    adapter = adapter_for(teacher.model_type)
    if not adapter.cut.ok:
        takers = ", ".join(n for n in ADAPTERS.names() if ADAPTERS.get(n).cut.ok)
        return f"a {adapter.title} teacher cannot be cut into a BERT student: {adapter.cut.why}; teachers: {takers}"
    if (getattr(teacher, "embedding_size", None) or teacher.hidden_size) != teacher.hidden_size:
        return (
            f"the teacher's embeddings ({teacher.embedding_size}) are narrower than its layers "
            f"({teacher.hidden_size})"
        )
    sizes = {
        "hidden_size": (hidden, teacher.hidden_size),
        "num_heads": (heads, teacher.num_attention_heads),
        "head size": (hidden // heads, teacher.hidden_size // teacher.num_attention_heads),
        "intermediate_size": (ffn, adapter.ffn_size(teacher)),
        "num_layers": (layers, teacher.num_hidden_layers),
    }
    wider = [f"{k} {a} > {b}" for k, (a, b) in sizes.items() if a > b]
    return f"the student is larger than the teacher ({', '.join(wider)})" if wider else None


def applies(student: nn.Module, teacher: nn.Module) -> bool:
    """:func:`refusal` for two built models."""
    s = student.config
    return (
        refusal(
            teacher.config, s.hidden_size, s.num_attention_heads, s.intermediate_size, s.num_hidden_layers
        )
        is None
    )

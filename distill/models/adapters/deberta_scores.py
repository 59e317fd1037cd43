"""Pre-softmax attention capture for DeBERTa-v2/v3, whose disentangled attention bypasses the registry.

``DisentangledSelfAttention.forward`` computes its scores inline: content-to-content
``Q_c K_cᵀ`` plus, with relative attention, content-to-position ``Q_c K_rᵀ`` and position-to-content
``K_c Q_rᵀ`` (each gathered by relative distance), all divided by ``√(d · s)`` where ``s`` counts the
terms (1 + c2p + p2c: 3 for DeBERTa-v3). While a layer records, :func:`recording_forward` replaces
that module's ``forward``: the same operations in the same order, plus recording into its
``_kd_sink``. What is recorded is the sum of the three terms before the padding mask, the matrix
DeBERTa's softmax normalises, as (batch, heads, seq, seq); Q/K/V as (batch, heads, seq, head_dim).
"""

from __future__ import annotations

from torch import Tensor, nn
from transformers.models.deberta_v2.modeling_deberta_v2 import DisentangledSelfAttention, scaled_size_sqrt


def recording_forward(
    self: DisentangledSelfAttention,
    hidden_states: Tensor,  # (batch, seq, hidden)
    attention_mask: Tensor,  # (batch, 1, seq, seq) 1 where query and key are both real tokens
    output_attentions: bool = False,
    query_states: Tensor | None = None,
    relative_pos: Tensor | None = None,
    rel_embeddings: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    # Mirrors transformers 5.x DisentangledSelfAttention.forward op for op (the adapter contract test
    # checks the outputs against the unpatched model); only the `sink` lines are new.
    import torch

    sink = getattr(self, "_kd_sink", None)
    layer, want_scores, want_qkv = sink.next() if sink is not None else (0, False, False)
    if query_states is None:
        query_states = hidden_states
    h = self.num_attention_heads
    q = self.transpose_for_scores(self.query_proj(query_states), h)  # (batch * heads, seq, head_dim)
    k = self.transpose_for_scores(self.key_proj(hidden_states), h)
    v = self.transpose_for_scores(self.value_proj(hidden_states), h)
    if want_qkv:
        sink.qkv[layer] = tuple(t.view(-1, h, t.size(-2), t.size(-1)) for t in (q, k, v))

    rel_att = None
    scale_factor = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
    scale = scaled_size_sqrt(q, scale_factor)
    scores = torch.bmm(q, k.transpose(-1, -2) / scale.to(dtype=q.dtype))  # (batch * heads, seq, seq)
    if self.relative_attention:
        rel_embeddings = self.pos_dropout(rel_embeddings)
        rel_att = self.disentangled_attention_bias(q, k, relative_pos, rel_embeddings, scale_factor)
    if rel_att is not None:
        scores = scores + rel_att
    scores = scores.view(-1, h, scores.size(-2), scores.size(-1))  # (batch, heads, seq, seq)
    if want_scores:
        sink.scores[layer] = scores

    attention_mask = attention_mask.bool()
    scores = scores.masked_fill(~(attention_mask), torch.finfo(q.dtype).min)
    probs = nn.functional.softmax(scores, dim=-1)
    probs = self.dropout(probs)
    context = torch.bmm(probs.view(-1, probs.size(-2), probs.size(-1)), v)
    context = context.view(-1, h, context.size(-2), context.size(-1)).permute(0, 2, 1, 3).contiguous()
    context = context.view(context.size()[:-2] + (-1,))  # (batch, seq, hidden)
    return (context, probs) if output_attentions else (context, None)

"""Pre-softmax attention capture for MPNet, whose attention bypasses transformers' AttentionInterface.

transformers' ``MPNetSelfAttention.forward`` computes its scores inline (eager only, no attention
registry), so the ``kd`` attention function of :mod:`distill.models.features` never sees them. While a
layer records, :func:`patched` replaces that module's ``forward`` (on the instance, not the class)
with :func:`_recording_forward`: the same operations in the same order, so outputs are bit-identical,
plus recording into the module's ``_kd_sink``.

What is recorded as the "un-normalized attention scores" of TinyBERT: ``Q Kᵀ / √d + B``, where ``B``
is MPNet's relative-position bias (one learned scalar per head and relative-distance bucket, shared
by all layers), taken before the padding mask is added. ``B`` is included because it is part of
what the softmax normalizes: the teacher's attention distribution is ``softmax(Q Kᵀ/√d + B + mask)``,
and without ``B`` a student matching the scores would match logits whose softmax is not the
teacher's attention. A BERT student has no such bias, so it learns the positional part through its
own ``Q Kᵀ`` (absolute position embeddings).

Queries, keys and values (MiniLM's relation objective) are recorded as the other attention does:
(batch, heads, seq, head_dim) each, before any scaling.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from transformers.models.mpnet.modeling_mpnet import MPNetSelfAttention


def recording_forward(
    self: MPNetSelfAttention,
    hidden_states: Tensor,  # (batch, seq, hidden)
    attention_mask: Tensor | None = None,  # (batch, 1, seq, seq) additive: 0 or float-min
    position_bias: Tensor | None = None,  # (batch, heads, seq, seq), from MPNetEncoder
    output_attentions: bool = False,
    **kwargs,
) -> tuple[Tensor, ...]:
    # Mirrors transformers 5.x MPNetSelfAttention.forward op for op (tests/distill/test_mpnet.py
    # checks the outputs against the unpatched model); only the two `sink` lines are new.
    sink = getattr(self, "_kd_sink", None)
    layer, want_scores, want_qkv = sink.next() if sink is not None else (0, False, False)
    hidden_shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
    q = self.q(hidden_states).view(hidden_shape).transpose(1, 2)  # (batch, heads, seq, head_dim)
    k = self.k(hidden_states).view(hidden_shape).transpose(1, 2)
    v = self.v(hidden_states).view(hidden_shape).transpose(1, 2)
    if want_qkv:
        sink.qkv[layer] = (q, k, v)

    # (batch, heads, seq, seq)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
    if position_bias is not None:
        scores = scores + position_bias
    if want_scores:
        sink.scores[layer] = scores
    if attention_mask is not None:
        scores = scores + attention_mask

    probs = self.dropout(nn.functional.softmax(scores, dim=-1))
    c = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()  # (batch, seq, heads, head_dim)
    o = self.o(c.view(*c.size()[:-2], self.all_head_size))
    return (o, probs) if output_attentions else (o,)

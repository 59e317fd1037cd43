"""The ``kd`` attention function: pre-softmax scores from every family that calls transformers'
attention-function registry (BERT, RoBERTa, XLM-R, ELECTRA, DistilBERT, ALBERT, ModernBERT).

We register an attention function named ``"kd"`` that computes ``Q Kᵀ · scaling`` by hand on the
calls its module's :class:`~distill.models.adapters.base.Sink` asks to record (and hands the rest to
PyTorch SDPA), plus the eager mask function under the same name so the mask arrives as an additive
float tensor (without it the mask arrives as None and padding silently leaks). The scaling is the
one the module passes (ModernBERT passes it as an argument and applies rotary embeddings to Q and K
before the call, so the recorded scores are its real ones). A call with a ``sliding_window``
(ModernBERT's local layers) also records where its scores are defined: inside the window, which the
mask it receives already encodes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import eager_mask

from distill.models.adapters.recording import Sink

ATTN_IMPLEMENTATION = "kd"


def kd_attention(
    module: nn.Module,
    query: Tensor,  # (batch, heads, seq, head_dim)
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,  # (batch, 1, seq, seq) additive: 0 or float-min
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[Tensor, Tensor | None]:
    sink: Sink | None = getattr(module, "_kd_sink", None)
    layer, want_scores, want_qkv = sink.next() if sink is not None else (0, False, False)
    if want_qkv:
        sink.qkv[layer] = (query, key, value)
    if not want_scores:  # scores not needed here: the fast fused kernel
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (batch, heads, seq, seq)
    sink.scores[layer] = scores
    if kwargs.get("sliding_window") is not None and attention_mask is not None:
        # (batch, 1, seq, seq): True inside the window (and on real tokens)
        sink.valid[layer] = attention_mask > torch.finfo(attention_mask.dtype).min / 2
    weights = scores if attention_mask is None else scores + attention_mask
    probs = nn.functional.dropout(torch.softmax(weights, dim=-1), p=dropout, training=module.training)
    output = torch.matmul(probs, value).transpose(1, 2).contiguous()  # (batch, seq, heads, head_dim)
    return output, probs


AttentionInterface.register(ATTN_IMPLEMENTATION, kd_attention)
AttentionMaskInterface.register(ATTN_IMPLEMENTATION, eager_mask)


def enable_kd_attention(model: nn.Module) -> None:
    """Select the ``kd`` attention on ``model`` and on every sub-config (composite models)."""
    model.config._attn_implementation = ATTN_IMPLEMENTATION
    for module in model.modules():
        cfg = getattr(module, "config", None)
        if cfg is not None and cfg is not model.config:
            cfg._attn_implementation = ATTN_IMPLEMENTATION

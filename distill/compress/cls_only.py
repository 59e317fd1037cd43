"""A BERT classifier whose last layer computes the [CLS] row only: same logits, less work.

Why it is exact: a BERT sequence classifier reads nothing of the last layer but position 0 (the
pooler takes ``hidden[:, 0]``). In the last layer every other position still matters as a key and
a value for [CLS]'s attention, but its own query, attention output, LayerNorms and FFN are never
read. So the last layer computes K and V for all T tokens and everything else for one row.

What it saves: for TinyBERT-4 (4 layers x 312, FFN 1200) at T = 64, the last layer's Q, attention
output and FFN are ~83% of that layer's matmul work and that layer is a quarter of the model, so about
a fifth of all matmul work goes (measured in experiments/int8_recipes.py). The deeper the model, the
smaller the share (1/24 of BERT-large).

Used for export (``distill export --int8 cls``) and as the ``*-cls`` benchmark kinds; training
always uses the full model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from distill.errors import ConfigError


def last_layer_cls(layer: nn.Module, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
    """A ``BertLayer`` evaluated for the first position only.

    hidden (B, T, H), additive_mask (B, 1, 1, T) with 0 on tokens and -10000 on padding -> (B, 1, H).
    """
    att = layer.attention.self
    b, t, _ = hidden.shape
    heads, d = att.num_attention_heads, att.attention_head_size
    q = att.query(hidden[:, :1]).view(b, 1, heads, d).transpose(1, 2)  # (B, heads, 1, d)
    k = att.key(hidden).view(b, t, heads, d).transpose(1, 2)  # (B, heads, T, d)
    v = att.value(hidden).view(b, t, heads, d).transpose(1, 2)  # (B, heads, T, d)
    scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(d) + additive_mask  # (B, heads, 1, T)
    context = torch.matmul(scores.softmax(-1), v)  # (B, heads, 1, d)
    context = context.transpose(1, 2).reshape(b, 1, heads * d)  # (B, 1, H)
    attended = layer.attention.output(context, hidden[:, :1])  # dense + residual + LayerNorm, (B, 1, H)
    return layer.output(layer.intermediate(attended), attended)  # FFN + residual + LayerNorm, (B, 1, H)


class ClsOnlyLastLayer(nn.Module):
    """forward(input_ids, attention_mask) -> logits of a ``BertForSequenceClassification``, with
    :func:`last_layer_cls` as its last layer. Shares the wrapped model's weights."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if getattr(model.config, "model_type", None) != "bert" or not hasattr(model, "bert"):
            raise ConfigError(
                f"the [CLS]-only last layer needs a BERT classifier, not model_type "
                f"{getattr(model.config, 'model_type', None)!r}"
            )
        if model.bert.pooler is None:
            raise ConfigError("the [CLS]-only last layer needs a BERT classifier with a pooler")
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        bert = self.model.bert
        # As in LogitsOnly: explicit token types and positions, so an ONNX export keeps both axes dynamic.
        token_type_ids = torch.zeros_like(input_ids)  # (B, T)
        position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0).expand_as(input_ids)
        hidden = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids)
        additive = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(hidden.dtype)) * -10000.0  # (B, 1, 1, T)
        layers = bert.encoder.layer
        for layer in layers[:-1]:
            hidden = layer(hidden, additive)  # (B, T, H)
        cls = last_layer_cls(layers[-1], hidden, additive)  # (B, 1, H)
        return self.model.classifier(self.model.dropout(bert.pooler(cls)))  # (B, labels)

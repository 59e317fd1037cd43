"""A BERT classifier rewritten for inference: same logits, less work per call.

Two exact rewrites, both aimed at batch-1 latency on CPU (where INT8 GEMMs are small and per-op
overhead shows):

1. **[CLS]-only last layer.** A BERT sequence classifier reads nothing of the last layer but
   position 0 (the pooler takes ``hidden[:, 0]``). In the last layer every other position still
   matters as a key and a value for [CLS]'s attention, but its own query, attention output,
   LayerNorms and FFN are never read. So the last layer computes K and V for all T tokens and
   everything else for one row. For TinyBERT-4 (4 x 312, FFN 1200) at T = 64 that drops about a
   fifth of all matmul work; the deeper the model, the smaller the share (1/24 of BERT-large).
2. **Fused Q/K/V.** The three projections of a layer become one ``Linear(H, 3H)`` (the last layer:
   ``Linear(H, 2H)`` for K and V, Q on one row), with the 1/sqrt(d) score scale folded into Q's
   weights. After INT8 quantisation that is one activation quantisation and one GEMM per layer
   instead of three of each, and one division fewer over the (heads, T, T) scores.

Used for export (``distill export --int8 cls``) and as the ``*-cls`` benchmark kinds; training
always uses the unmodified model. ``DeployBert`` works on its own copy of the model, whose separate
Q/K/V projections it drops once fused: the caller's model is untouched, and the rewritten one holds
each weight once (its state dict is as large as the original's).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from distill.core.errors import ConfigError
from distill.models.adapters import adapter_for


def fuse_linears(linears: list[nn.Linear], scales: list[float]) -> nn.Linear:
    """One Linear whose output is the concatenation of ``linears``' outputs, each scaled."""
    fused = nn.Linear(linears[0].in_features, sum(lin.out_features for lin in linears))
    fused = fused.to(device=linears[0].weight.device, dtype=linears[0].weight.dtype)
    with torch.no_grad():
        # (sum out, H)
        fused.weight.copy_(torch.cat([lin.weight * s for lin, s in zip(linears, scales, strict=True)]))
        fused.bias.copy_(torch.cat([lin.bias * s for lin, s in zip(linears, scales, strict=True)]))
    return fused


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
    """Softmax attention with the score scale already in q.

    q (B, heads, Tq, d), k and v (B, heads, T, d), additive_mask (B, 1, 1, T) -> (B, Tq, heads * d)."""
    scores = torch.matmul(q, k.transpose(2, 3)) + additive_mask  # (B, heads, Tq, T)
    context = torch.matmul(scores.softmax(-1), v)  # (B, heads, Tq, d)
    b, heads, tq, d = context.shape
    return context.transpose(1, 2).reshape(b, tq, heads * d)


class DeployBert(nn.Module):
    """forward(input_ids, attention_mask[, token_type_ids]) -> the logits of a ``BertForSequenceClassification``,
    computed with fused Q/K/V projections and a [CLS]-only last layer. ``input_names``: the inputs it
    takes (those of the model's :class:`~distill.compress.models.LogitsOnly`: with token types when
    its tokenizer produces them), so its graph has the same inputs as the plain export's."""

    def __init__(self, model: nn.Module, input_names: tuple[str, ...] = ("input_ids", "attention_mask")):
        super().__init__()
        self.input_names = tuple(input_names)
        support = adapter_for(getattr(model.config, "model_type", None)).cls_graph
        if not support.ok or not hasattr(model, "bert"):
            raise ConfigError(
                f"the [CLS]-only last layer needs a BERT classifier: {support.why or type(model).__name__}"
            )
        if model.bert.pooler is None:
            raise ConfigError("the [CLS]-only last layer needs a BERT classifier with a pooler")
        self.model = model = copy.deepcopy(model)
        *inner, last = model.bert.encoder.layer
        self.qkv = nn.ModuleList()
        for layer in inner:
            a = layer.attention.self
            self.qkv.append(fuse_linears([a.query, a.key, a.value], [a.attention_head_size**-0.5, 1.0, 1.0]))
        a = last.attention.self
        self.last_q = fuse_linears([a.query], [a.attention_head_size**-0.5])
        self.last_kv = fuse_linears([a.key, a.value], [1.0, 1.0])
        for layer in model.bert.encoder.layer:  # fused above; forward never calls them
            layer.attention.self.query = layer.attention.self.key = layer.attention.self.value = None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        bert = self.model.bert
        # As in LogitsOnly: explicit token types (zeros for one sentence) and positions, so an ONNX
        # export keeps both axes dynamic.
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # (B, T)
        position_ids = (
            torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0).expand_as(input_ids)
        )
        hidden = bert.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids
        )
        additive = (
            1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(hidden.dtype)
        ) * -10000.0  # (B, 1, 1, T)
        *inner, last = bert.encoder.layer
        b, t, _ = hidden.shape
        for layer, qkv in zip(inner, self.qkv, strict=True):
            heads, d = layer.attention.self.num_attention_heads, layer.attention.self.attention_head_size
            q, k, v = qkv(hidden).view(b, t, 3, heads, d).permute(2, 0, 3, 1, 4)  # each (B, heads, T, d)
            attended = layer.attention.output(attend(q, k, v, additive), hidden)  # dense + residual + LN
            hidden = layer.output(layer.intermediate(attended), attended)  # FFN + residual + LN, (B, T, H)
        heads, d = last.attention.self.num_attention_heads, last.attention.self.attention_head_size
        q = self.last_q(hidden[:, :1]).view(b, 1, heads, d).transpose(1, 2)  # (B, heads, 1, d)
        k, v = self.last_kv(hidden).view(b, t, 2, heads, d).permute(2, 0, 3, 1, 4)  # each (B, heads, T, d)
        attended = last.attention.output(attend(q, k, v, additive), hidden[:, :1])  # (B, 1, H)
        cls = last.output(last.intermediate(attended), attended)  # (B, 1, H)
        return self.model.classifier(self.model.dropout(bert.pooler(cls)))  # (B, labels)

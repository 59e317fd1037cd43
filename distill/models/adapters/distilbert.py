"""DistilBERT: ``distilbert.transformer.layer`` blocks, no token types, a pre-classifier instead of a pooler.

Its config names the sizes ``n_layers``/``dim``/``n_heads``/``hidden_dim``; ``num_hidden_layers``,
``hidden_size`` and ``num_attention_heads`` map onto them, so the base adapter's config handling
applies. Its self-attention calls the attention-function registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distill.models.adapters.base import Adapter, BertParts, Support, register

if TYPE_CHECKING:
    from torch import nn


class DistilBertAdapter(Adapter):
    name = "distilbert"
    title = "DistilBERT"
    model_types = ("distilbert",)
    token_types = False
    cls_graph = Support.no(
        "the [CLS]-only last layer rewrites BERT layers and pooler; DistilBERT's blocks (sa_layer_norm, ffn) and "
        "pre_classifier head differ"
    )
    prune = Support.no(
        "compress/prune.py cuts BERT's layer layout (attention.self.query/key/value, intermediate.dense); DistilBERT's (q_lin/k_lin/v_lin, ffn.lin1) differs"
    )
    notes = "no token types; blocks at distilbert.transformer.layer; pre_classifier + classifier head"

    def ffn_size(self, config: Any) -> int:
        return config.hidden_dim

    def layers(self, model: nn.Module) -> nn.ModuleList:
        return model.base_model.transformer.layer

    def attention(self, block: nn.Module) -> nn.Module:
        return block.attention

    def bert_parts(self, block: nn.Module) -> BertParts:
        a, ffn = block.attention, block.ffn
        return BertParts(
            a.q_lin,
            a.k_lin,
            a.v_lin,
            a.out_lin,
            block.sa_layer_norm,
            ffn.lin1,
            ffn.lin2,
            block.output_layer_norm,
        )

    def pooler(self, model: nn.Module) -> nn.Module | None:
        return getattr(model, "pre_classifier", None)


DISTILBERT = register(DistilBertAdapter())

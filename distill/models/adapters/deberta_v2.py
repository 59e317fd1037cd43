"""DeBERTa-v2 and v3 (``model_type: deberta-v2``): disentangled attention with relative positions.

Its self-attention computes content and position terms inline (no attention-function registry), so
the recording modules get :func:`distill.models.adapters.deberta_scores.recording_forward` while
recording. The relative-position embeddings and their LayerNorm live on the encoder, read by every
layer (copied with the layers); the pooler (``ContextPooler``) sits on the classifier, not the base
model. The model builds its own (batch, 1, seq, seq) mask from the 0/1 mask.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from distill.models.adapters.base import Adapter, BertParts, Support, instance_forward, register

if TYPE_CHECKING:
    from torch import nn


class DebertaV2Adapter(Adapter):
    name = "deberta-v2"
    title = "DeBERTa-v2/v3"
    model_types = ("deberta-v2",)
    cut_drops = (
        "the content-to-position and position-to-content terms (and v2's convolution); a BERT student has "
        "absolute positions only, random where the teacher has none (v3)"
    )
    mask_form = "bool"
    uses_registry = False
    ort_optimizer = Support.no(
        "ORT's BERT optimiser fuses none of DeBERTa's disentangled attention (heads folded into the batch, "
        "c2p/p2c relative terms; measured on a tiny model, onnxruntime 1.32: no Attention node, only SkipLayerNorm "
        "and BiasGelu)"
    )
    cls_graph = Support.no(
        "the [CLS]-only last layer rewrites BERT layers; DeBERTa's disentangled attention differs"
    )
    prune = Support.no(
        "compress/prune.py cuts BERT's layer layout (attention.self.query/key/value, intermediate.dense); DeBERTa's (query_proj, key_proj, relative-position projections) differs"
    )
    notes = "disentangled attention (content + relative-position terms, recorded together); v3 checkpoints"

    def takes_token_types(self, config: Any) -> bool:
        return bool(getattr(config, "type_vocab_size", 0))  # DeBERTa-v3: 0, token types ignored

    def attention(self, block: nn.Module) -> nn.Module:
        return block.attention.self

    def bert_parts(self, block: nn.Module) -> BertParts:
        a = block.attention
        return BertParts(
            a.self.query_proj,
            a.self.key_proj,
            a.self.value_proj,
            a.output.dense,
            a.output.LayerNorm,
            block.intermediate.dense,
            block.output.dense,
            block.output.LayerNorm,
        )

    def score_scale(self, config: Any) -> float:
        # scores are divided by sqrt(head_dim * (1 + one per relative term)); BERT divides by sqrt(head_dim)
        terms = getattr(config, "pos_att_type", None) or []
        terms = terms.lower().split("|") if isinstance(terms, str) else terms
        return (1 + sum(t.strip() in ("c2p", "p2c") for t in terms)) ** -0.5

    def shared(self, model: nn.Module) -> dict[str, nn.Module]:
        encoder = model.base_model.encoder
        names = ("rel_embeddings", "LayerNorm", "conv")
        return {n: getattr(encoder, n) for n in names if isinstance(getattr(encoder, n, None), _module())}

    def pooler(self, model: nn.Module) -> nn.Module | None:
        return getattr(model, "pooler", None)

    @contextlib.contextmanager
    def patched(self, modules: list[nn.Module]) -> Iterator[None]:
        from distill.models.adapters.deberta_scores import recording_forward

        with instance_forward(modules, recording_forward):
            yield


def _module() -> type:
    from torch import nn

    return nn.Module


DEBERTA_V2 = register(DebertaV2Adapter())

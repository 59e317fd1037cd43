"""MPNet (e.g. all-mpnet-base-v2): relative-position bias shared by all layers, computed inline.

Its self-attention does not call the attention-function registry; while recording, the recording
modules get :func:`distill.models.adapters.mpnet_scores.recording_forward`. Positions are numbered
from ``pad_token_id + 1`` and computed from the ids; no token types.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from distill.models.adapters.base import Adapter, BertParts, Support, instance_forward, register

if TYPE_CHECKING:
    from torch import nn


class MPNetAdapter(Adapter):
    name = "mpnet"
    title = "MPNet"
    model_types = ("mpnet",)
    cut_drops = "the relative-position bias (a BERT student has absolute positions only)"
    token_types = False
    positions = "model"
    uses_registry = False
    ort_optimizer = Support.no(
        "ORT's BERT optimiser fuses none of MPNet's attention (the relative-position bias is a second Add "
        "before the softmax, outside BERT's pattern; measured on a tiny model, onnxruntime 1.32), so it would "
        "add only SkipLayerNorm and BiasGelu fusions to ort-fp32"
    )
    cls_graph = Support.no(
        "the [CLS]-only last layer rewrites a BERT layer and pooler; MPNet's layers (relative-position bias) and "
        "classification head differ"
    )
    prune = Support.no(
        "compress/prune.py cuts BERT's layer layout (attention.self.query/key/value, intermediate.dense); MPNet's (q, k, v, o) differs"
    )
    notes = "relative-position bias (recorded as part of the scores); positions from pad_token_id + 1"

    def position_offset(self, config: Any) -> int:
        return (config.pad_token_id or 0) + 1

    def attention(self, block: nn.Module) -> nn.Module:
        return block.attention.attn

    def bert_parts(self, block: nn.Module) -> BertParts:
        a = block.attention
        return BertParts(
            a.attn.q,
            a.attn.k,
            a.attn.v,
            a.attn.o,
            a.LayerNorm,
            block.intermediate.dense,
            block.output.dense,
            block.output.LayerNorm,
        )

    def shared(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"relative_attention_bias": model.base_model.encoder.relative_attention_bias}

    @contextlib.contextmanager
    def patched(self, modules: list[nn.Module]) -> Iterator[None]:
        from distill.models.adapters.mpnet_scores import recording_forward

        with instance_forward(modules, recording_forward):
            yield


MPNET = register(MPNetAdapter())

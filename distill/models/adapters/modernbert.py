"""ModernBERT: rotary positions, alternating global and local (windowed) attention, GeGLU FFN.

Its attention calls the attention-function registry after applying rotary embeddings to Q and K and
passes its scaling as an argument, so the shared ``kd`` attention records its real scores. A local
layer attends only inside a window of ``local_attention`` tokens: its score matrix is defined there,
and the recording marks the rest undefined (``Recording.valid``) so the attention objective ignores
it, as it ignores padding. A smaller ModernBERT keeps each copied layer's type (``layer_types``
follows the layer map), so a copied local layer stays local.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distill.models.adapters.base import Adapter, Support, register

if TYPE_CHECKING:
    from torch import nn


class ModernBertAdapter(Adapter):
    name = "modernbert"
    title = "ModernBERT"
    model_types = ("modernbert",)
    cut = Support.no(
        "its blocks are pre-LayerNorm with a gated FFN (GeGLU) and rotary positions, not BERT's post-LayerNorm blocks"
    )
    token_types = False
    positions = "model"  # rotary, from 0..seq-1
    mask_form = "bool"  # it builds the windowed masks of its local layers from the 0/1 mask
    ort_optimizer = Support.no(
        "ORT's BERT optimiser fuses none of ModernBERT's attention (fused Wqkv, rotary Q/K, no output bias; "
        "measured on a tiny model, onnxruntime 1.32: no Attention node, only SkipLayerNorm and Gelu)"
    )
    cls_graph = Support.no(
        "the [CLS]-only last layer rewrites BERT layers; ModernBERT's (Wqkv, rotary, GeGLU) differ"
    )
    prune = Support.no(
        "compress/prune.py cuts BERT's layer layout (attention.self.query/key/value, intermediate.dense); ModernBERT's (fused Wqkv, GeGLU) differs"
    )
    notes = "rotary positions; local layers attend inside a window (scores outside it are not compared)"

    def embeddings(self, model: nn.Module) -> nn.Module:
        return model.base_model.embeddings

    def word_embeddings(self, model: nn.Module) -> nn.Embedding:
        return self.embeddings(model).tok_embeddings

    def position_embeddings(self, model: nn.Module) -> nn.Embedding | None:
        return None

    def embedding_norm(self, model: nn.Module) -> nn.Module | None:
        return self.embeddings(model).norm

    def layers(self, model: nn.Module) -> nn.ModuleList:
        return model.base_model.layers

    def attention(self, block: nn.Module) -> nn.Module:
        return block.attn

    def shared(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"final_norm": model.base_model.final_norm}

    def pooler(self, model: nn.Module) -> nn.Module | None:
        return getattr(model, "head", None)

    def copy_layers(self, student: nn.Module, teacher: nn.Module, layers: list[int]) -> list[str]:
        """As the base, except that ModernBERT's first layer has no ``attn_norm`` (its input is the
        normed embeddings): a later teacher layer copied there loses that LayerNorm, said in the log."""
        s_blocks, t_blocks = self.layers(student), self.layers(teacher)
        notes = []
        for m, t in enumerate(layers, 1):
            state = t_blocks[t - 1].state_dict()
            mine = s_blocks[m - 1].state_dict()
            dropped = sorted(k for k in state if k not in mine)
            s_blocks[m - 1].load_state_dict({k: v for k, v in state.items() if k in mine})
            if dropped:
                notes.append(f"layer {m} (from {t}): {', '.join(dropped)} dropped (the first layer has none)")
        pairs = " ".join(f"{m}<-{t}" for m, t in enumerate(layers, 1))
        return [f"layers {pairs} (copied)", *notes]

    def smaller(self, config: Any, num_layers: int, teacher_layers: list[int]) -> Any:
        cfg = super().smaller(config, num_layers, teacher_layers)
        types = list(config.layer_types)
        if len(teacher_layers) == num_layers:
            cfg.layer_types = [types[t - 1] for t in teacher_layers]
        else:
            cfg.layer_types = types[:num_layers]
        return cfg


MODERNBERT = register(ModernBertAdapter())

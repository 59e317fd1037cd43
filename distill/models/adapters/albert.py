"""ALBERT: one shared Transformer block applied ``num_hidden_layers`` times.

Recording is per application: the shared attention module's sink plans one entry per step, so layer
``i`` of a map is the i-th application. Factorised embeddings (``embedding_size``) are projected to
the layer width by ``encoder.embedding_hidden_mapping_in`` before the first application, which is
what ``output_hidden_states[0]`` shows. A smaller ALBERT has fewer applications of the same block,
so ``init: teacher`` copies the one block (there is nothing per layer to choose).
Only ``inner_group_num: 1`` (every released ALBERT) is handled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distill.models.adapters.base import Adapter, Support, register

if TYPE_CHECKING:
    from torch import nn


class AlbertAdapter(Adapter):
    name = "albert"
    title = "ALBERT"
    model_types = ("albert",)
    cut = Support.no(
        "its embeddings are factorised (narrower than the layers) and its one block is shared by every layer"
    )
    ort_optimizer = Support.no(
        "ORT's BERT optimiser fuses the attention of every application but the first (3 of 4 on a tiny model, "
        "onnxruntime 1.32): there the residual, which ALBERT adds first, is embedding_hidden_mapping_in's Add, "
        "and the optimiser's pattern takes it for the attention output"
    )
    cls_graph = Support.no(
        "the [CLS]-only last layer rewrites separate BERT layers; ALBERT's one block is shared"
    )
    prune = Support.no(
        "pruning a shared block prunes every layer at once; compress/prune.py cuts separate BERT layers"
    )
    notes = "one shared block applied N times (recorded per application); factorised embeddings"

    def check(self, config: Any) -> str | None:
        if getattr(config, "inner_group_num", 1) != 1:
            return f"ALBERT with inner_group_num {config.inner_group_num} (only 1 is handled: one block per step)"
        return None

    def layers(self, model: nn.Module) -> nn.ModuleList:
        """The stored blocks: one per group (ALBERT-base/large: one)."""
        from torch import nn

        groups = model.base_model.encoder.albert_layer_groups
        return nn.ModuleList([g.albert_layers[0] for g in groups])

    def applied(self, model: nn.Module) -> list[nn.Module]:
        cfg = model.config
        blocks = self.layers(model)
        per_group = cfg.num_hidden_layers / cfg.num_hidden_groups  # as AlbertTransformer.forward
        return [blocks[int(i / per_group)] for i in range(cfg.num_hidden_layers)]

    def attention(self, block: nn.Module) -> nn.Module:
        return block.attention

    def shared(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"embedding_hidden_mapping_in": model.base_model.encoder.embedding_hidden_mapping_in}

    def pooler(self, model: nn.Module) -> nn.Module | None:
        return model.base_model.pooler

    def smaller(self, config: Any, num_layers: int, teacher_layers: list[int]) -> Any:
        cfg = super().smaller(config, num_layers, teacher_layers)
        cfg.num_hidden_groups = min(cfg.num_hidden_groups, num_layers)
        return cfg

    def copy_layers(self, student: nn.Module, teacher: nn.Module, layers: list[int]) -> list[str]:
        s_blocks, t_applied = self.layers(student), self.applied(teacher)
        s_applied = self.applied(student)
        done = set()
        for m, t in enumerate(layers, 1):
            target = s_applied[m - 1]
            if id(target) not in done:
                target.load_state_dict(t_applied[t - 1].state_dict())
                done.add(id(target))
        n = len(s_blocks)
        return [f"shared block{'s' if n > 1 else ''} ({n}) (copied)"]


ALBERT = register(AlbertAdapter())

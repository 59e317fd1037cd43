"""Structured pruning of BERT attention heads and FFN neurons with torch-pruning's dependency graph.

Why heads shrink the hidden width too: a stock ``BertConfig`` has no head-size field; BERT computes
it as hidden_size / num_attention_heads. A model with fewer heads of the same size therefore only
reloads with ``from_pretrained`` if the residual width shrinks to heads x head_size. So
``head_ratio`` removes the same number of heads in every layer (lowest importance per layer) and
the same fraction of residual channels (lowest importance across the whole residual stream).
``ffn_ratio`` removes the same number of FFN neurons in every layer, so ``intermediate_size`` stays
one number. torch-pruning finds every coupled weight (Q/K/V/output, LayerNorms, embeddings,
pooler); we only choose indices and update the config.

Other families are refused with their adapter's reason (``Adapter.prune``). The BiLSTM student is not pruned (it is small already; torch-pruning could cut LSTM hidden units, but
its saved config would need updating to match): ``prune`` refuses anything but a BERT classifier, and
``distill compress`` refuses a BiLSTM folder by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from distill.core.errors import ConfigError
from distill.models.adapters import adapter_of

IMPORTANCES = ("magnitude", "taylor")


def _importance(kind: str) -> tp.importance.Importance:
    if kind == "magnitude":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind == "taylor":
        return tp.importance.GroupTaylorImportance()
    raise ConfigError(f"importance {kind!r} is unknown; use {' or '.join(IMPORTANCES)}")


def _lowest(scores: torch.Tensor, k: int) -> list[int]:
    return sorted(torch.argsort(scores)[:k].tolist())


def _taylor_grads(model: nn.Module, batch: dict[str, torch.Tensor]) -> None:
    """Taylor importance = |w * dL/dw|: fills .grad from one labelled batch (cross-entropy)."""
    model.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    F.cross_entropy(logits, batch["labels"]).backward()


def prune(
    model: nn.Module,
    head_ratio: float = 0.0,
    ffn_ratio: float = 0.0,
    importance: str = "magnitude",
    taylor_batch: dict[str, torch.Tensor] | None = None,
) -> nn.Module:
    """Prune a BERT or RoBERTa-family (XLM-R, CamemBERT) classifier in place and return it, config
    updated; the family adapter says where the layers, embeddings and off-stream outputs are.

    head_ratio: fraction of heads removed from every layer (rounded to whole heads).
    ffn_ratio: fraction of FFN neurons removed from every layer.
    taylor_batch: input_ids/attention_mask/labels, needed for importance="taylor".
    """
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) is None:
        raise ConfigError("prune: only Hugging Face *ForSequenceClassification models are supported")
    adapter = adapter_of(model)
    if not adapter.prune.ok:
        raise ConfigError(f"prune: {adapter.prune.why}")
    for name, r in (("head_ratio", head_ratio), ("ffn_ratio", ffn_ratio)):
        if not 0.0 <= r < 1.0:
            raise ConfigError(f"prune: {name} must be in [0, 1), got {r}")
    if importance == "taylor" and taylor_batch is None:
        raise ConfigError("prune: importance=taylor needs a labelled batch (calibration data with labels)")
    imp = _importance(importance)
    heads, hidden = cfg.num_attention_heads, cfg.hidden_size
    head_dim = hidden // heads
    n_heads_cut = round(head_ratio * heads)
    if n_heads_cut >= heads:
        raise ConfigError(f"prune: head_ratio {head_ratio} would remove all {heads} heads")
    n_ffn_cut = round(ffn_ratio * cfg.intermediate_size)
    model.eval()
    example = {
        "input_ids": torch.ones(1, 8, dtype=torch.long),
        "attention_mask": torch.ones(1, 8, dtype=torch.long),
    }
    layers = adapter.layers(model)

    def graph() -> tp.DependencyGraph:
        # Rebuilt after each step: scores and groups must describe the current shapes.
        if importance == "taylor":
            _taylor_grads(model, taylor_batch)
        return tp.DependencyGraph().build_dependency(model, example_inputs=example)

    if n_ffn_cut:
        dg = graph()
        for layer in layers:
            fc = layer.intermediate.dense  # [ffn, hidden]; coupled with output.dense's input
            group = dg.get_pruning_group(fc, tp.prune_linear_out_channels, idxs=list(range(fc.out_features)))
            group = dg.get_pruning_group(
                fc, tp.prune_linear_out_channels, idxs=_lowest(imp(group), n_ffn_cut)
            )
            group.prune()
    if n_heads_cut:
        dg = graph()
        for layer in layers:
            q = layer.attention.self.query  # [heads*d, hidden]; coupled with key, value, output.dense input
            group = dg.get_pruning_group(q, tp.prune_linear_out_channels, idxs=list(range(q.out_features)))
            per_head = imp(group).view(heads, head_dim).sum(1)  # [heads]
            cut = [h * head_dim + i for h in _lowest(per_head, n_heads_cut) for i in range(head_dim)]
            dg.get_pruning_group(q, tp.prune_linear_out_channels, idxs=cut).prune()
        dg = graph()
        # Residual stream: embeddings, every LayerNorm, every in/out projection of the hidden size.
        emb = adapter.word_embeddings(model)
        n_hidden_cut = n_heads_cut * head_dim
        group = dg.get_pruning_group(emb, tp.prune_embedding_out_channels, idxs=list(range(hidden)))
        dg.get_pruning_group(
            emb, tp.prune_embedding_out_channels, idxs=_lowest(imp(group), n_hidden_cut)
        ).prune()
        # The pooler's (RoBERTa: the head's dense) output is not on the residual stream; it must match
        # the new hidden size too.
        for side in adapter.side_outputs(model):
            group = dg.get_pruning_group(
                side, tp.prune_linear_out_channels, idxs=list(range(side.out_features))
            )
            dg.get_pruning_group(
                side, tp.prune_linear_out_channels, idxs=_lowest(imp(group), n_hidden_cut)
            ).prune()
    model.zero_grad(set_to_none=True)
    # What torch-pruning does not know about: the config and the attention modules' bookkeeping.
    new_heads = heads - n_heads_cut
    cfg.num_attention_heads = new_heads
    cfg.hidden_size = new_heads * head_dim
    cfg.intermediate_size -= n_ffn_cut
    for layer in layers:
        att = layer.attention.self
        att.num_attention_heads = new_heads
        att.all_head_size = new_heads * head_dim
    return model

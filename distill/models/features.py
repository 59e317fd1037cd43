"""`Features`: what a model exposes to the objectives, and how they are captured.

Objectives never see models, only :class:`Features`, so the same loss works for any teacher and
student. Capturing is on demand: hidden states only when an objective needs them, and the
pre-softmax attention scores only for the mapped layers.

Scores (and, for MiniLM's relation loss, the per-head queries, keys and values) come from the real
Hugging Face models (transformers 5.x) through its attention-function
registry: we register an attention function named ``"kd"`` that computes ``Q Kᵀ · scaling`` by
hand on layers asked to record (and hands the rest to PyTorch SDPA), plus the eager mask function
under the same name so the padding mask arrives as an additive float tensor. MPNet's attention
does not go through that registry; :mod:`distill.models.mpnet_scores` records its scores instead (relative
position bias included).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields

import torch
from torch import Tensor, nn
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import eager_mask

from distill.models import mpnet_scores

ATTN_IMPLEMENTATION = "kd"


@dataclass
class Features:
    """A forward pass as the objectives see it. Lists follow the layer map's order."""

    logits: Tensor | None  # (batch, labels); None for a bare encoder (general distillation)
    mask: Tensor  # (batch, seq) 1 = real token, 0 = padding
    embeddings: Tensor | None = None  # (batch, seq, hidden): output of the embedding layer
    hidden: list[Tensor] = field(default_factory=list)  # [(batch, seq, hidden)], mapped layers
    attn_scores: list[Tensor] = field(default_factory=list)  # [(batch, heads, seq, seq)] pre-softmax
    # [3 x (batch, heads, seq, head_dim)]
    qkv: list[tuple[Tensor, Tensor, Tensor]] = field(default_factory=list)

    def detached(self) -> Features:
        """A copy usable in autograd: clones tensors made under ``torch.inference_mode``; floating
        tensors come back in fp32 (a teacher run in half precision still gives fp32 targets)."""

        def one(t: Tensor) -> Tensor:
            return t.float() if t.is_floating_point() and t.dtype != torch.float32 else t.clone()

        def clone(x):
            if isinstance(x, Tensor):
                return one(x)
            if isinstance(x, list):
                return [tuple(one(u) for u in t) if isinstance(t, tuple) else one(t) for t in x]
            return x

        return Features(**{f.name: clone(getattr(self, f.name)) for f in fields(self)})


@dataclass(frozen=True)
class FeatureRequest:
    """Which features to capture. Layer numbers: 1..N Transformer layers (0 = embeddings)."""

    embeddings: bool = False
    hidden_layers: tuple[int, ...] = ()
    attn_layers: tuple[int, ...] = ()
    qkv_layers: tuple[int, ...] = ()


@dataclass
class _Sink:
    """What one attention module records during a forward pass (None: not asked)."""

    scores: list[Tensor] | None = None
    qkv: list[tuple[Tensor, Tensor, Tensor]] | None = None


def _kd_attention(
    module: nn.Module,
    query: Tensor,  # (batch, heads, seq, head_dim)
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,  # (batch, 1, seq, seq) additive: 0 or float-min
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[Tensor, Tensor | None]:
    sink: _Sink | None = getattr(module, "_kd_sink", None)
    if sink is not None and sink.qkv is not None:
        sink.qkv.append((query, key, value))
    if sink is None or sink.scores is None:  # scores not needed here: the fast fused kernel
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (batch, heads, seq, seq)
    sink.scores.append(scores)
    weights = scores if attention_mask is None else scores + attention_mask
    probs = nn.functional.dropout(torch.softmax(weights, dim=-1), p=dropout, training=module.training)
    output = torch.matmul(probs, value).transpose(1, 2).contiguous()  # (batch, seq, heads, head_dim)
    return output, probs


AttentionInterface.register(ATTN_IMPLEMENTATION, _kd_attention)
AttentionMaskInterface.register(ATTN_IMPLEMENTATION, eager_mask)


def enable_capture(model: nn.Module) -> None:
    """Switch a Hugging Face model to the ``kd`` attention so its scores can be recorded."""
    model.config._attn_implementation = ATTN_IMPLEMENTATION
    for module in model.modules():
        cfg = getattr(module, "config", None)
        if cfg is not None and cfg is not model.config:
            cfg._attn_implementation = ATTN_IMPLEMENTATION


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's list of Transformer blocks (BERT: ``encoder.layer``)."""
    n = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"{type(model).__name__}: found no list of {n} Transformer layers")


def _self_attention(layer: nn.Module) -> nn.Module:
    for module in layer.modules():
        if (hasattr(module, "scaling") and hasattr(module, "config")) or mpnet_scores.is_mpnet_attention(
            module
        ):
            return module
    raise ValueError(f"{type(layer).__name__}: found no self-attention module with `scaling`")


@contextlib.contextmanager
def record_attention(
    model: nn.Module, score_layers: tuple[int, ...], qkv_layers: tuple[int, ...] = ()
) -> Iterator[tuple[list[Tensor], list[tuple[Tensor, Tensor, Tensor]]]]:
    """Record pre-softmax scores of ``score_layers`` and (query, key, value) of ``qkv_layers``
    (1-based Transformer layers) during forward passes; lists come in layer order."""
    blocks = encoder_layers(model)
    wanted = sorted(set(score_layers) | set(qkv_layers))
    sinks = {i: _Sink([] if i in score_layers else None, [] if i in qkv_layers else None) for i in wanted}
    modules = {i: _self_attention(blocks[i - 1]) for i in wanted}
    for i, m in modules.items():
        m._kd_sink = sinks[i]
    scores: list[Tensor] = []
    qkv: list[tuple[Tensor, Tensor, Tensor]] = []
    try:
        with mpnet_scores.patched(modules.values()):
            yield scores, qkv
    finally:
        for m in modules.values():
            del m._kd_sink
        for i in score_layers:
            scores.extend(sinks[i].scores)
        for i in qkv_layers:
            qkv.extend(sinks[i].qkv)


@contextlib.contextmanager
def record_scores(model: nn.Module, layers: tuple[int, ...]) -> Iterator[list[Tensor]]:
    """Record pre-softmax scores of Transformer ``layers`` (1-based) during forward passes."""
    with record_attention(model, layers) as (scores, _):
        yield scores


def forward_features(model: nn.Module, batch: dict[str, Tensor], request: FeatureRequest) -> Features:
    """Run ``model`` on ``batch`` and return the requested features."""
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    want_hidden = request.embeddings or bool(request.hidden_layers)
    recording = request.attn_layers or request.qkv_layers
    with (
        record_attention(model, request.attn_layers, request.qkv_layers)
        if recording
        else contextlib.nullcontext(([], [])) as (scores, qkv)
    ):
        out = model(**inputs, output_hidden_states=want_hidden) if want_hidden else model(**inputs)
    states = out.hidden_states if want_hidden else None  # (embeddings, layer 1, ..., layer N)
    return Features(
        logits=getattr(out, "logits", None),
        mask=batch["attention_mask"],
        embeddings=states[0] if request.embeddings else None,
        hidden=[states[i] for i in request.hidden_layers],
        attn_scores=scores,
        qkv=qkv,
    )

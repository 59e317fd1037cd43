"""`Features`: what a model exposes to the objectives, and how they are captured.

Objectives never see models, only :class:`Features`, so the same loss works for any teacher and
student. Capturing is on demand: hidden states only when an objective needs them, and the
pre-softmax attention scores only for the mapped layers. How a family's scores and Q/K/V are
recorded is its adapter's business (:mod:`distill.models.adapters`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields

import torch
from torch import Tensor, nn

from distill.models.adapters import Recording, adapter_of


@dataclass
class Features:
    """A forward pass as the objectives see it. Lists follow the layer map's order."""

    logits: Tensor | None  # (batch, labels); None for a bare encoder (general distillation)
    mask: Tensor  # (batch, seq) 1 = real token, 0 = padding
    embeddings: Tensor | None = None  # (batch, seq, hidden): output of the embedding layer
    hidden: list[Tensor] = field(default_factory=list)  # [(batch, seq, hidden)], mapped layers
    attn_scores: list[Tensor] = field(default_factory=list)  # [(batch, heads, seq, seq)] pre-softmax
    # per attn_scores entry: where the scores are defined, broadcastable bool (a local layer's window);
    # None: everywhere
    attn_valid: list[Tensor | None] = field(default_factory=list)
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
                return [
                    tuple(one(u) for u in t) if isinstance(t, tuple) else (t if t is None else one(t))
                    for t in x
                ]
            return x

        return Features(**{f.name: clone(getattr(self, f.name)) for f in fields(self)})


@dataclass(frozen=True)
class FeatureRequest:
    """Which features to capture. Layer numbers: 1..N Transformer layers (0 = embeddings)."""

    embeddings: bool = False
    hidden_layers: tuple[int, ...] = ()
    attn_layers: tuple[int, ...] = ()
    qkv_layers: tuple[int, ...] = ()


def enable_capture(model: nn.Module) -> None:
    """Prepare a Hugging Face model so its scores can be recorded (its adapter's ``enable``)."""
    adapter_of(model).enable(model)


def forward_features(model: nn.Module, batch: dict[str, Tensor], request: FeatureRequest) -> Features:
    """Run ``model`` on ``batch`` and return the requested features."""
    names = ("input_ids", "attention_mask", "token_type_ids")
    hf = getattr(getattr(model, "config", None), "model_type", None) is not None  # not a BiLSTM
    adapter = adapter_of(model) if hf else None
    if adapter is not None and not adapter.takes_token_types(
        model.config
    ):  # e.g. a BERT tokenizer's token types, for a DistilBERT
        names = names[:2]
    inputs = {k: v for k, v in batch.items() if k in names}
    want_hidden = request.embeddings or bool(request.hidden_layers)
    recording = request.attn_layers or request.qkv_layers
    with (
        adapter.record(model, request.attn_layers, request.qkv_layers)
        if recording
        else contextlib.nullcontext(Recording()) as rec
    ):
        out = model(**inputs, output_hidden_states=want_hidden) if want_hidden else model(**inputs)
    states = out.hidden_states if want_hidden else None  # (embeddings, layer 1, ..., layer N)
    return Features(
        logits=getattr(out, "logits", None),
        mask=batch["attention_mask"],
        embeddings=states[0] if request.embeddings else None,
        hidden=[states[i] for i in request.hidden_layers],
        attn_scores=rec.scores,
        attn_valid=rec.valid,
        qkv=rec.qkv,
    )

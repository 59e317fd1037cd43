"""One adapter per Hugging Face encoder family: everything that differs between families.

An :class:`Adapter` says where a model's parts are (embeddings, the Transformer layers as they are
applied, each layer's self-attention, pooler, classifier head), which inputs it reads, how its
pre-softmax attention scores and per-head Q/K/V are recorded, how a smaller model of the same family
is configured, how the deployment calling convention feeds it, and what the deployment paths can do
with it (ORT's transformer optimiser, the [CLS]-only graph, pruning), each "no" with its reason.
Adapters are registered by ``config.model_type`` (:data:`ADAPTERS`); nothing outside
``distill/models/adapters/`` branches on ``model_type``.

Importing this package loads neither torch nor transformers (``distill validate``, the kinds table
and the README matrix read the facts without them); the methods import what they use.

Recording (:meth:`Adapter.record`): each attention module that records gets a :class:`Sink`. A sink
holds the plan of its calls during one forward pass — which Transformer layer each call is and
whether that call's scores and Q/K/V are wanted — so a module applied several times (ALBERT's
shared layer) records each application as its own layer. Families whose attention goes through
transformers' attention-function registry share :func:`distill.models.adapters.capture.kd_attention`;
the others (MPNet, DeBERTa-v2) replace the recording modules' ``forward`` while inside.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from distill.core.errors import ConfigError
from distill.core.registry import Registry
from distill.models.adapters.recording import Recording, Sink

if TYPE_CHECKING:
    from torch import Tensor, nn


@dataclass(frozen=True)
class BertParts:
    """One post-LayerNorm Transformer block's modules in BERT's roles:
    ``attn_norm(x + attn_out(softmax(query(x) key(x)ᵀ) value(x)))``, then
    ``ffn_norm(h + ffn_out(act(ffn_in(h))))``."""

    query: nn.Linear
    key: nn.Linear
    value: nn.Linear
    attn_out: nn.Linear
    attn_norm: nn.LayerNorm
    ffn_in: nn.Linear
    ffn_out: nn.Linear
    ffn_norm: nn.LayerNorm


@dataclass(frozen=True)
class Support:
    """Whether a deployment path applies to a family: ``why`` is the reason when it does not."""

    ok: bool
    why: str = ""

    @classmethod
    def no(cls, why: str) -> Support:
        return cls(False, why)


YES = Support(True)


# How the deployment calling convention (input_ids, attention_mask[, token_type_ids]) feeds a model:
# "additive": a (batch, 1, 1, seq) float mask of 0 / -10000 (BERT's original form, which ORT's
# optimiser matches); "bool": the 0/1 mask as given (the model builds its own, e.g. windowed).
MaskForm = Literal["additive", "bool"]
# Positions: "explicit": position_ids = 0..seq-1 passed in (left to the model they come from a buffer
# sliced by the traced length, which an ONNX export freezes); "model": the model computes them
# from input_ids (fairseq-style offset, rotary, relative) and takes none.
PositionForm = Literal["explicit", "model"]


class Adapter:
    """The base adapter: a BERT-shaped model (``base_model.embeddings``, ``base_model.encoder.layer``,
    a self-attention that calls the attention-function registry, optional pooler, ``classifier``).
    A family overrides what differs."""

    name: str = "bert"  # the family as the matrix names it
    title: str = "BERT"
    model_types: tuple[str, ...] = ("bert",)
    token_types: bool = True  # the model reads token_type_ids
    positions: PositionForm = "explicit"
    mask_form: MaskForm = "additive"
    # Its self-attention calls transformers' attention-function registry (the ``kd`` recording and the
    # ONNX export's classic attention plug in there); False: the adapter patches a recording forward.
    uses_registry: bool = True
    # Its blocks are BERT's post-LayerNorm blocks under other names (:meth:`bert_parts`): a BERT student
    # can be cut out of them (``init: pruned``, students/pruned_init.py); no: the reason.
    cut: Support = YES
    # What such a student lacks of the family's function ("": with every channel kept it computes the
    # teacher's, tested); e.g. MPNet's relative-position bias. Logged when the student is cut.
    cut_drops: str = ""
    # Deployment paths, each with the reason when it does not apply. ORT's transformer optimiser
    # (model_type "bert"): it fuses every layer's attention and keeps the model's logits (measured by
    # tests/compress/test_family_fusions.py).
    ort_optimizer: Support = YES
    cls_graph: Support = YES  # the [CLS]-only deployment graph (compress/deploy_bert.py)
    prune: Support = YES  # compress/prune.py with torch-pruning
    notes: str = ""  # one line for the README matrix: what differs from BERT

    # --- structure -------------------------------------------------------------------------------
    def check(self, config: Any) -> str | None:
        """Why this model (config) cannot be handled, or None."""
        return None

    def takes_token_types(self, config: Any) -> bool:
        """Whether a model of this config reads token_type_ids (DeBERTa-v3: no, it has no such table)."""
        return self.token_types

    def embeddings(self, model: nn.Module) -> nn.Module:
        return model.base_model.embeddings

    def word_embeddings(self, model: nn.Module) -> nn.Embedding:
        return self.embeddings(model).word_embeddings

    def position_embeddings(self, model: nn.Module) -> nn.Embedding | None:
        """Absolute position embeddings, None for relative or rotary positions."""
        return getattr(self.embeddings(model), "position_embeddings", None)

    def constant_embedding(self, model: nn.Module) -> Tensor | None:
        """A (hidden,) vector the embeddings add to every token besides word, position and token type
        (ERNIE's task-type row 0); a BERT student folds it into its token-type rows. None: there is none."""
        return None

    def position_offset(self, config: Any) -> int:
        """The row of position 0 in the position embeddings (RoBERTa, MPNet: ``pad_token_id + 1``)."""
        return 0

    def embedding_norm(self, model: nn.Module) -> nn.Module | None:
        return getattr(self.embeddings(model), "LayerNorm", None)

    def layers(self, model: nn.Module) -> nn.ModuleList:
        """The stored Transformer blocks (ALBERT: its one shared block)."""
        return model.base_model.encoder.layer

    def applied(self, model: nn.Module) -> list[nn.Module]:
        """The block applied at each of the ``num_hidden_layers`` steps, in order."""
        return list(self.layers(model))

    def attention(self, block: nn.Module) -> nn.Module:
        """The module of ``block`` that computes Q Kᵀ (the one that records)."""
        return block.attention.self

    def bert_parts(self, block: nn.Module) -> BertParts:
        """``block``'s modules in BERT's roles (only where :attr:`cut` is yes)."""
        a = block.attention
        return BertParts(
            a.self.query,
            a.self.key,
            a.self.value,
            a.output.dense,
            a.output.LayerNorm,
            block.intermediate.dense,
            block.output.dense,
            block.output.LayerNorm,
        )

    def score_scale(self, config: Any) -> float:
        """The teacher's pre-softmax factor on Q Kᵀ relative to BERT's 1/√d (DeBERTa: 1/√3); a cut
        student's Q carries it."""
        return 1.0

    def shared(self, model: nn.Module) -> dict[str, nn.Module]:
        """Parts outside the blocks that every block reads (MPNet's relative-position bias), by name."""
        return {}

    def pooler(self, model: nn.Module) -> nn.Module | None:
        return getattr(model.base_model, "pooler", None)

    def head(self, model: nn.Module) -> nn.Module | None:
        """The classifier head: pooled or [CLS] state -> logits (None: a bare encoder)."""
        return getattr(model, "classifier", None)

    def side_outputs(self, model: nn.Module) -> list[nn.Module]:
        """Linear layers whose output width is ``hidden_size`` but that are off the residual stream
        (BERT's pooler, RoBERTa's head dense): pruning the width must cut their outputs too, or the
        pruned model would not reload from its config."""
        pooler = self.pooler(model)
        return [pooler.dense] if pooler is not None and hasattr(pooler, "dense") else []

    def num_layers(self, config: Any) -> int:
        return config.num_hidden_layers

    def ffn_size(self, config: Any) -> int:
        """The FFN's inner width."""
        return config.intermediate_size

    # --- recording -------------------------------------------------------------------------------
    def enable(self, model: nn.Module) -> None:
        """Switch the model to the ``kd`` attention function so its scores can be recorded."""
        from distill.models.adapters.capture import enable_kd_attention

        enable_kd_attention(model)

    @contextlib.contextmanager
    def patched(self, modules: list[nn.Module]) -> Iterator[None]:
        """While inside, ``modules`` (recording attention modules) record into their ``_kd_sink``;
        registry families need nothing here: ``kd_attention`` reads the sink."""
        yield

    @contextlib.contextmanager
    def record(
        self, model: nn.Module, score_layers: tuple[int, ...], qkv_layers: tuple[int, ...] = ()
    ) -> Iterator[Recording]:
        """Record the pre-softmax scores of ``score_layers`` and Q/K/V of ``qkv_layers`` (1-based
        Transformer layers) during the forward passes inside."""
        applied = [self.attention(b) for b in self.applied(model)]
        n = len(applied)
        bad = [i for i in (*score_layers, *qkv_layers) if not 1 <= i <= n]
        if bad:
            raise ValueError(f"{type(model).__name__}: layers {bad} do not exist; it has 1..{n}")
        scores: dict[int, Tensor] = {}  # layer -> tensor, written by every module's sink
        valid: dict[int, Tensor] = {}
        qkv: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
        sinks: dict[int, Sink] = {}
        for i, module in enumerate(applied, 1):
            sink = sinks.setdefault(id(module), Sink([], scores=scores, valid=valid, qkv=qkv))
            sink.plan.append((i, i in score_layers, i in qkv_layers))
            module._kd_sink = sink
        recording = Recording()
        unique = list({id(m): m for m in applied}.values())
        try:
            with self.patched(unique):
                yield recording
        finally:
            for m in unique:
                del m._kd_sink
            for i in sorted(score_layers):
                if i in scores:
                    recording.scores.append(scores[i])
                    recording.valid.append(valid.get(i))
            recording.qkv.extend(qkv[i] for i in sorted(qkv_layers) if i in qkv)

    # --- building --------------------------------------------------------------------------------
    def smaller(self, config: Any, num_layers: int, teacher_layers: list[int]) -> Any:
        """The config of this family with ``num_layers`` layers, the same width; ``teacher_layers`` are
        the 1-based teacher layers the student's layers come from (layer-typed families follow them)."""
        cfg = copy.deepcopy(config)
        cfg.num_hidden_layers = num_layers
        return cfg

    def copy_layers(self, student: nn.Module, teacher: nn.Module, layers: list[int]) -> list[str]:
        """Copy teacher block ``layers[m-1]`` into student block ``m``; what was copied, for the log."""
        s_blocks, t_blocks = self.layers(student), self.layers(teacher)
        for m, t in enumerate(layers, 1):
            s_blocks[m - 1].load_state_dict(t_blocks[t - 1].state_dict())
        return [f"layers {' '.join(f'{m}<-{t}' for m, t in enumerate(layers, 1))} (copied)"]

    # --- deployment ------------------------------------------------------------------------------
    def logits(
        self, model: nn.Module, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None
    ) -> Tensor:
        """The deployment calling convention: (input_ids, attention_mask[, token_type_ids]) -> logits,
        written so that an ONNX export keeps both axes dynamic (see :data:`MaskForm`, :data:`PositionForm`)."""
        import torch

        kwargs: dict[str, Tensor] = {"input_ids": input_ids}
        if self.mask_form == "additive":
            dtype = next(model.parameters()).dtype  # FP16/BF16 models need the mask in their dtype
            # (batch, 1, 1, seq): 0 where attended, -10000 on padding
            kwargs["attention_mask"] = (1.0 - attention_mask[:, None, None, :].to(dtype)) * -10000.0
        else:
            kwargs["attention_mask"] = attention_mask
        if self.takes_token_types(model.config):
            kwargs["token_type_ids"] = (
                torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            )
        if self.positions == "explicit":
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            kwargs["position_ids"] = positions.unsqueeze(0).expand_as(input_ids)  # (batch, seq)
        return model(**kwargs).logits  # (batch, labels)


@contextlib.contextmanager
def instance_forward(modules: list[nn.Module], forward: Any) -> Iterator[None]:
    """Give each module ``forward`` (on the instance, not the class) while inside: the recording
    forwards of families whose attention bypasses the registry."""
    import types

    for m in modules:
        m.forward = types.MethodType(forward, m)
    try:
        yield
    finally:
        for m in modules:
            del m.forward  # back to the class's own forward


ADAPTERS: Registry[Adapter] = Registry("model family")
_BY_TYPE: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    """Register ``adapter`` under its family name and each of its ``model_types``."""
    ADAPTERS.register(adapter.name)(adapter)
    for mt in adapter.model_types:
        if mt in _BY_TYPE:
            raise ValueError(f"model_type {mt!r} has two adapters")
        _BY_TYPE[mt] = adapter
    return adapter


def model_types() -> list[str]:
    """Every supported ``config.model_type``, sorted."""
    return sorted(_BY_TYPE)


def adapter_for(model_type: str, source: str = "config.json") -> Adapter:
    """The adapter of ``model_type``; an unknown one is a ConfigError naming the supported types
    and the closest."""
    if model_type in _BY_TYPE:
        return _BY_TYPE[model_type]
    from distill.core.schema import did_you_mean  # spelling, or a shared prefix (xlm -> xlm-roberta)

    close = did_you_mean(str(model_type), model_types())
    hint = f"; closest: {close!r}" if close else ""
    raise ConfigError(
        f"{source}: model_type {model_type!r} is not a supported encoder family{hint}; "
        f"supported: {', '.join(model_types())}"
    )


def adapter_of(model: nn.Module) -> Adapter:
    """The adapter of a loaded Hugging Face model."""
    return adapter_for(model.config.model_type, type(model).__name__)

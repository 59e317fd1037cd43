"""The export/bench kinds: one torch-free description per kind, registered by name.

A kind is how one compressed form of a model is built and run: its runtime (PyTorch or ONNX
Runtime), the devices it runs on, the graph it starts from (:data:`GRAPHS`), the recipe applied to
that graph (a dtype or INT8 quantisation), and what it requires of the model. Everything else is
derived from here: the ``kinds:`` names bench.yaml and recipe.yaml accept, ``distill export --int8``'s
names (:data:`INT8_EXPORTS`), the graph an exported model.int8.onnx quantises, and, through
:func:`refusal`, whether a kind applies to a model type (export refuses, bench skips, the pipeline's
plan refuses before training). This module imports neither torch nor the builders (variants.py,
export.py; the family adapters' facts are torch-free), so the CLI and config validation read it without loading torch.

To add a kind: one ``register(Kind(...))`` below; its builder is picked by its runtime, graph and
recipe (variants.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from distill.core.errors import ConfigError
from distill.core.registry import Registry
from distill.models.adapters import Adapter, adapter_for, model_types


@dataclass(frozen=True)
class Graph:
    """A graph kinds start from: ``file`` is its name in a `distill export` folder."""

    name: str
    file: str
    description: str


GRAPHS: dict[str, Graph] = {
    g.name: g
    for g in (
        Graph(
            "fp32", "model.onnx", "the model as trained (PyTorch: the module itself; ONNX: its plain export)"
        ),
        Graph(
            "opt",
            "model.opt.onnx",
            "the ONNX export after ORT's BERT optimiser (fused Attention/LayerNorm/GELU)",
        ),
        Graph(
            "cls",
            "model.cls.onnx",
            "the deployment graph: fused Q/K/V, last layer for [CLS] only (deploy_bert.py)",
        ),
    )
}

# What a kind may require of a model; a model type lacking it is refused with its reason (LACKS).
REQUIREMENTS: dict[str, str] = {
    "bert-optimiser": "ORT's BERT optimiser fuses the model's attention, LayerNorm and GELU",
    "bert-optimised-graph": "the kind quantises the graph of ORT's BERT optimiser",
    "bert-layer": "the [CLS]-only last layer rewrites the model's BERT layers and pooler",
    "matmul": "QDQ quantises the MatMul/Gemm ops outside the classifier",
}

_FUSED = "it quantises the graph of ORT's BERT optimiser, which does not apply to this model type"
_CLS = "the [CLS]-only last layer rewrites a BERT layer; this model has none"


def _family_lacks(adapter: Adapter) -> dict[str, str]:
    """What an encoder family lacks, from its adapter's deployment facts."""
    lacks = {}
    if not adapter.ort_optimizer.ok:
        lacks["bert-optimiser"] = adapter.ort_optimizer.why
        lacks["bert-optimised-graph"] = _FUSED
    if not adapter.cls_graph.ok:
        lacks["bert-layer"] = adapter.cls_graph.why
    return lacks


# model_type -> {requirement: why this model type lacks it}: the BiLSTM student's own format, and each
# encoder family's facts (distill.models.adapters). A model type not listed meets every requirement.
LACKS: dict[str, dict[str, str]] = {
    "distill-bilstm": {
        "bert-optimiser": "ORT's BERT optimiser fuses BERT attention, LayerNorm and GELU, which this model does not have",
        "bert-optimised-graph": _FUSED,
        "bert-layer": _CLS,
        "matmul": "its QDQ recipe quantises only MatMul/Gemm outside the classifier, and a BiLSTM has none "
        "(its LSTM would stay FP32)",
    },
    **{mt: lacks for mt in model_types() if (lacks := _family_lacks(adapter_for(mt)))},
}


@dataclass(frozen=True)
class Kind:
    """One kind. ``recipe``: for torch, None (FP32), ``int8`` (torch.ao dynamic), ``fp16`` or ``bf16``
    (weights and activations cast) or ``bf16-autocast`` (FP32 weights, the forward under
    ``torch.autocast`` to BF16); for ort, None (FP32) or a quantize_onnx mode (``dynamic``,
    ``dynamic-pc``, ``dynamic-pc-u8``, ``static``). ``engine``: a torch INT8 kind's quantized engine
    (``torch.backends.quantized.engine``, set around quantize_dynamic and every forward; None: the
    default, ``x86`` on x86 CPUs since torch 2.0, ``qnnpack`` on ARM). ``export``: its
    ``distill export --int8`` name, writing the same graph as model.int8.onnx."""

    name: str
    runtime: Literal["torch", "ort"]
    devices: tuple[str, ...]
    description: str
    graph: str = "fp32"
    recipe: str | None = None
    compiled: bool = False  # torch.compile (inductor) of the result
    frozen: bool = False  # inductor's freezing: weights as constants, folded and prepacked (oneDNN on CPU)
    engine: str | None = None
    requires: tuple[str, ...] = ()
    export: str | None = None

    def __post_init__(self) -> None:
        if self.graph not in GRAPHS:
            raise ValueError(f"kind {self.name}: graph {self.graph!r} unknown; known: {', '.join(GRAPHS)}")
        if self.graph == "opt" and self.runtime != "ort":
            raise ValueError(f"kind {self.name}: the opt graph is ONNX only")
        if self.frozen and not self.compiled:
            raise ValueError(f"kind {self.name}: freezing is a torch.compile option (set compiled)")
        if self.engine is not None and (self.runtime, self.recipe) != ("torch", "int8"):
            raise ValueError(f"kind {self.name}: a quantized engine is for torch INT8 kinds only")
        bad = [r for r in self.requires if r not in REQUIREMENTS]
        if bad:
            raise ValueError(
                f"kind {self.name}: requirements {bad} unknown; known: {', '.join(REQUIREMENTS)}"
            )

    @property
    def calibrated(self) -> bool:
        """Whether building it needs calibration batches (static INT8)."""
        return self.recipe == "static"

    @property
    def int8(self) -> bool:
        return self.recipe is not None and self.recipe not in HALF

    @property
    def half(self) -> bool:
        """FP16 or BF16 (cast or autocast): checked by agreement with FP32, like INT8."""
        return self.recipe in HALF


# the half-precision recipes of torch kinds (every other non-None recipe is an INT8 one)
HALF = ("fp16", "bf16", "bf16-autocast")


class Unavailable(ConfigError):
    """A kind that applies to the model but cannot be built on this machine (a quantized engine this
    torch lacks, torch.compile failing for want of a C++ compiler): bench skips it with this reason."""


_REGISTRY: Registry[Kind] = Registry("variant kind")
_ORDER: list[str] = []  # registration order: the order of reports and of every "known:" list


def register(kind: Kind) -> Kind:
    _REGISTRY.register(kind.name)(kind)
    _ORDER.append(kind.name)
    return kind


CPU, BOTH, CUDA = ("cpu",), ("cpu", "cuda"), ("cuda",)
for _k in (
    Kind("torch-fp32", "torch", BOTH, "PyTorch eager, FP32 (the reference)"),
    Kind(
        "torch-fp32-cls",
        "torch",
        BOTH,
        "PyTorch eager, FP32, fused Q/K/V, last layer for [CLS] only (same logits)",
        graph="cls",
        requires=("bert-layer",),
    ),
    Kind(
        "torch-int8",
        "torch",
        CPU,
        "PyTorch dynamic INT8 (torch.ao quantize_dynamic on Linear/LSTM), torch's default quantized "
        "engine (x86 on x86 CPUs, qnnpack on ARM)",
        recipe="int8",
    ),
    Kind(
        "torch-int8-x86",
        "torch",
        CPU,
        "PyTorch dynamic INT8 on Linear/LSTM with the x86 quantized engine set (FBGEMM/oneDNN kernels)",
        recipe="int8",
        engine="x86",
    ),
    Kind(
        "torch-int8-onednn",
        "torch",
        CPU,
        "PyTorch dynamic INT8 on Linear/LSTM with the onednn quantized engine (oneDNN: VNNI/AMX-INT8)",
        recipe="int8",
        engine="onednn",
    ),
    Kind("torch-fp16", "torch", CUDA, "PyTorch, weights and activations FP16", recipe="fp16"),
    Kind(
        "torch-bf16",
        "torch",
        BOTH,
        "PyTorch, weights and activations BF16 (AMX/AVX-512 BF16 on CPUs that have them, correct on all)",
        recipe="bf16",
    ),
    Kind(
        "torch-bf16-autocast",
        "torch",
        BOTH,
        "PyTorch, FP32 weights, the forward under torch.autocast to BF16 (matmuls in BF16)",
        recipe="bf16-autocast",
    ),
    Kind(
        "torch-compile-fp32",
        "torch",
        BOTH,
        "torch.compile (inductor) of the FP32 model (needs a C++ compiler on the CPU)",
        compiled=True,
    ),
    Kind(
        "torch-compile-bf16",
        "torch",
        BOTH,
        "torch.compile (inductor) of the BF16 model (weights and activations BF16)",
        recipe="bf16",
        compiled=True,
    ),
    Kind(
        "torch-bf16-cls",
        "torch",
        BOTH,
        "PyTorch BF16 of the deployment graph (fused Q/K/V, last layer for [CLS] only)",
        graph="cls",
        recipe="bf16",
        requires=("bert-layer",),
    ),
    Kind(
        "torch-compile-bf16-cls",
        "torch",
        BOTH,
        "torch.compile (inductor) of the BF16 deployment graph (fused Q/K/V, last layer for [CLS] only)",
        graph="cls",
        recipe="bf16",
        compiled=True,
        requires=("bert-layer",),
    ),
    # Freezing lets inductor treat the weights as constants: on a CPU it hands BF16 linears to oneDNN
    # with prepacked weights (the AMX path); measured against the plain compiled kinds by
    # experiments/cpu_engines.py, which times every CPU kind.
    Kind(
        "torch-compile-bf16-frozen",
        "torch",
        CPU,
        "torch.compile (inductor, freezing: weights folded and prepacked for oneDNN) of the BF16 model",
        recipe="bf16",
        compiled=True,
        frozen=True,
    ),
    Kind(
        "torch-compile-bf16-cls-frozen",
        "torch",
        CPU,
        "torch.compile (inductor, freezing) of the BF16 deployment graph (fused Q/K/V, [CLS]-only last layer)",
        graph="cls",
        recipe="bf16",
        compiled=True,
        frozen=True,
        requires=("bert-layer",),
    ),
    Kind(
        "torch-compile-fp16",
        "torch",
        CUDA,
        "torch.compile (inductor) of the FP16 model",
        recipe="fp16",
        compiled=True,
    ),
    Kind("ort-fp32", "ort", BOTH, "ONNX Runtime FP32, ORT's default graph optimisations"),
    Kind(
        "ort-opt",
        "ort",
        BOTH,
        "ONNX Runtime FP32 after the BERT optimiser (fused Attention/LayerNorm/GELU)",
        graph="opt",
        requires=("bert-optimiser",),
    ),
    Kind(
        "ort-int8-dynamic",
        "ort",
        CPU,
        "ORT dynamic INT8 with ORT's defaults (per-tensor S8 weights, unfused graph)",
        recipe="dynamic",
        export="dynamic",
    ),
    Kind(
        "ort-int8-fused",
        "ort",
        CPU,
        "ORT dynamic INT8 of the fused graph, per-channel weights, classifier in FP32",
        graph="opt",
        recipe="dynamic-pc",
        requires=("bert-optimised-graph",),
        export="fused",
    ),
    Kind(
        "ort-int8-u8u8",
        "ort",
        CPU,
        "as ort-int8-fused with U8 weights (no vpmaddubsw saturation on non-VNNI CPUs)",
        graph="opt",
        recipe="dynamic-pc-u8",
        requires=("bert-optimised-graph",),
        export="u8u8",
    ),
    Kind(
        "ort-int8-cls",
        "ort",
        CPU,
        "ORT dynamic INT8, per-channel, classifier FP32, fused Q/K/V, last layer for [CLS] only",
        graph="cls",
        recipe="dynamic-pc",
        requires=("bert-layer",),
        export="cls",
    ),
    Kind(
        "ort-int8-static",
        "ort",
        CPU,
        "ORT static INT8 (QDQ), per-channel, calibrated on training texts, classifier FP32",
        recipe="static",
        requires=("matmul",),
        export="static",
    ),
):
    register(_k)
del _k


def names() -> tuple[str, ...]:
    """Every kind, in registration order."""
    return tuple(_ORDER)


def unknown(kinds: list[str]) -> list[str]:
    """The names in ``kinds`` that are not registered kinds."""
    return [k for k in kinds if k not in _REGISTRY]


def get(name: str) -> Kind:
    kind = _REGISTRY.get(name)
    if kind is None:
        raise ConfigError(f"variant kind {name!r} is unknown; known: {', '.join(names())}")
    return kind


def refusal(kind: str, model_type: str) -> str | None:
    """Why ``kind`` does not apply to a model of ``model_type`` (None: it does). The one answer to
    that question: export refuses with it, bench skips with it, the pipeline's plan refuses with it."""
    lacks = LACKS.get(model_type, {})
    return next((lacks[r] for r in get(kind).requires if r in lacks), None)


def kinds_for(model_type: str) -> list[str]:
    """The kinds that apply to ``model_type``, in order."""
    return [k for k in names() if refusal(k, model_type) is None]


# `distill export --int8 NAME`: dynamic (ORT's defaults), fused (per-channel on the fused graph,
# classifier FP32), u8u8 (as fused with U8 weights), cls (fused's recipe on a graph whose last layer
# computes [CLS] only, fused Q/K/V, see deploy_bert.py), static (QDQ, calibrated).
INT8_EXPORTS: tuple[str, ...] = tuple(get(k).export for k in names() if get(k).export)


def int8_kind(export: str) -> Kind:
    """The kind whose graph ``distill export --int8 export`` writes as model.int8.onnx."""
    found = next((get(k) for k in names() if get(k).export == export), None)
    if found is None:
        raise ConfigError(f"int8 {export!r} is unknown; use {', '.join(INT8_EXPORTS)}")
    return found


def int8_for(model_type: str) -> list[str]:
    """The ``--int8`` names that apply to ``model_type``, in order."""
    return [e for e in INT8_EXPORTS if refusal(int8_kind(e).name, model_type) is None]

"""Variant kinds: how each compressed form of a model is built, and the predictor it yields.

A variant is (source, kind, device). A source is a saved model folder (a BERT or MPNet classifier,
or a BiLSTM student) or a paper shape with random weights; a kind is one of :data:`KINDS`, built for
a BERT in every kind and for the other model types in all but their :data:`REFUSALS`.
``build_variant`` returns a :class:`Built` holding the numpy predictor the benchmark times and
evaluates, plus its parameters and size on disk.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from distill.compress.deploy_bert import DeployBert
from distill.compress.evalset import pad_id
from distill.compress.export import (
    Predict,
    export_module,
    optimize_bert_onnx,
    ort_predict,
    ort_session,
    torch_predict,
)
from distill.compress.machine import require_device
from distill.compress.models import (
    BERT_TYPES,
    BILSTM_TYPE,
    MPNET_TYPE,
    PAPER_SHAPES,
    as_logits_module,
    check_model_dir,
    count_parameters,
    input_names,
    load_classifier,
    model_type_of,
    random_bert,
    use_onnx_attention,
    vocab_size,
)
from distill.compress.quantize import INT8_GRAPHS, quantize_dynamic_int8, quantize_onnx
from distill.errors import ConfigError

# kind -> (devices it runs on, one-line description used in reports and docs)
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch-fp32": (("cpu", "cuda"), "PyTorch eager, FP32 (the reference)"),
    "torch-fp32-cls": (("cpu", "cuda"), "PyTorch eager, FP32, fused Q/K/V, last layer for [CLS] only (same logits)"),
    "torch-int8": (("cpu",), "PyTorch dynamic INT8 (torch.ao quantize_dynamic on Linear/LSTM)"),
    "torch-fp16": (("cuda",), "PyTorch, weights and activations FP16"),
    "torch-bf16": (("cuda",), "PyTorch, weights and activations BF16"),
    "torch-compile-fp16": (("cuda",), "torch.compile (inductor) of the FP16 model"),
    "ort-fp32": (("cpu", "cuda"), "ONNX Runtime FP32, ORT's default graph optimisations"),
    "ort-opt": (("cpu", "cuda"), "ONNX Runtime FP32 after the BERT optimiser (fused Attention/LayerNorm/GELU)"),
    "ort-int8-dynamic": (("cpu",), "ORT dynamic INT8 with ORT's defaults (per-tensor S8 weights, unfused graph)"),
    "ort-int8-fused": (("cpu",), "ORT dynamic INT8 of the fused graph, per-channel weights, classifier in FP32"),
    "ort-int8-u8u8": (("cpu",), "as ort-int8-fused with U8 weights (no vpmaddubsw saturation on non-VNNI CPUs)"),
    "ort-int8-cls": (("cpu",), "ORT dynamic INT8, per-channel, classifier FP32, fused Q/K/V, last layer for [CLS] only"),
    "ort-int8-static": (("cpu",), "ORT static INT8 (QDQ), per-channel, calibrated on training texts, classifier FP32"),
}

_FUSED = "it quantises the graph of ORT's BERT optimiser, which applies to BERT-family models only"
_CLS = "the [CLS]-only last layer rewrites a BERT layer; this model has none"
_CLS_MPNET = ("the [CLS]-only last layer rewrites a BERT layer and pooler; MPNet's layers (relative-position bias) "
              "and classification head differ")
# model_type -> {kind: why the kind does not apply}; a BERT builds every kind, and a kind not listed
# for a model type builds for it. Each reason names what the kind needs that this model type lacks.
REFUSALS: dict[str, dict[str, str]] = {
    BILSTM_TYPE: {
        "ort-opt": "ORT's BERT optimiser fuses BERT attention, LayerNorm and GELU, which this model does not have",
        "ort-int8-fused": _FUSED,
        "ort-int8-u8u8": _FUSED,
        "torch-fp32-cls": _CLS,
        "ort-int8-cls": _CLS,
        "ort-int8-static": "its QDQ recipe quantises only MatMul/Gemm outside the classifier, and a BiLSTM has none "
        "(its LSTM would stay FP32)",
    },
    # ORT's optimiser has no MPNet model type; its BERT one, run on MPNet (tried on a tiny one), fuses
    # no attention (MPNet adds its relative-position bias to the scores, outside BERT's pattern) and
    # only folds residual adds into LayerNorm, ORT's session having fused bias+GELU already.
    MPNET_TYPE: {
        "ort-opt": "ORT's BERT optimiser does not fuse MPNet's attention (its relative-position bias is outside "
        "BERT's pattern), so it would add only LayerNorm fusions to ort-fp32",
        "ort-int8-fused": _FUSED,
        "ort-int8-u8u8": _FUSED,
        "torch-fp32-cls": _CLS_MPNET,
        "ort-int8-cls": _CLS_MPNET,
    },
}
# Kinds some model type other than BERT cannot build.
BERT_ONLY_KINDS = tuple(k for k in KINDS if any(k in refused for refused in REFUSALS.values()))
# `distill export --int8 NAME` -> the benchmark kind with the same graph (keys: distill.compress.INT8_EXPORTS).
INT8_KINDS = {"dynamic": "ort-int8-dynamic", "fused": "ort-int8-fused", "u8u8": "ort-int8-u8u8", "cls": "ort-int8-cls",
              "static": "ort-int8-static"}  # fmt: skip


def kind_refusal(model_type: str, kind: str) -> str | None:
    """Why ``kind`` cannot be built for a model of ``model_type`` (None: it can)."""
    return None if model_type in BERT_TYPES else REFUSALS.get(model_type, {}).get(kind)


def kinds_for(model_type: str) -> list[str]:
    return [k for k in KINDS if kind_refusal(model_type, k) is None]


@dataclass
class Source:
    """Where a variant's weights come from: a saved folder, or a paper shape with random weights."""

    name: str
    path: str | None = None
    shape: str | None = None
    role: str = "other"  # teacher | student | other: the report's reference rows

    def __post_init__(self) -> None:
        if (self.path is None) == (self.shape is None):
            raise ConfigError(f"variant source {self.name!r}: give exactly one of path or shape")
        if self.shape is not None and self.shape not in PAPER_SHAPES:
            raise ConfigError(f"variant source {self.name!r}: shape {self.shape!r} unknown; known: {', '.join(PAPER_SHAPES)}")
        if self.role not in ("teacher", "student", "other"):
            raise ConfigError(f"variant source {self.name!r}: role {self.role!r}; use teacher, student or other")

    @property
    def random_weights(self) -> bool:
        return self.shape is not None

    def model_type(self) -> str:
        """config.json's model_type, read without loading the weights (paper shapes are BERTs)."""
        return "bert" if self.path is None else check_model_dir(self.path)["model_type"]


@dataclass
class Loaded:
    """A source's FP32 model (HF classifier or BiLSTM student), loaded once and shared by all its kinds."""

    source: Source
    model: nn.Module
    tokenizer: object | None
    workdir: Path
    _files: dict[str, Path] = field(default_factory=dict)

    @property
    def module(self) -> nn.Module:
        return as_logits_module(self.model, self.tokenizer)

    @property
    def model_type(self) -> str:
        return model_type_of(self.model)

    @property
    def token_types(self) -> bool:
        """Whether batches for this model carry token_type_ids (a BERT whose tokenizer produces them,
        a pair BiLSTM)."""
        return "token_type_ids" in input_names(self.module)

    @property
    def vocab_size(self) -> int:
        return vocab_size(self.model)

    def onnx(self, which: str, calibration: list | None = None) -> Path:
        """Path of the source's ONNX graph ``which`` (fp32, opt, or an INT8 kind), built on first use."""
        if which in self._files:
            return self._files[which]
        out = self.workdir / f"{which}.onnx"
        if which == "fp32":
            m = copy.deepcopy(self.model)
            if self.model_type in BERT_TYPES:
                use_onnx_attention(m)  # the graph shape ORT's optimiser fuses (MPNet's attention is its own)
            export_module(as_logits_module(m, self.tokenizer), out)
        elif which == "cls-fp32":  # DeployBert copies the model and computes attention itself
            export_module(DeployBert(self.model, input_names(self.module)), out)
        elif which == "opt":
            cfg = self.model.config
            optimize_bert_onnx(self.onnx("fp32"), out, cfg.num_attention_heads, cfg.hidden_size)
        elif which in INT8_KINDS.values():
            if which == "ort-int8-static" and calibration is None:
                raise ConfigError("ort-int8-static needs calibration data (bench.yaml `calibration:`)")
            graph, mode = INT8_GRAPHS[next(name for name, kind in INT8_KINDS.items() if kind == which)]
            src = self.onnx({"fp32": "fp32", "opt": "opt", "cls": "cls-fp32"}[graph])
            quantize_onnx(src, out, mode, calibration, pad_id(self.tokenizer))
        else:
            raise ConfigError(f"no ONNX graph {which!r}")
        self._files[which] = out
        return out


def load_source(source: Source, workdir: Path) -> Loaded:
    workdir.mkdir(parents=True, exist_ok=True)
    if source.path is not None:
        model, tok = load_classifier(source.path)
    else:
        model, tok = random_bert(source.shape), None
    return Loaded(source, model, tok, workdir)


@dataclass
class Built:
    predict: Predict
    params: int
    size_bytes: int


def _state_dict_bytes(module: nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


def build_variant(
    loaded: Loaded, kind: str, device: str, threads: int = 1, calibration: list | None = None
) -> Built:
    """The predictor for one (source, kind, device); raises ConfigError for impossible combinations."""
    if kind not in KINDS:
        raise ConfigError(f"variant kind {kind!r} is unknown; known: {', '.join(KINDS)}")
    devices, _ = KINDS[kind]
    if device not in devices:
        raise ConfigError(f"variant kind {kind} runs on {', '.join(devices)}, not {device}")
    mt = loaded.model_type
    reason = kind_refusal(mt, kind)
    if reason:
        raise ConfigError(f"variant kind {kind} does not apply to {loaded.source.name} (model_type {mt}): {reason}; "
                          f"kinds for {mt}: {', '.join(kinds_for(mt))}")  # fmt: skip
    require_device(device)
    params = count_parameters(loaded.model)
    if kind.startswith("torch-"):
        m = copy.deepcopy(loaded.module)
        if kind == "torch-int8":
            m = quantize_dynamic_int8(m)
        elif kind == "torch-fp32-cls":
            m = DeployBert(loaded.model, input_names(loaded.module)).to(device)  # its own copy
        elif kind in ("torch-fp16", "torch-compile-fp16"):
            m = m.to(device="cuda", dtype=torch.float16)
        elif kind == "torch-bf16":
            m = m.to(device="cuda", dtype=torch.bfloat16)
        else:
            m = m.to(device)
        size = _state_dict_bytes(m)
        if kind == "torch-compile-fp16":
            m = torch.compile(m, dynamic=True)
        return Built(torch_predict(m.eval(), device), params, size)
    which = {"ort-fp32": "fp32", "ort-opt": "opt"}.get(kind, kind)
    path = loaded.onnx(which, calibration)
    return Built(ort_predict(ort_session(path, threads=threads, device=device)), params, path.stat().st_size)

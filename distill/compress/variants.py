"""How each variant kind is built, and the predictor it yields.

A variant is (source, kind, device). A source is a saved model folder (a BERT or MPNet classifier,
or a BiLSTM student) or a paper shape with random weights; a kind is one registered in kinds.py,
built for a source whose model type it applies to (``kinds.refusal``). The builders are looked up
from the kind's description: one per runtime (:data:`BUILDERS`), a torch kind's module by its graph
and recipe (:data:`TORCH_GRAPHS`, :data:`TORCH_RECIPES`), an ORT kind's ONNX file by its graph
(:data:`ONNX_GRAPHS`) quantised with its recipe. ``build_variant`` returns a :class:`Built` holding
the numpy predictor the benchmark times and evaluates, plus its parameters and size on disk.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from distill.compress import kinds
from distill.compress.deploy_bert import DeployBert
from distill.compress.evalset import pad_id, synthetic_batch
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
from distill.compress.quantize import quantize_dynamic_int8, quantize_onnx
from distill.core.errors import ConfigError


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
            raise ConfigError(
                f"variant source {self.name!r}: shape {self.shape!r} unknown; known: {', '.join(PAPER_SHAPES)}"
            )
        if self.role not in ("teacher", "student", "other"):
            raise ConfigError(
                f"variant source {self.name!r}: role {self.role!r}; use teacher, student or other"
            )

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
        """Path of the source's ONNX graph ``which`` (a graph of kinds.GRAPHS: fp32, opt, cls; or an
        ORT kind: its graph, quantised with its recipe), built on first use."""
        if which in self._files:
            return self._files[which]
        out = self.workdir / f"{which}.onnx"
        if which in ONNX_GRAPHS:
            ONNX_GRAPHS[which](self, out)
        elif which in kinds.names() and kinds.get(which).runtime == "ort":
            kind = kinds.get(which)
            if kind.recipe is None:
                return self.onnx(kind.graph)
            if kind.calibrated and calibration is None:
                raise ConfigError(f"{which} needs calibration data (bench.yaml `calibration:`)")
            quantize_onnx(self.onnx(kind.graph), out, kind.recipe, calibration, pad_id(self.tokenizer))
        else:
            raise ConfigError(f"no ONNX graph {which!r}")
        self._files[which] = out
        return out


def _export_fp32(loaded: Loaded, out: Path) -> None:
    m = copy.deepcopy(loaded.model)
    use_onnx_attention(m)  # the graph shape ORT's optimiser fuses (MPNet's attention is its own)
    export_module(as_logits_module(m, loaded.tokenizer), out)


def _export_cls(loaded: Loaded, out: Path) -> None:
    export_module(DeployBert(loaded.model, input_names(loaded.module)), out)  # it copies the model


def _optimise(loaded: Loaded, out: Path) -> None:
    cfg = loaded.model.config
    optimize_bert_onnx(loaded.onnx("fp32"), out, cfg.num_attention_heads, cfg.hidden_size)


# kinds.GRAPHS name -> how a source's ONNX file of that graph is written.
ONNX_GRAPHS: dict[str, Callable[[Loaded, Path], None]] = {
    "fp32": _export_fp32,
    "opt": _optimise,
    "cls": _export_cls,
}


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


# kinds.GRAPHS name -> a torch kind's FP32 module of that graph (its own copy of the weights).
TORCH_GRAPHS: dict[str, Callable[[Loaded], nn.Module]] = {
    "fp32": lambda loaded: copy.deepcopy(loaded.module),
    "cls": lambda loaded: DeployBert(loaded.model, input_names(loaded.module)),  # it copies the model
}


class Autocast(nn.Module):
    """The FP32 module with its forward under ``torch.autocast`` to BF16 on ``device``: matmuls and
    linears in BF16 (AMX/AVX-512 BF16 on CPUs that have them), reductions and LayerNorm in FP32."""

    def __init__(self, module: nn.Module, device: str) -> None:
        super().__init__()
        self.module, self.device_type = module, device

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.module(*inputs)


# a torch kind's recipe -> (module, device) -> the module the kind runs.
TORCH_RECIPES: dict[str | None, Callable[[nn.Module, str], nn.Module]] = {
    None: lambda m, device: m.to(device),
    "int8": lambda m, device: quantize_dynamic_int8(m),  # CPU only
    "fp16": lambda m, device: m.to(device="cuda", dtype=torch.float16),
    "bf16": lambda m, device: m.to(device=device, dtype=torch.bfloat16),
    "bf16-autocast": lambda m, device: Autocast(m.to(device), device),
}


@contextlib.contextmanager
def quantized_engine(engine: str | None) -> Iterator[None]:
    """``torch.backends.quantized.engine`` set to ``engine`` inside (None: left as it is); restored after."""
    if engine is None:
        yield
        return
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = before


def supported_engines() -> list[str]:
    """The quantized engines this torch build has (x86 builds: x86, fbgemm, onednn, qnnpack)."""
    return list(torch.backends.quantized.supported_engines)


def _require_engine(kind: kinds.Kind) -> None:
    have = supported_engines()
    if kind.engine is not None and kind.engine not in have:
        raise kinds.Unavailable(
            f"variant kind {kind.name} needs torch's quantized engine {kind.engine!r}; this torch "
            f"({torch.__version__}) has {', '.join(e for e in have if e != 'none')}"
        )


def _with_engine(predict: Predict, engine: str | None) -> Predict:
    if engine is None:
        return predict

    def run(*arrays):
        with quantized_engine(engine):
            return predict(*arrays)

    return run


def _compile_probe(kind: kinds.Kind, predict: Predict, loaded: Loaded) -> None:
    """torch.compile compiles on the first call: do it here on one small batch, so a machine that
    cannot (inductor needs a C++ compiler on the CPU) gets one reason, not a traceback mid-bench."""
    try:
        predict(*synthetic_batch(2, 8, loaded.vocab_size, seed=0, types=loaded.token_types))
    except Exception as e:  # inductor raises many types (compiler missing, unsupported op, ...)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise kinds.Unavailable(
            f"variant kind {kind.name}: torch.compile failed on this machine: {type(e).__name__}: {first}"
        ) from e


def _build_torch(
    loaded: Loaded, kind: kinds.Kind, device: str, threads: int, calibration: list | None
) -> Built:
    _require_engine(kind)
    with quantized_engine(kind.engine):
        m = TORCH_RECIPES[kind.recipe](TORCH_GRAPHS[kind.graph](loaded), device)
    size = _state_dict_bytes(m)
    m = m.eval()
    if kind.compiled:
        m = torch.compile(m, dynamic=True, options={"freezing": True} if kind.frozen else None)
    predict = _with_engine(torch_predict(m, device), kind.engine)
    if kind.compiled:
        _compile_probe(kind, predict, loaded)
    return Built(predict, count_parameters(loaded.model), size)


def _build_ort(
    loaded: Loaded, kind: kinds.Kind, device: str, threads: int, calibration: list | None
) -> Built:
    path = loaded.onnx(kind.name, calibration)
    session = ort_session(path, threads=threads, device=device)
    return Built(ort_predict(session), count_parameters(loaded.model), path.stat().st_size)


# a kind's runtime -> its builder.
BUILDERS: dict[str, Callable[[Loaded, kinds.Kind, str, int, list | None], Built]] = {
    "torch": _build_torch,
    "ort": _build_ort,
}


def build_variant(
    loaded: Loaded, kind: str, device: str, threads: int = 1, calibration: list | None = None
) -> Built:
    """The predictor for one (source, kind, device); raises ConfigError for impossible combinations."""
    spec = kinds.get(kind)
    if device not in spec.devices:
        raise ConfigError(f"variant kind {kind} runs on {', '.join(spec.devices)}, not {device}")
    mt = loaded.model_type
    reason = kinds.refusal(kind, mt)
    if reason:
        raise ConfigError(
            f"variant kind {kind} does not apply to {loaded.source.name} (model_type {mt}): {reason}; "
            f"kinds for {mt}: {', '.join(kinds.kinds_for(mt))}"
        )
    require_device(device)
    return BUILDERS[spec.runtime](loaded, spec, device, threads, calibration)

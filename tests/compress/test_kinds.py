"""Contract of the registry of export/bench kinds (distill/compress/kinds.py), over every registered kind.

For a tiny BERT, BiLSTM and MPNet each kind either builds and gives the torch model's logits on the
same inputs (FP32 within 1e-4, INT8 and FP16/BF16 by agreement), or is refused with its reason: the
same reason from build_variant, `distill export --int8` and bench's pre-flight. A CUDA-only kind on
a machine without CUDA is asserted refused for lack of CUDA. Each description's facts (devices,
graph, recipe, export name) are checked against what it builds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from distill.compress import kinds
from distill.compress.bench import _inapplicable
from distill.compress.evalset import encode_batches
from distill.compress.export import export_onnx, torch_predict
from distill.compress.models import SUPPORTED_TYPES
from distill.compress.quantize import ONNX_INT8_RECIPES
from distill.compress.variants import (
    BUILDERS,
    ONNX_GRAPHS,
    TORCH_GRAPHS,
    TORCH_RECIPES,
    Autocast,
    Loaded,
    Source,
    build_variant,
    load_source,
)
from distill.core.errors import ConfigError
from distill.models.adapters import adapter_for
from tests.compress.conftest import TEXTS
from tests.mpnet_helpers import save_tiny_mpnet_classifier

MODELS = ("bert", "bilstm", "mpnet")
CUDA = torch.cuda.is_available()
NO_CUDA = "devices: cuda asked for, but no CUDA GPU is visible to torch on this machine"
# ops an ONNX graph has only once it is quantised (dynamic: integer matmuls; static: QDQ pairs)
QUANTISED_OPS = {
    "MatMulInteger",
    "DynamicQuantizeMatMul",
    "DynamicQuantizeLinear",
    "DynamicQuantizeLSTM",
    "QuantizeLinear",
    "DequantizeLinear",
    "QAttention",
    "QLinearMatMul",
}
INT8_MIN_AGREEMENT = 0.85  # 14 inputs: at most two flips near the boundary of a tiny random model


@pytest.fixture(scope="module")
def sources(tmp_path_factory, tiny_bert, tiny_bilstm) -> dict[str, tuple[str, Loaded]]:
    """model -> (its folder, its source loaded once: the ONNX graphs are shared by its kinds)."""
    mpnet = save_tiny_mpnet_classifier(tmp_path_factory.mktemp("models") / "tiny-mpnet")
    work = tmp_path_factory.mktemp("kinds")
    paths = {"bert": str(tiny_bert), "bilstm": str(tiny_bilstm), "mpnet": str(mpnet)}
    return {m: (p, load_source(Source(m, path=p), work / m)) for m, p in paths.items()}


def _batches(loaded: Loaded, n: int, batch_size: int) -> list[tuple[np.ndarray, ...]]:
    """``n`` texts (as pairs where the model takes token types) encoded as the model was trained."""
    texts = TEXTS[:n]
    pairs = TEXTS[1 : n + 1] if loaded.token_types else None
    return list(encode_batches(loaded.tokenizer, texts, pairs, 32, batch_size, loaded.token_types))


def _ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


# torch.compile (inductor) compiles C++ on the first call: tens of seconds per model, so the compiled
# kinds build one tiny model in the slow suite (test_compiled_kinds_build_on_this_cpu) and only their
# description facts and refusals in the default one.
COMPILED = [n for n in kinds.names() if kinds.get(n).compiled]


def _case(name: str, model: str):
    if kinds.get(name).compiled and "cpu" in kinds.get(name).devices:
        return pytest.param(name, model, marks=pytest.mark.slow)
    return (name, model)


@pytest.mark.parametrize(("name", "model"), [_case(n, m) for n in kinds.names() for m in MODELS])
def test_every_kind_builds_with_the_torch_logits_or_is_refused_with_its_reason(
    sources, tmp_path, name, model
):
    path, loaded = sources[model]
    kind, mt = kinds.get(name), loaded.model_type
    reason = kinds.refusal(name, mt)
    for other in ("cpu", "cuda"):  # the devices are checked first, for every model
        if other not in kind.devices:
            with pytest.raises(ConfigError) as e:
                build_variant(loaded, name, other)
            assert str(e.value) == f"variant kind {name} runs on {', '.join(kind.devices)}, not {other}"
    if reason:
        _assert_refused_everywhere(kind, loaded, path, reason, tmp_path)
        return
    device = "cpu" if "cpu" in kind.devices else "cuda"
    if device == "cuda" and not CUDA:
        with pytest.raises(ConfigError) as e:
            build_variant(loaded, name, "cuda")
        assert str(e.value) == NO_CUDA
        return
    calib = _batches(loaded, 40, 8) if kind.calibrated else None
    built = build_variant(loaded, name, device, calibration=calib)
    reference = torch_predict(loaded.module)
    batches = _batches(loaded, 14, 7)
    ref = np.concatenate([reference(*b) for b in batches])  # [14, 2]
    got = np.concatenate([built.predict(*b) for b in batches])
    assert got.shape == ref.shape == (14, 2)
    if kind.recipe is None:  # FP32: the same function up to float reassociation
        tol = 1e-3 if kind.compiled else 1e-4  # inductor fuses and reorders reductions
        assert np.abs(got - ref).max() < tol, name
    else:  # INT8, BF16 (8 mantissa bits), FP16: by agreement
        assert (got.argmax(-1) == ref.argmax(-1)).mean() >= INT8_MIN_AGREEMENT, (name, got, ref)
        # quantisation noise, not another model
        assert np.abs(got - ref).max() < 0.5 * np.abs(ref).max(), name
    assert built.params == sum(p.numel() for p in loaded.model.parameters())
    if kind.runtime == "ort":
        ops = _ops(loaded.onnx(name, calib))
        assert bool(QUANTISED_OPS & set(ops)) == (kind.recipe is not None), (name, sorted(set(ops)))
        if kind.calibrated:
            assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # QDQ
        if kind.graph == "opt":
            assert {"Attention", "QAttention"} & set(ops), name  # the optimiser's fused attention
    if kind.int8 and not kind.calibrated:  # (a tiny model's QDQ nodes outweigh what its INT8 weights save)
        fp32 = build_variant(loaded, "torch-fp32" if kind.runtime == "torch" else "ort-fp32", "cpu")
        assert built.size_bytes < fp32.size_bytes, name


def _assert_refused_everywhere(kind: kinds.Kind, loaded: Loaded, path: str, reason: str, tmp_path) -> None:
    """build_variant, bench's pre-flight and export --int8 all refuse with the registry's reason."""
    mt = loaded.model_type
    with pytest.raises(ConfigError) as e:
        build_variant(loaded, kind.name, kind.devices[0])
    assert str(e.value) == (
        f"variant kind {kind.name} does not apply to {loaded.source.name} (model_type {mt}): "
        f"{reason}; kinds for {mt}: {', '.join(kinds.kinds_for(mt))}"
    )
    skip = _inapplicable([loaded.source], ["torch-fp32", kind.name], list(kind.devices))
    assert skip == {(loaded.source.name, kind.name): f"does not apply to model_type {mt}: {reason}"}
    if kind.export:
        with pytest.raises(ConfigError) as e:
            export_onnx(path, tmp_path / "out", int8=kind.export)
        assert str(e.value) == (
            f"{path}: int8 {kind.export!r} (kind {kind.name}) does not apply to model_type {mt}: "
            f"{reason}; int8 for {mt}: {', '.join(kinds.int8_for(mt))}"
        )
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", kinds.names())
def test_description_facts(name):
    kind = kinds.get(name)
    assert kind.name == name and kind.description and "\n" not in kind.description
    assert (
        kind.devices and set(kind.devices) <= {"cpu", "cuda"} and list(kind.devices) == sorted(kind.devices)
    )
    if kind.int8:  # INT8 runs on the CPU only; half precision on CUDA only
        assert kind.devices == ("cpu",)
    if kind.half or kind.compiled:  # torch only; FP16 on CUDA only (CPUs have no fast FP16 matmul)
        assert kind.runtime == "torch"
        # freezing's point is oneDNN's prepacked weights: a CPU kind
        expected = ("cuda",) if kind.recipe == "fp16" else ("cpu",) if kind.frozen else ("cpu", "cuda")
        assert kind.devices == expected, name
    assert kind.int8 + kind.half + (kind.recipe is None) == 1
    assert (kind.engine is not None) <= (kind.runtime == "torch" and kind.int8)
    assert kind.runtime in BUILDERS
    if kind.runtime == "torch":
        assert kind.graph in TORCH_GRAPHS and kind.recipe in TORCH_RECIPES and kind.export is None
    else:
        assert kind.graph in ONNX_GRAPHS and kind.recipe in (None, "static", *ONNX_INT8_RECIPES)
        assert (kind.export is not None) == (kind.recipe is not None)  # every ORT INT8 graph can be exported
    assert kind.calibrated == (kind.recipe == "static")
    # what the graph and recipe need of the model is declared, and only that
    needs = (
        {"bert-optimiser" if kind.recipe is None else "bert-optimised-graph"}
        if kind.graph == "opt"
        else set()
    )
    needs |= {"bert-layer"} if kind.graph == "cls" else set()
    needs |= {"matmul"} if kind.calibrated else set()
    assert set(kind.requires) == needs
    if kind.export:
        assert kinds.int8_kind(kind.export) is kind and kind.export in kinds.INT8_EXPORTS
    assert kinds.refusal(name, "bert") is None  # a BERT builds every kind


def test_registry_tables():
    assert kinds.INT8_EXPORTS == ("dynamic", "fused", "u8u8", "cls", "static")
    assert [kinds.int8_kind(e).name for e in kinds.INT8_EXPORTS] == [
        "ort-int8-dynamic",
        "ort-int8-fused",
        "ort-int8-u8u8",
        "ort-int8-cls",
        "ort-int8-static",
    ]
    # the graph each model.int8.onnx quantises, and how (the table export and bench shared before the registry)
    assert {e: (kinds.int8_kind(e).graph, kinds.int8_kind(e).recipe) for e in kinds.INT8_EXPORTS} == {
        "dynamic": ("fp32", "dynamic"),
        "fused": ("opt", "dynamic-pc"),
        "u8u8": ("opt", "dynamic-pc-u8"),
        "cls": ("cls", "dynamic-pc"),
        "static": ("fp32", "static"),
    }
    # every family whose adapter says "no" to a deployment path, and the BiLSTM
    partial = {
        mt
        for mt in SUPPORTED_TYPES
        if mt == "distill-bilstm" or not (adapter_for(mt).ort_optimizer.ok and adapter_for(mt).cls_graph.ok)
    }
    assert set(kinds.LACKS) == partial and "bert" not in kinds.LACKS
    assert all(set(lacks) <= set(kinds.REQUIREMENTS) for lacks in kinds.LACKS.values())
    assert {g.name: g.file for g in kinds.GRAPHS.values()} == {
        "fp32": "model.onnx",
        "opt": "model.opt.onnx",
        "cls": "model.cls.onnx",
    }
    with pytest.raises(ConfigError) as e:
        kinds.get("ort-int4")
    assert str(e.value) == f"variant kind 'ort-int4' is unknown; known: {', '.join(kinds.names())}"
    with pytest.raises(ConfigError) as e:
        kinds.int8_kind("int4")
    assert str(e.value) == "int8 'int4' is unknown; use dynamic, fused, u8u8, cls, static"
    assert kinds.unknown(["torch-fp32", "fp128"]) == ["fp128"]


def test_the_cls_graph_fuses_qkv(sources):
    """The cls graph (deploy_bert.py): one Q/K/V projection per layer, so fewer matmuls than fp32."""
    _, loaded = sources["bert"]

    def matmuls(graph: str) -> int:
        return sum(op in ("MatMul", "Gemm") for op in _ops(loaded.onnx(graph)))

    assert matmuls("cls") < matmuls("fp32")
    assert "Attention" not in _ops(loaded.onnx("fp32")) and "Attention" in _ops(loaded.onnx("opt"))


def test_kinds_module_imports_neither_torch_nor_the_builders():
    """The CLI and config validation read the registry without torch; export and variants import it."""
    code = (
        "import sys, distill.compress.kinds; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('distill.compress.') "
        "and m != 'distill.compress.kinds'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, distill.compress.export; print('distill.compress.variants' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # export -> kinds, variants -> export: no cycle


def test_the_cpu_kinds_of_issue_20():
    """BF16 (cast and autocast) and torch.compile FP32/BF16 run on CPU and CUDA; torch INT8 with a set
    quantized engine on the CPU; torch-int8 keeps torch's default engine."""
    assert [n for n in kinds.names() if n.startswith("torch-")] == [
        "torch-fp32",
        "torch-fp32-cls",
        "torch-int8",
        "torch-int8-x86",
        "torch-int8-onednn",
        "torch-fp16",
        "torch-bf16",
        "torch-bf16-autocast",
        "torch-compile-fp32",
        "torch-compile-bf16",
        "torch-bf16-cls",
        "torch-compile-bf16-cls",
        "torch-compile-bf16-frozen",
        "torch-compile-bf16-cls-frozen",
        "torch-compile-fp16",
    ]
    facts = {n: (kinds.get(n).recipe, kinds.get(n).compiled, kinds.get(n).engine) for n in kinds.names()}
    assert facts["torch-int8"] == ("int8", False, None)
    assert facts["torch-int8-x86"] == ("int8", False, "x86")
    assert facts["torch-int8-onednn"] == ("int8", False, "onednn")
    assert facts["torch-bf16-autocast"] == ("bf16-autocast", False, None)
    assert facts["torch-compile-fp32"] == (None, True, None)
    assert facts["torch-compile-bf16"] == ("bf16", True, None)
    assert facts["torch-bf16-cls"] == ("bf16", False, None) and kinds.get("torch-bf16-cls").graph == "cls"
    assert facts["torch-compile-bf16-cls"] == ("bf16", True, None)
    assert kinds.get("torch-compile-bf16-cls").requires == ("bert-layer",)
    frozen = {n: kinds.get(n) for n in kinds.names() if kinds.get(n).frozen}
    assert sorted(frozen) == ["torch-compile-bf16-cls-frozen", "torch-compile-bf16-frozen"]
    assert {(k.recipe, k.compiled, k.devices) for k in frozen.values()} == {("bf16", True, ("cpu",))}
    assert frozen["torch-compile-bf16-cls-frozen"].graph == "cls"
    with pytest.raises(ValueError, match="freezing is a torch.compile option"):
        kinds.Kind("x", "torch", ("cpu",), "d", recipe="bf16", frozen=True)
    assert "x86 on x86 CPUs" in kinds.get("torch-int8").description
    with pytest.raises(ValueError, match="a quantized engine is for torch INT8 kinds only"):
        kinds.Kind("x", "torch", ("cpu",), "d", recipe="bf16", engine="x86")


def test_bf16_kinds_compute_in_bf16_on_the_cpu(sources):
    """The cast kind holds BF16 weights; the autocast one FP32 weights and runs its linears in BF16."""
    _, loaded = sources["bert"]
    cast = TORCH_RECIPES["bf16"](TORCH_GRAPHS["fp32"](loaded), "cpu")
    assert {p.dtype for p in cast.parameters()} == {torch.bfloat16}
    auto = TORCH_RECIPES["bf16-autocast"](TORCH_GRAPHS["fp32"](loaded), "cpu")
    assert isinstance(auto, Autocast) and {p.dtype for p in auto.parameters()} == {torch.float32}
    seen = []
    linear = next(m for m in auto.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    auto(*(torch.from_numpy(a) for a in _batches(loaded, 2, 2)[0]))
    assert seen == [torch.bfloat16]


def test_an_int8_engine_is_set_around_the_forward_and_restored(sources, monkeypatch):
    from distill.compress import variants

    _, loaded = sources["bert"]
    default = torch.backends.quantized.engine
    assert default in ("x86", "fbgemm", "qnnpack")  # torch-int8's engine, named in its description
    seen = []
    real = variants.torch_predict

    def spy(module, device="cpu"):
        inner = real(module, device)
        return lambda *a: (seen.append(torch.backends.quantized.engine), inner(*a))[1]

    monkeypatch.setattr(variants, "torch_predict", spy)
    built = build_variant(loaded, "torch-int8-onednn", "cpu")
    assert torch.backends.quantized.engine == default
    assert built.predict(*_batches(loaded, 2, 2)[0]).shape == (2, 2)
    assert seen == ["onednn"] and torch.backends.quantized.engine == default
    build_variant(loaded, "torch-int8", "cpu").predict(*_batches(loaded, 2, 2)[0])
    assert seen == ["onednn", default]
    monkeypatch.setattr(variants, "supported_engines", lambda: ["qnnpack", "none"])
    with pytest.raises(kinds.Unavailable) as e:
        build_variant(loaded, "torch-int8-x86", "cpu")
    assert str(e.value) == (
        f"variant kind torch-int8-x86 needs torch's quantized engine 'x86'; this torch "
        f"({torch.__version__}) has qnnpack"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in COMPILED if "cpu" in kinds.get(n).devices])
def test_compiled_kinds_build_on_this_cpu(sources, name):
    """Inductor needs a C++ compiler at run time: one tiny model, one shape, against eager FP32."""
    _, loaded = sources["bert"]
    built = build_variant(loaded, name, "cpu")
    batch = _batches(loaded, 7, 7)[0]
    ref, got = torch_predict(loaded.module)(*batch), built.predict(*batch)
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= INT8_MIN_AGREEMENT
    if kinds.get(name).recipe is None:
        assert np.abs(got - ref).max() < 1e-3


def test_only_the_frozen_kinds_compile_with_inductors_freezing(sources, monkeypatch):
    """torch.compile gets ``options={"freezing": True}`` for the frozen kinds and no options otherwise."""
    from distill.compress import variants

    seen = {}

    def record(m, **kw):
        seen[name] = kw
        return m  # eager: what is checked is the call, not inductor

    monkeypatch.setattr(variants.torch, "compile", record)
    _, loaded = sources["bert"]
    for name in ("torch-compile-bf16", "torch-compile-bf16-frozen", "torch-compile-bf16-cls-frozen"):
        build_variant(loaded, name, "cpu")
    assert seen == {
        "torch-compile-bf16": {"dynamic": True, "options": None},
        "torch-compile-bf16-frozen": {"dynamic": True, "options": {"freezing": True}},
        "torch-compile-bf16-cls-frozen": {"dynamic": True, "options": {"freezing": True}},
    }


def test_a_compile_failure_is_a_reason_and_bench_skips_the_variant(sources, monkeypatch, tiny_bert):
    """A machine where inductor cannot compile (no C++ compiler) skips the compiled kinds with why."""
    from distill.compress import variants
    from distill.compress.bench import BenchSettings, run_benchmark

    def broken(m, **_):
        def fail(*a):
            raise RuntimeError("InductorError: CppCompileError: C++ compile error\n(long log)")

        return fail

    monkeypatch.setattr(variants.torch, "compile", broken)
    _, loaded = sources["bert"]
    with pytest.raises(kinds.Unavailable) as e:
        build_variant(loaded, "torch-compile-fp32", "cpu")
    reason = (
        "variant kind torch-compile-fp32: torch.compile failed on this machine: RuntimeError: "
        "InductorError: CppCompileError: C++ compile error"
    )
    assert str(e.value) == reason
    s = BenchSettings(batch_sizes=[1], seq_lens=[8], warmup=1, reps=2, max_seconds=1, min_reps=1)
    result = run_benchmark([Source("s", path=str(tiny_bert))], ["torch-fp32", "torch-compile-fp32"], s)
    assert [v["kind"] for v in result["variants"]] == ["torch-fp32"]
    assert result["skipped"] == [
        {"name": "s/torch-compile-fp32", "source": "s", "kind": "torch-compile-fp32", "skipped": reason}
    ]


def test_the_docs_kinds_table_is_generated_from_the_registry():
    from distill.compress import kinds_table

    readme = (Path(__file__).resolve().parents[2] / "docs/compression.md").read_text(encoding="utf-8")
    block = readme[readme.index(kinds_table.BEGIN) + len(kinds_table.BEGIN) : readme.index(kinds_table.END)]
    assert block.strip() == kinds_table.markdown(), (
        "docs/compression.md's kinds table is stale: run python -m distill.compress.kinds_table --readme docs/compression.md"
    )
    assert [f"`{n}`" in block for n in kinds.names()] == [True] * len(kinds.names())

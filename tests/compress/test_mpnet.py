"""An MPNet classifier (a teacher step's fine-tuned all-mpnet-base-v2, here tiny and random) through
export, INT8 and bench in the generic kinds; the BERT-only kinds refused (export, build_variant) or
skipped (bench) by name, pruning refused, a bare MPNet encoder refused."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from distill.compress.bench import BenchSettings, run_benchmark
from distill.compress.cli import main
from distill.compress.evalset import encode_batches
from distill.compress.export import ort_predict, ort_session, torch_predict
from distill.compress.models import (
    LogitsOnly,
    as_logits_module,
    check_model_dir,
    input_names,
    load_classifier,
)
from distill.compress.variants import Source, build_variant, load_source
from distill.core.errors import ConfigError
from distill.models.adapters import adapter_for
from tests.mpnet_helpers import save_tiny_mpnet, save_tiny_mpnet_classifier

from .conftest import TEXTS, run_fast_bench

MPNET_KINDS = (
    "torch-fp32, torch-int8, torch-int8-x86, torch-int8-onednn, torch-fp16, torch-bf16, torch-bf16-autocast, torch-compile-fp32, torch-compile-bf16, torch-compile-bf16-frozen, torch-compile-fp16, ort-fp32, ort-int8-dynamic, "
    "ort-int8-static"
)
# the adapter's measured fact (tests/compress/test_family_fusions.py checks it against the optimiser)
OPT = adapter_for("mpnet").ort_optimizer.why
FUSED = "it quantises the graph of ORT's BERT optimiser, which does not apply to this model type"
CLS = (
    "the [CLS]-only last layer rewrites a BERT layer and pooler; MPNet's layers (relative-position bias) and "
    "classification head differ"
)


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory) -> Path:
    return save_tiny_mpnet_classifier(tmp_path_factory.mktemp("models") / "tiny-mpnet")


def padded_batch(tok, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids, mask = next(encode_batches(tok, texts, None, 64, len(texts)))
    return ids, mask


def test_wrapper_is_the_model_itself_without_token_types(tiny_mpnet):
    assert check_model_dir(tiny_mpnet)["model_type"] == "mpnet"
    model, tok = load_classifier(tiny_mpnet)
    module = as_logits_module(model)
    assert isinstance(module, LogitsOnly) and input_names(module) == ("input_ids", "attention_mask")
    ids, mask = padded_batch(tok, TEXTS[:5])
    assert mask.min() == 0 and ids[mask == 0].tolist() == [1] * int((mask == 0).sum())  # MPNet pads with 1
    # HF's own forward: positions counted from 2 over non-pad tokens, its own float-min mask.
    with torch.no_grad():
        expected = model(
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        ).logits.numpy()
    np.testing.assert_allclose(torch_predict(module)(ids, mask), expected, atol=1e-6)
    # logits spread: the comparisons below mean something
    assert np.abs(expected[:, 0] - expected[:, 1]).max() > 0.1


def test_export_round_trip_is_dynamic_and_matches_pytorch_with_padding(tiny_mpnet, tmp_path, capsys):
    out = tmp_path / "onnx"
    assert main(["export", str(tiny_mpnet), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("model.onnx: agreement 100.00% on 14")
    assert not (out / "model.opt.onnx").exists()
    rep = json.loads((out / "verify.json").read_text())
    assert rep["model_type"] == "mpnet" and rep["inputs"] == ["input_ids", "attention_mask"]
    assert rep["notes"] == [f"model.opt.onnx not written (model_type mpnet): {OPT}"]
    assert json.loads((out / "config.json").read_text())["architectures"] == [
        "MPNetForSequenceClassification"
    ]
    graph = onnx.load(str(out / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    for i in graph.input:  # both axes symbolic, not the traced [2, 16]
        assert [d.dim_param for d in i.type.tensor_type.shape.dim] == ["batch", "seq"]
    model, tok = load_classifier(tiny_mpnet)
    pred = ort_predict(ort_session(out / "model.onnx"))
    ids, mask = padded_batch(
        tok, ["i really hate the service", "good", "not bad", "a very happy day", "so sad"]
    )
    assert ids.shape[0] == 5 and ids.shape[1] != 16 and mask.min() == 0
    long_ids = np.random.default_rng(0).integers(5, model.config.vocab_size, (3, 40))  # batch 3, length 40
    long_ids[:, 0], long_ids[2, 25:] = 0, 1  # <s> first; the third row padded after 25 tokens
    long_mask = (long_ids != 1).astype(np.int64)
    for i, m in ((ids, mask), (ids[:1], mask[:1]), (long_ids, long_mask)):
        with torch.no_grad():
            expected = model(input_ids=torch.from_numpy(i), attention_mask=torch.from_numpy(m)).logits.numpy()
        np.testing.assert_allclose(pred(i, m), expected, atol=1e-4)


def test_dynamic_int8_export_agrees_on_a_fixed_input_set(tiny_mpnet, eval_csv, tmp_path):
    out = tmp_path / "q"
    assert (
        main(
            [
                "export",
                str(tiny_mpnet),
                "--out",
                str(out),
                "--int8",
                "dynamic",
                "--verify-data",
                str(eval_csv),
            ]
        )
        == 0
    )
    graphs = json.loads((out / "verify.json").read_text())["graphs"]
    int8 = graphs["model.int8.onnx"]
    assert int8["n"] == len(TEXTS) and int8["agreement"] >= 0.97 and 0 < int8["max_abs_logit_diff"] < 0.5
    assert graphs["model.onnx"]["agreement"] == 1.0
    ops = {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops  # really quantised
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size


def test_static_int8_export_is_calibrated_and_verified(tiny_mpnet, eval_csv, tmp_path):
    out = tmp_path / "s"
    argv = [
        "export",
        str(tiny_mpnet),
        "--out",
        str(out),
        "--int8",
        "static",
        "--calibration-data",
        str(eval_csv),
        "--verify-data",
        str(eval_csv),
    ]
    assert main(argv) == 0
    int8 = json.loads((out / "verify.json").read_text())["graphs"]["model.int8.onnx"]
    assert int8["n"] == len(TEXTS) and int8["agreement"] >= 0.97 and 0 < int8["max_abs_logit_diff"] < 0.5
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}


def test_static_int8_calibration_pads_with_mpnets_pad_id(tiny_mpnet, tmp_path, monkeypatch):
    """Calibration rows are padded to one width with the tokenizer's pad id (1), not BERT's 0: MPNet
    would count 0s as tokens (positions) and their activations would enter the ranges."""
    import onnxruntime.quantization as q

    seen = []

    def spy(src, dst, reader, **kw):
        while (feed := reader.get_next()) is not None:
            seen.append(feed)

    monkeypatch.setattr(q, "quantize_static", spy)
    loaded = load_source(Source("m", path=str(tiny_mpnet)), tmp_path)
    calib = list(encode_batches(loaded.tokenizer, TEXTS[:40], None, 64, 8))
    loaded.onnx("ort-int8-static", calib)  # the bench's path: the pad id comes from the source's tokenizer
    ids = np.concatenate([f["input_ids"] for f in seen])
    mask = np.concatenate([f["attention_mask"] for f in seen])
    assert ids.shape == (40, max(b[0].shape[1] for b in calib)) and (mask == 0).sum() > 0
    assert set(ids[mask == 0].tolist()) == {1}


@pytest.mark.parametrize(
    ("int8", "kind", "reason"),
    [
        ("fused", "ort-int8-fused", FUSED),
        ("u8u8", "ort-int8-u8u8", FUSED),
        ("cls", "ort-int8-cls", CLS),
    ],
)
def test_export_refuses_bert_only_int8(tiny_mpnet, tmp_path, capsys, int8, kind, reason):
    assert main(["export", str(tiny_mpnet), "--out", str(tmp_path / "o"), "--int8", int8]) == 2
    assert capsys.readouterr().err == (
        f"error: {tiny_mpnet}: int8 {int8!r} (kind {kind}) does not apply to model_type mpnet: {reason}; "
        "int8 for mpnet: dynamic, static\n"
    )
    assert not (tmp_path / "o").exists()


def test_bert_only_kinds_refused_by_name(tiny_mpnet, tmp_path):
    loaded = load_source(Source("t", path=str(tiny_mpnet)), tmp_path)
    for kind, reason in (("ort-opt", OPT), ("torch-fp32-cls", CLS)):
        with pytest.raises(ConfigError) as e:
            build_variant(loaded, kind, "cpu")
        assert str(e.value) == (
            f"variant kind {kind} does not apply to t (model_type mpnet): {reason}; kinds for mpnet: {MPNET_KINDS}"
        )
    fast = BenchSettings(batch_sizes=[1], seq_lens=[8], warmup=1, reps=2, max_seconds=0.5, min_reps=2)
    with pytest.raises(
        ConfigError
    ) as e:  # a source left with no kind at all: refused before anything is timed
        run_benchmark([Source("t", path=str(tiny_mpnet))], ["ort-opt", "ort-int8-fused"], fast)
    assert str(e.value) == (
        "source 't' (model_type mpnet): none of kinds ['ort-opt', 'ort-int8-fused'] apply to it; "
        f"kinds for mpnet: {MPNET_KINDS}"
    )


def test_bench_mpnet_teacher_and_bert_student_records_the_skipped_kinds(
    tiny_mpnet, tiny_bert, eval_csv, tmp_path
):
    kinds = ["torch-fp32", "torch-int8", "ort-fp32", "ort-opt", "ort-int8-dynamic", "ort-int8-fused"]
    rep = run_fast_bench(
        tmp_path, [("student", tiny_bert, "student"), ("teacher", tiny_mpnet, "teacher")], kinds, eval_csv
    )
    assert [v["name"] for v in rep["variants"]] == [f"student/{k}" for k in kinds] + [
        "teacher/torch-fp32",
        "teacher/torch-int8",
        "teacher/ort-fp32",
        "teacher/ort-int8-dynamic",
    ]
    assert rep["skipped"] == [
        {
            "name": "teacher/ort-opt",
            "source": "teacher",
            "kind": "ort-opt",
            "skipped": f"does not apply to model_type mpnet: {OPT}",
        },
        {
            "name": "teacher/ort-int8-fused",
            "source": "teacher",
            "kind": "ort-int8-fused",
            "skipped": f"does not apply to model_type mpnet: {FUSED}",
        },
    ]
    teacher = {v["kind"]: v for v in rep["variants"] if v["source"] == "teacher"}
    assert (
        teacher["ort-fp32"]["agreement_with_fp32"] == 1.0
        and teacher["ort-int8-dynamic"]["agreement_with_fp32"] >= 0.9
    )
    assert teacher["torch-int8"]["size_mb"] < teacher["torch-fp32"]["size_mb"]
    assert teacher["torch-fp32"]["params"] == sum(
        p.numel() for p in load_classifier(tiny_mpnet)[0].parameters()
    )
    for v in rep["variants"]:
        assert 0 <= v["accuracy"] <= 1 and v["accuracy_delta_vs_teacher"] is not None
        assert {(t["seq_len"], t["batch"]) for t in v["timings"]} == {(8, 1), (8, 4)}
    md = (tmp_path / "r" / "report.md").read_text()
    assert "- `teacher/ort-opt`: does not apply to model_type mpnet" in md


def test_compress_refuses_mpnet(tiny_mpnet, tmp_path, capsys):
    assert main(["compress", str(tiny_mpnet), "--out", str(tmp_path / "p"), "--prune-heads", "0.5"]) == 2
    assert capsys.readouterr().err == (
        f"error: {tiny_mpnet}: model_type mpnet: distill compress (pruning) does not apply: compress/prune.py "
        "cuts BERT's layer layout (attention.self.query/key/value, intermediate.dense); MPNet's (q, k, v, o) "
        "differs; export and benchmark it with distill export / distill bench\n"
    )
    assert not (tmp_path / "p").exists()


def test_a_bare_mpnet_encoder_is_refused(tmp_path, capsys):
    bare = save_tiny_mpnet(tmp_path / "all-mpnet")  # like assets/all-mpnet-base-v2: no classifier
    assert main(["export", str(bare), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        f"error: {bare}: architectures ['MPNetModel'] has no sequence-classification head (a bare encoder, "
        "e.g. all-mpnet-base-v2); fine-tune it first (a teacher step, or distill run)\n"
    )
    assert not (tmp_path / "o").exists()

"""The BiLSTM student (students.bilstm, saved as `distill run` saves it) through export, INT8 and bench;
pruning refused. The BERT-only kinds are refused (export, build_variant) or skipped (bench) by name."""

import json
import shutil

import numpy as np
import onnx
import pytest
from torch import nn

import students
from distill.compress.bench import BenchSettings, run_benchmark
from distill.compress.cli import main
from distill.compress.evalset import encode_batches
from distill.compress.export import ort_predict, ort_session, torch_predict, verify
from distill.compress.models import (
    BiLSTMLogits,
    as_logits_module,
    check_model_dir,
    input_names,
    load_classifier,
)
from distill.compress.quantize import quantize_dynamic_int8
from distill.compress.variants import Source, build_variant, load_source
from distill.core.errors import ConfigError
from students.bilstm import MODEL_TYPE, BiLSTMClassifier
from students.word_tokenizer import WordTokenizer

from .conftest import TEXTS, label_of, run_fast_bench

FAST = BenchSettings(
    devices=["cpu"],
    batch_sizes=[1, 4],
    seq_lens=[8],
    warmup=1,
    reps=3,
    max_seconds=0.5,
    min_reps=2,
    threads=1,
    eval_max_len=32,
)
BILSTM_KINDS = "torch-fp32, torch-int8, torch-int8-x86, torch-int8-onednn, torch-fp16, torch-bf16, torch-bf16-autocast, torch-compile-fp32, torch-compile-bf16, torch-compile-bf16-frozen, torch-compile-fp16, ort-fp32, ort-int8-dynamic"


def test_a_saved_bilstm_loads_with_its_word_tokenizer(tiny_bilstm, tmp_path):
    assert check_model_dir(tiny_bilstm)["model_type"] == MODEL_TYPE == "distill-bilstm"
    model, tok = load_classifier(tiny_bilstm)
    assert isinstance(model, BiLSTMClassifier) and isinstance(tok, WordTokenizer) and not model.training
    module = as_logits_module(model)
    assert isinstance(module, BiLSTMLogits) and input_names(module) == ("input_ids", "attention_mask")
    # The compress package's tokenisation: int64 arrays padded to each batch's longest text.
    ids, mask = next(encode_batches(tok, ["the movie was great", "bad", "zzz unknown words"], None, 32, 3))
    assert ids.dtype == mask.dtype == np.int64 and ids.shape == (3, 4)
    assert mask.tolist() == [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]] and ids[2, 0] == tok.unk_token_id
    expected = model(**tok(["the movie was great", "bad"], return_tensors="pt")).logits.detach().numpy()
    np.testing.assert_allclose(torch_predict(module)(ids[:2], mask[:2]), expected, atol=1e-6)
    broken = tmp_path / "no-vocab"
    shutil.copytree(tiny_bilstm, broken)
    (broken / "vocab.json").unlink()
    with pytest.raises(
        ConfigError, match=r"no-vocab: a BiLSTM student folder needs its word vocabulary \(no vocab.json\)$"
    ):
        load_classifier(broken)


def test_export_cli_round_trip_and_int8_dynamic(tiny_bilstm, eval_csv, tmp_path, capsys):
    out = tmp_path / "onnx"
    assert (
        main(
            [
                "export",
                str(tiny_bilstm),
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
    assert "model.int8.onnx: agreement" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {
        "model.onnx",
        "model.int8.onnx",
        "verify.json",
        "config.json",
        "vocab.json",
    }
    rep = json.loads((out / "verify.json").read_text())
    assert rep["model_type"] == "distill-bilstm" and rep["inputs"] == ["input_ids", "attention_mask"]
    assert rep["notes"] == [
        "model.opt.onnx not written (model_type distill-bilstm): ORT's BERT optimiser fuses BERT "
        "attention, LayerNorm and GELU, which this model does not have"
    ]
    fp32, int8 = rep["graphs"]["model.onnx"], rep["graphs"]["model.int8.onnx"]
    assert (
        fp32["n"] == int8["n"] == len(TEXTS)
        and fp32["agreement"] == 1.0
        and fp32["max_abs_logit_diff"] < 1e-5
    )
    # INT8 really quantised (LSTM and Linear), and still agreeing on the 56 labelled texts.
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} <= {
        n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node
    }
    assert (
        int8["agreement"] >= 0.97
        and 0 < int8["max_abs_logit_diff"] < 0.5
        and abs(int8["accuracy_delta"]) <= 0.03
    )
    assert fp32["accuracy_reference"] == 1.0  # the fitted student; labels read through its id2label
    graph = onnx.load(str(out / "model.onnx"))
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    # ORT vs PyTorch (the student as students.load reads it), at batch sizes and lengths other than the
    # traced [2, 16], with padding; tokenised with the vocabulary the export folder carries.
    model, tok = students.load(tiny_bilstm)[0], WordTokenizer.from_pretrained(out)
    ref, pred = torch_predict(as_logits_module(model.eval())), ort_predict(ort_session(out / "model.onnx"))
    ids, mask = next(encode_batches(tok, TEXTS[:5], None, 32, 5))
    assert ids.shape[1] not in (2, 16) and mask.min() == 0
    long_ids = np.random.default_rng(0).integers(1, len(tok), (3, 23))
    fixed_width = (np.pad(ids, ((0, 0), (0, 7))), np.pad(mask, ((0, 0), (0, 7))))  # every row shorter than T
    for batch in ((ids, mask), (ids[:1], mask[:1]), (long_ids, np.ones_like(long_ids)), fixed_width):
        np.testing.assert_allclose(pred(*batch), ref(*batch), atol=1e-5)
    assert len({int(x) for x in ref(ids, mask).argmax(-1)}) == 2  # both classes: agreement is not trivial


def test_int8_variants_agree_on_a_fixed_input_set(tiny_bilstm, tmp_path):
    loaded = load_source(Source("s", path=str(tiny_bilstm)), tmp_path)
    batches = list(encode_batches(loaded.tokenizer, TEXTS, None, 32, 8))
    labels = [int(label_of(t) == "pos") for t in TEXTS]
    ref = build_variant(loaded, "torch-fp32", "cpu").predict
    q = build_variant(loaded, "torch-int8", "cpu")
    ort_q = build_variant(loaded, "ort-int8-dynamic", "cpu")
    for built in (q, ort_q):
        rep = verify(ref, built.predict, batches, labels)
        assert (
            rep["agreement"] >= 0.97
            and 0 < rep["max_abs_logit_diff"] < 0.5
            and abs(rep["accuracy_delta"]) <= 0.03
        )
    torch_q = quantize_dynamic_int8(loaded.module)
    assert not any(type(m) in (nn.LSTM, nn.Linear) for m in torch_q.modules())  # all dynamic INT8 modules
    assert q.size_bytes < build_variant(loaded, "torch-fp32", "cpu").size_bytes


def test_pair_bilstm_exports_token_type_ids(tiny_pair_bilstm, tmp_path, capsys):
    data = tmp_path / "pairs.csv"
    rows = [(a, b) for a, b in zip(TEXTS[:14], TEXTS[3:17], strict=True)]
    data.write_text("a,b,label\n" + "".join(f"{a},{b},{label_of(a)}\n" for a, b in rows), encoding="utf-8")
    out = tmp_path / "onnx"
    assert (
        main(
            [
                "export",
                str(tiny_pair_bilstm),
                "--out",
                str(out),
                "--verify-data",
                str(data),
                "--verify-text-column",
                "a",
                "--verify-text-pair-column",
                "b",
            ]
        )
        == 0
    )
    assert "model.onnx: agreement 100.00% on 14" in capsys.readouterr().out
    session = ort_session(out / "model.onnx")
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    model, tok = load_classifier(tiny_pair_bilstm)
    ids, mask, types = next(
        encode_batches(tok, [a for a, _ in rows[:3]], [b for _, b in rows[:3]], 32, 3, types=True)
    )
    assert types.max() == 1 and mask.min() == 0  # two sentences, padded
    ref, pred = torch_predict(as_logits_module(model)), ort_predict(session)
    np.testing.assert_allclose(pred(ids, mask, types), ref(ids, mask, types), atol=1e-5)
    swapped = next(encode_batches(tok, [b for _, b in rows[:3]], [a for a, _ in rows[:3]], 32, 3, types=True))
    # the graph reads which sentence is which
    assert np.abs(pred(*swapped) - pred(ids, mask, types)).max() > 1e-3


@pytest.mark.parametrize(
    ("int8", "reason"),
    [
        ("fused", "it quantises the graph of ORT's BERT optimiser, which does not apply to this model type"),
        ("u8u8", "it quantises the graph of ORT's BERT optimiser, which does not apply to this model type"),
        (
            "static",
            "its QDQ recipe quantises only MatMul/Gemm outside the classifier, and a BiLSTM has none (its LSTM would stay FP32)",
        ),
    ],
)
def test_export_refuses_bert_only_int8(tiny_bilstm, eval_csv, tmp_path, capsys, int8, reason):
    argv = [
        "export",
        str(tiny_bilstm),
        "--out",
        str(tmp_path / "o"),
        "--int8",
        int8,
        "--calibration-data",
        str(eval_csv),
    ]
    assert main(argv) == 2
    kind = {"fused": "ort-int8-fused", "u8u8": "ort-int8-u8u8", "static": "ort-int8-static"}[int8]
    assert capsys.readouterr().err == (
        f"error: {tiny_bilstm}: int8 {int8!r} (kind {kind}) does not apply to model_type distill-bilstm: {reason}; "
        "int8 for distill-bilstm: dynamic\n"
    )
    assert not (tmp_path / "o").exists()


def test_bench_skips_bert_only_kinds_for_the_bilstm_and_writes_every_field(
    tiny_bilstm, tiny_teacher, eval_csv, tmp_path
):
    kinds = ["torch-fp32", "torch-int8", "ort-fp32", "ort-opt", "ort-int8-dynamic", "ort-int8-fused"]
    rep = run_fast_bench(
        tmp_path, [("teacher", tiny_teacher, "teacher"), ("bilstm", tiny_bilstm, "student")], kinds, eval_csv
    )
    assert [v["name"] for v in rep["variants"]] == [f"teacher/{k}" for k in kinds] + [
        "bilstm/torch-fp32",
        "bilstm/torch-int8",
        "bilstm/ort-fp32",
        "bilstm/ort-int8-dynamic",
    ]
    fused = "it quantises the graph of ORT's BERT optimiser, which does not apply to this model type"
    assert rep["skipped"] == [
        {
            "name": "bilstm/ort-opt",
            "source": "bilstm",
            "kind": "ort-opt",
            "skipped": "does not apply to model_type "
            "distill-bilstm: ORT's BERT optimiser fuses BERT attention, LayerNorm and GELU, which this model does not have",
        },
        {
            "name": "bilstm/ort-int8-fused",
            "source": "bilstm",
            "kind": "ort-int8-fused",
            "skipped": f"does not apply to model_type distill-bilstm: {fused}",
        },
    ]
    for v in rep["variants"]:
        assert v["params"] > 0 and v["size_mb"] > 0
        assert 0 <= v["accuracy"] <= 1 and 0 <= v["f1"] <= 1 and 0 <= v["agreement_with_fp32"] <= 1
        assert v["accuracy_delta_vs_teacher"] is not None and v["accuracy_delta_vs_student"] is not None
        assert {(t["seq_len"], t["batch"]) for t in v["timings"]} == {(8, 1), (8, 4)}
        for t in v["timings"]:
            assert 0 < t["latency_ms"]["p50"] <= t["latency_ms"]["p90"] <= t["latency_ms"]["p99"]
            assert t["throughput_seq_s"] > 0 and t["reps"] >= 2 and t["warmup"] >= 1 and t["peak_rss_mib"] > 0
        assert all(s["vs_teacher"] > 0 and s["vs_student"] > 0 for s in v["speedup"])
    student = {v["kind"]: v for v in rep["variants"] if v["source"] == "bilstm"}
    assert student["torch-fp32"]["accuracy"] == 1.0 and student["torch-fp32"]["agreement_with_fp32"] == 1.0
    assert (
        student["ort-fp32"]["agreement_with_fp32"] == 1.0
        and student["ort-int8-dynamic"]["agreement_with_fp32"] >= 0.97
    )
    assert student["torch-int8"]["size_mb"] < student["torch-fp32"]["size_mb"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert (
        "Not measured (the kind does not apply to the source):" in md
        and "- `bilstm/ort-opt`: does not apply" in md
    )
    assert "`bilstm/ort-int8-dynamic`" in md


def test_bert_only_kinds_refused_by_name(tiny_bilstm, tmp_path):
    loaded = load_source(Source("s", path=str(tiny_bilstm)), tmp_path)
    with pytest.raises(ConfigError) as e:
        build_variant(loaded, "ort-opt", "cpu")
    assert str(e.value) == (
        "variant kind ort-opt does not apply to s (model_type distill-bilstm): ORT's BERT optimiser fuses BERT "
        f"attention, LayerNorm and GELU, which this model does not have; kinds for distill-bilstm: {BILSTM_KINDS}"
    )
    with pytest.raises(
        ConfigError
    ) as e:  # a source left with no kind at all: refused before anything is timed
        run_benchmark([Source("s", path=str(tiny_bilstm))], ["ort-opt", "ort-int8-u8u8"], FAST)
    assert str(e.value) == (
        "source 's' (model_type distill-bilstm): none of kinds ['ort-opt', 'ort-int8-u8u8'] apply to it; "
        f"kinds for distill-bilstm: {BILSTM_KINDS}"
    )


def test_compress_refuses_a_bilstm(tiny_bilstm, tmp_path, capsys):
    assert main(["compress", str(tiny_bilstm), "--out", str(tmp_path / "p"), "--prune-heads", "0.5"]) == 2
    assert capsys.readouterr().err == (
        f"error: {tiny_bilstm}: model_type distill-bilstm: distill compress (pruning) does not apply: a BiLSTM "
        "has no heads or FFN to prune; export and benchmark it with distill export / distill bench\n"
    )
    assert not (tmp_path / "p").exists()

"""A sentence-pair BERT student through run -> export -> verify -> bench: every step feeds the model the
inputs its tokenizer produces (token_type_ids marking the second sentence), so the deployed graph is
the model that was trained and evaluated, and every accuracy equals metrics.json's."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill.cli import main
from distill.config import load_teacher_config
from distill.data.dataset import load_splits
from tests.conftest import TINY_TEACHER_YAML, WORDS, toy_rows, write_csv
from tests.distill.test_run import STUDENT

MAX_LEN = 16  # short enough that some pairs are cut: the bench must cut them where the run did


def pair_rows(n: int) -> list[tuple[str, str, str]]:
    """(premise, hypothesis, label): the toy sentiment sentence (conftest.toy_rows), then filler words."""
    rng = random.Random(1)
    filler = WORDS[12:]
    return [(text, " ".join(rng.sample(filler, rng.randint(3, 8))), label) for text, label in toy_rows(n)]


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory) -> dict:
    from tests.conftest import save_tiny_encoder

    tmp = tmp_path_factory.mktemp("pair")
    encoder = save_tiny_encoder(tmp / "encoder")
    data = write_csv(tmp / "pairs.csv", pair_rows(64), ("premise", "hypothesis", "label"))
    teacher = tmp / "teacher.yaml"
    text = textwrap.dedent(
        TINY_TEACHER_YAML.format(name="pair-teacher", model=encoder, data=data, cache=tmp / "cache")
    )
    teacher.write_text(
        text.replace("max_length: 16", f"max_length: {MAX_LEN}").replace(
            "  split:", "  text_column: premise\n  text_pair_column: hypothesis\n  split:"
        )
    )
    # The dev split as `distill run` carves it, written out for `distill export --verify-data`.
    splits = load_splits(load_teacher_config(teacher).data)
    dev = write_csv(
        tmp / "dev.csv",
        [
            (a, b, splits.label_names[y])
            for a, b, y in zip(splits.dev.texts, splits.dev.pairs, splits.dev.labels, strict=True)
        ],
        ("premise", "hypothesis", "label"),
    )
    student = tmp / "student.yaml"
    # More prediction epochs than test_run's: a student that learned something, so accuracies can differ.
    student.write_text(
        textwrap.dedent(STUDENT.format(width=16, heads=2, ffn=32, init="pca")).replace(
            "epochs: 3\n    lr: 1.0e-3\n    objectives:\n      pred",
            "epochs: 12\n    lr: 3.0e-3\n    objectives:\n      pred",
        )
    )
    out = tmp / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["student"]["dev"]["accuracy"] > metrics["data"]["majority_dev_accuracy"]
    return {"tmp": tmp, "teacher": teacher, "student": out, "metrics": metrics, "dev": dev}


def _hf_logits(model_dir: Path, premises: list[str], hypotheses: list[str]) -> np.ndarray:
    """The model as `distill run` evaluated it: the tokenizer's full encoding of both sentences."""
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    enc = tok(premises, hypotheses, truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits.numpy()


def test_pair_student_exports_verifies_and_benches_as_it_was_evaluated(pair_run, capsys):
    from distill.compress.export import ort_session

    tmp, student, metrics = pair_run["tmp"], pair_run["student"], pair_run["metrics"]
    onnx_dir = tmp / "onnx"
    assert (
        main(
            [
                "export",
                str(student),
                "--out",
                str(onnx_dir),
                "--int8",
                "cls",
                "--verify-data",
                str(pair_run["dev"]),
                "--verify-text-column",
                "premise",
                "--verify-text-pair-column",
                "hypothesis",
                # this tiny student's two logits differ by ~1e-3, and INT8 flips such near-ties by the
                # CPU's kernels (4 of 16 on AVX2, none on AVX-512 VNNI); FP32 graphs are checked below
                "--min-agreement-int8",
                "0.5",
            ]
        )
        == 0
    )
    tok = AutoTokenizer.from_pretrained(student)
    for name in ("model.onnx", "model.opt.onnx", "model.cls.onnx", "model.int8.onnx"):
        inputs = {i.name for i in onnx.load(str(onnx_dir / name)).graph.input}
        assert inputs == set(tok.model_input_names) == {"input_ids", "attention_mask", "token_type_ids"}, name

    # The graph gives the logits the trained model gives on real pairs (both sentences, token types 0/1).
    rows = [r.split(",") for r in pair_run["dev"].read_text().splitlines()[1:]]
    premises, hypotheses = [r[0] for r in rows], [r[1] for r in rows]
    ref = _hf_logits(student, premises, hypotheses)
    enc = tok(premises, hypotheses, truncation=True, max_length=MAX_LEN, padding=True, return_tensors="np")
    assert enc["token_type_ids"].max() == 1
    for name in ("model.onnx", "model.opt.onnx", "model.cls.onnx"):
        sess = ort_session(onnx_dir / name)
        got = sess.run(["logits"], {k: enc[k].astype(np.int64) for k in tok.model_input_names})[0]
        np.testing.assert_allclose(got, ref, atol=1e-4, err_msg=name)

    # verify.json: checked at the run's max_length (from the folder's config.resolved.yaml) on the dev
    # pairs, so its reference accuracy is the run's dev accuracy.
    report = json.loads((onnx_dir / "verify.json").read_text())
    assert (
        report["inputs"] == ["input_ids", "attention_mask", "token_type_ids"] and report["max_len"] == MAX_LEN
    )
    dev_acc = metrics["student"]["dev"]["accuracy"]
    for name in ("model.onnx", "model.opt.onnx", "model.cls.onnx"):
        g = report["graphs"][name]
        assert g["n"] == 16 and g["agreement"] == 1.0 and g["max_abs_logit_diff"] < 1e-4
        assert g["accuracy_reference"] == pytest.approx(dev_acc) and g["accuracy_candidate"] == pytest.approx(
            dev_acc
        )

    # bench on the run's dev split: every FP32 kind's accuracy is metrics.json's.
    capsys.readouterr()
    bench = tmp / "bench"
    assert (
        main(
            [
                "bench",
                "--model",
                str(student),
                "--eval-teacher",
                str(pair_run["teacher"]),
                "--eval-split",
                "dev",
                "--kinds",
                "torch-fp32",
                "torch-fp32-cls",
                "ort-fp32",
                "ort-opt",
                "ort-int8-cls",
                "--batch-sizes",
                "1",
                "--seq-lens",
                "8",
                "--warmup",
                "1",
                "--reps",
                "2",
                "--max-seconds",
                "0.2",
                "--out",
                str(bench),
            ]
        )
        == 0
    )
    variants = {v["kind"]: v for v in json.loads((bench / "report.json").read_text())["variants"]}
    for kind in ("torch-fp32", "torch-fp32-cls", "ort-fp32", "ort-opt"):
        assert variants[kind]["accuracy"] == pytest.approx(dev_acc), kind
        assert variants[kind]["agreement_with_fp32"] == 1.0, kind
    assert variants["ort-int8-cls"]["accuracy"] is not None


def test_pair_student_verified_on_single_texts_is_refused(pair_run):
    """Verifying a pair model on single texts would compare it on inputs it never saw: refused."""
    from distill.compress.export import export_onnx
    from distill.core.errors import ConfigError

    never = pair_run["tmp"] / "never"
    with pytest.raises(ConfigError) as e:
        export_onnx(pair_run["student"], never, verify_texts=["the flight was great"])
    assert str(e.value) == (
        f"{pair_run['student']}: trained on sentence pairs (config.resolved.yaml: teacher.data.text_pair_column "
        "'hypothesis'): verify it on pairs (--verify-text-pair-column) or on the built-in pairs (no --verify-data)"
    )
    assert not never.exists()

"""End to end through the CLI, for every encoder family: a bare encoder as the teacher (fine-tuned,
cached), distilled into both student families (between them every objective), saved (loads with ``from_pretrained``), exported to
ONNX and verified against PyTorch."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from distill.cli import main
from distill.models.adapters import adapter_for
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv
from tests.family_helpers import CONFIGS, save_encoder

TINYBERT = """
name: tinybert-student
architecture: {family: tinybert, num_layers: 2, hidden_size: 16, num_heads: 4, intermediate_size: 32}
init: teacher
layer_map: uniform
batch_size: 8
stages:
  - {name: intermediate, epochs: 2, lr: 1.0e-3, eval: false, objectives: {emb: {}, hidden: {}, attn: {}}}
  - {name: prediction, epochs: 2, lr: 1.0e-3, objectives: {pred: {temperature: 1.0}, ce: {weight: 0.5}}}
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
"""

DISTILBERT = """
name: distilbert-student
architecture: {family: distilbert, num_layers: 2}
init: teacher
layer_map: uniform
batch_size: 8
stages:
  - name: all
    epochs: 2
    lr: 1.0e-3
    objectives:
      {emb: {}, hidden: {}, hidden_cos: {}, attn: {}, relation: {}, pred: {}, kd_kl: {}, logit_mse: {}, ce: {weight: 0.5}}
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
"""


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("data") / "toy.csv", toy_rows(64))


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_family_teacher_distilled_into_both_students_and_exported(family, toy_csv, tmp_path, capsys):
    encoder = save_encoder(family, tmp_path / family)
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(name=family, model=encoder, data=toy_csv, cache=tmp_path / "c")
        ).replace("epochs: 12, batch_size: 8, lr: 2.0e-3", "epochs: 20, batch_size: 8, lr: 5.0e-3")
    )
    for name, text in (("tinybert", TINYBERT), ("distilbert", DISTILBERT)):
        student, out = tmp_path / f"{name}.yaml", tmp_path / name
        student.write_text(text)
        assert main(["validate", str(teacher), str(student)]) == 0, capsys.readouterr().err
        assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0, (
            capsys.readouterr().err
        )
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["layer_map"] == [2, 4]
        assert metrics["teacher"]["dev"]["accuracy"] > metrics["data"]["majority_dev_accuracy"]
        model = AutoModelForSequenceClassification.from_pretrained(out).eval()
        # TinyBERT students are BERTs reading the teacher's tokens; DistilBERT-style ones the teacher's class
        want = "bert" if name == "tinybert" else CONFIGS[family]().model_type
        assert model.config.model_type == want
        tok = AutoTokenizer.from_pretrained(out)
        enc = tok(["the flight was late", "great crew"], padding=True, return_tensors="pt")
        if not adapter_for(want).token_types:
            enc.pop("token_type_ids", None)
        with torch.no_grad():
            assert model(**enc).logits.shape == (2, 2)
        assert (
            main(
                [
                    "export",
                    str(out),
                    "--out",
                    str(tmp_path / f"{name}-onnx"),
                    "--int8",
                    "dynamic",
                    "--min-agreement-int8",
                    "0.5",
                ]
            )
            == 0
        ), capsys.readouterr().err
        # near-tied tiny students: INT8 flips some argmaxes at tiny |Δlogit|; the FP32 graph is held to 99%
        assert (tmp_path / f"{name}-onnx" / "model.int8.onnx").is_file()
    assert metrics["teacher"]["finetune_seconds"] is None  # the second run found the fine-tuned teacher

    # The fine-tuned *ForSequenceClassification itself as a teacher: used as it is, never fine-tuned.
    (ready,) = [p.parent for p in (tmp_path / "c").glob("*/config.json")]
    again = tmp_path / "ready.yaml"
    again.write_text(teacher.read_text().replace(str(encoder), str(ready)))
    student, out = tmp_path / "distilbert.yaml", tmp_path / "from-ready"
    assert main(["validate", str(again), str(student)]) == 0, capsys.readouterr().err
    assert main(["run", str(again), str(student), "--output-dir", str(out)]) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["teacher"]["finetune_seconds"] is None
    assert metrics["teacher"]["dev"]["accuracy"] > metrics["data"]["majority_dev_accuracy"]


GENERAL_STUDENT = """
name: gen
architecture: ARCH
init: teacher
batch_size: 8
stages:
  - {name: prediction, epochs: 1, lr: 1.0e-3, objectives: {pred: {}}}
"""


@pytest.mark.parametrize("family", sorted(CONFIGS))
@pytest.mark.parametrize(
    "arch",
    [
        "{family: tinybert, num_layers: 2, hidden_size: 16, num_heads: 4, intermediate_size: 32}",
        "{family: distilbert, num_layers: 2}",
    ],
    ids=["tinybert", "distilbert"],
)
def test_general_distillation_from_every_family(family, arch, tmp_path, caplog):
    """`distill general` on a bare encoder of each family, into both student families."""
    from distill.distillation.general import general_distill

    encoder = save_encoder(family, tmp_path / family)
    corpus = tmp_path / "texts.txt"
    corpus.write_text("".join(t + "\n" for t, _ in toy_rows(48, seed=1)))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(f"name: t\nmodel: {encoder}\nmax_length: 16\ndata: {{source: unused.csv}}\n")
    student = tmp_path / "student.yaml"
    student.write_text(GENERAL_STUDENT.replace("ARCH", arch))
    with caplog.at_level("INFO", logger="distill"):
        general_distill(teacher, student, corpus, tmp_path / "g", epochs=3, lr=3e-3, batch_size=8)
    r = json.loads((tmp_path / "g" / "general.json").read_text())
    assert r["steps"] == 18
    if "tinybert" in arch:  # from random layers: emb + hidden + attn go down
        assert r["probe_loss_after"] < r["probe_loss_before"], r
    else:  # copied from the teacher's layers 2 and 4: the teacher's own family, saved as such
        assert re.search(
            r"general: student init: embeddings \(copied\); (layers 1<-2 2<-4|shared block \(1\)) \(copied\)",
            caplog.text,
        )
        assert AutoConfig.from_pretrained(tmp_path / "g").model_type == CONFIGS[family]().model_type


DEFAULT_PIPELINES = ("deberta-v2", "modernbert")
# Tiny random teachers that need another schedule to beat the majority class on the pipeline's split
PIPELINE_FINETUNE = {
    "albert": "epochs: 30, batch_size: 8, lr: 3.0e-3",
    "ernie": "epochs: 30, batch_size: 8, lr: 3.0e-3",
}  # the two least BERT-like; the rest run as slow


@pytest.mark.parametrize(
    "family",
    [f if f in DEFAULT_PIPELINES else pytest.param(f, marks=pytest.mark.slow) for f in sorted(CONFIGS)],
)
def test_pipeline_from_every_family(family, tmp_path, capsys):
    """The full pipeline (data, teacher, augment, general, distill, compress, export, bench) with a bare
    encoder of the family as the teacher; the teacher is benchmarked beside the student."""
    from tests.test_pipeline import FULL_STEPS, write_recipe

    recipe = write_recipe(tmp_path, save_encoder(family, tmp_path / family), FULL_STEPS)
    teacher = tmp_path / "cfg" / "teacher.yaml"
    teacher.write_text(
        teacher.read_text().replace(
            "epochs: 12, batch_size: 8, lr: 2.0e-3",
            PIPELINE_FINETUNE.get(family, "epochs: 20, batch_size: 8, lr: 5.0e-3"),
        )
    )
    assert main(["pipeline", str(recipe)]) == 0, capsys.readouterr().err
    (bench,) = (tmp_path / "out").glob("bench-*/report/report.json")
    rep = json.loads(bench.read_text())
    assert {v["name"] for v in rep["variants"]} >= {
        "teacher/torch-fp32",
        "teacher/ort-fp32",
        "distill/ort-fp32",
        "compress/ort-fp32",
    }

"""`distill run` end to end through the CLI on a tiny teacher and ~64 examples."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv

STUDENT = """
name: tiny-student
architecture: {{num_layers: 2, hidden_size: {width}, num_heads: {heads}, intermediate_size: {ffn}}}
init: {init}
batch_size: 8
speed: {{latency_runs: 5, latency_warmup: 1, throughput_batches: 2, throughput_batch_size: 8}}
stages:
  - name: intermediate
    epochs: 3
    lr: 1.0e-3
    eval: false
    objectives:
      emb: {{weight: 1.0}}
      hidden: {{weight: 1.0}}
      attn: {{weight: 1.0}}
  - name: prediction
    epochs: 3
    lr: 1.0e-3
    objectives:
      pred: {{weight: 1.0, temperature: 2.0}}
      ce: {{weight: 0.5}}
"""

METRIC_FIELDS = {"dev", "test", "params", "weights_mb", "latency_ms_b1", "throughput_b32", "threads"}


def configs(
    tmp_path: Path, model: Path, width: int = 16, heads: int = 2, ffn: int = 32, init: str = "teacher"
) -> tuple[Path, Path]:
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(name="tiny-teacher", model=model, data=data, cache=tmp_path / "cache")
        )
    )
    student = tmp_path / "student.yaml"
    student.write_text(textwrap.dedent(STUDENT.format(width=width, heads=heads, ffn=ffn, init=init)))
    return teacher, student


def test_run_end_to_end_narrow_student(tmp_path, tiny_encoder_dir, capsys):
    # 32-wide, 4 heads -> 16-wide, 2 heads; PCA embeddings and random layers, so the losses go down
    teacher, student = configs(tmp_path, tiny_encoder_dir, init="pca")
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dev accuracy" in printed and "throughput b=32" in printed

    m = json.loads((out / "metrics.json").read_text())
    assert set(m["teacher"]) >= METRIC_FIELDS and set(m["student"]) >= METRIC_FIELDS
    assert {"disk_mb", "accuracy_vs_teacher", "speedup_b32", "speedup_b1"} <= set(m["student"])
    assert {"accuracy", "f1"} == set(m["student"]["test"])
    assert m["layer_map"] == [2, 4] and [s["name"] for s in m["stages"]] == ["intermediate", "prediction"]
    assert all(s["loss_last"] < s["loss_first"] for s in m["stages"])  # the loss went down
    assert m["teacher"]["dev"]["accuracy"] > m["data"]["majority_dev_accuracy"]
    assert m["teacher"]["finetune_seconds"] > 0 and m["teacher"]["cached"] is False
    assert m["student"]["params"] < m["teacher"]["params"]
    from distill.core.cpu import cpu_flags, matrix_engines  # the CPU class the speeds were measured on

    assert m["machine"]["cpu_flags"] == cpu_flags()
    assert m["machine"]["matrix_engines"] == matrix_engines(cpu_flags())
    # 24 steps at lr 1e-3 leave this narrow student at the majority rate: the run says so before
    # training (the step budget) and after it (and exits 0)
    assert m["student"]["dev"]["accuracy"] <= m["data"]["majority_dev_accuracy"]
    assert len(m["warnings"]) == 2 and "layers start random (init: pca)" in m["warnings"][0]
    assert "is not above the majority-class rate" in m["warnings"][1]

    # The student loads without this library and gives the accuracy the run reported.
    model = AutoModelForSequenceClassification.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 16
    assert model.config.id2label == {0: "negative", 1: "positive"}
    enc = tok(["the flight was great", "the flight was awful"], return_tensors="pt", padding=True)
    assert model(**enc).logits.shape == (2, 2)
    assert (out / "config.resolved.yaml").is_file() and (out / "run.log").is_file()
    assert (out / "checkpoints" / "1-prediction" / "objectives.pt").is_file()
    # the learned projections, keyed by the YAML names of the stage's objectives
    assert set(torch.load(out / "checkpoints" / "0-intermediate" / "objectives.pt")) == {
        "emb",
        "hidden",
        "attn",
    }
    assert not (out / "objectives.pt").exists()  # projections are not part of the exported student


def test_second_run_reuses_cached_teacher_and_same_width_copy_init(tmp_path, tiny_encoder_dir):
    teacher, student = configs(tmp_path, tiny_encoder_dir, width=32, heads=4, ffn=64)
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "a")]) == 0
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert b["teacher"]["cached"] is True and b["teacher"]["finetune_seconds"] is None
    assert a["teacher"]["dev"] == b["teacher"]["dev"]
    assert b["student"]["dev"] == a["student"]["dev"]  # same seed, same result
    # copied layers start near the teacher's; the intermediate loss still goes down
    assert a["stages"][0]["loss_last"] < a["stages"][0]["loss_first"]
    assert "layers 1<-2 2<-4 (copied)" in (tmp_path / "a" / "run.log").read_text()


def test_teacher_with_other_label_names_needs_label_map(tmp_path, tiny_classifier_dir, capsys):
    teacher, student = configs(tmp_path, tiny_classifier_dir)  # the classifier's labels are pos/neg
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert (
        "the teacher's labels ['pos', 'neg'] do not match the data's labels ['negative', 'positive']" in err
    )
    assert "add `label_map:`" in err


def untrained_teacher_configs(tmp_path, classifier_dir):
    """A classifier whose head is all zeros gives equal logits, so it always answers label 0: it can
    only match the majority-class rate, never beat it."""
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
    model.save_pretrained(classifier_dir)
    teacher, student = configs(tmp_path, classifier_dir)
    teacher.write_text(teacher.read_text() + "label_map: {pos: positive, neg: negative}\n")
    return teacher, student


def test_untrained_teacher_is_refused(tmp_path, tiny_classifier_dir, capsys):
    teacher, student = untrained_teacher_configs(tmp_path, tiny_classifier_dir)
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "the teacher's dev accuracy 50.0% is not above the majority-class rate 50.0%" in err
    assert not (tmp_path / "r").exists()  # the folder this run made is gone: no partial output


def test_user_error_keeps_a_folder_the_user_made(tmp_path, tiny_classifier_dir, capsys):
    teacher, student = untrained_teacher_configs(tmp_path, tiny_classifier_dir)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "r")]) == 2
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"  # a folder the user made is never removed


@pytest.mark.parametrize("bad", ["student", "data"])
def test_bad_input_fails_before_training_with_one_line(tmp_path, tiny_encoder_dir, capsys, bad):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    if bad == "student":
        student.write_text(student.read_text().replace("ce: {weight: 0.5}", "ce: {weight: -1}"))
    else:
        (tmp_path / "toy.csv").write_text("sentence,label\nx,positive\n")
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "r" / "config.json").exists()


def test_label_map_reorders_the_classifier_rows(tiny_classifier_dir):
    from distill.config import TeacherConfig
    from distill.train.teacher import _align_labels

    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir).eval()  # labels: pos, neg
    ids = torch.randint(5, 30, (3, 6))
    before = model(input_ids=ids).logits
    cfg = TeacherConfig(
        name="t", model="x", data={"source": "x.csv"}, label_map={"pos": "positive", "neg": "negative"}
    )
    _align_labels(model, cfg, ["negative", "positive"], "teacher.yaml")
    after = model(input_ids=ids).logits
    torch.testing.assert_close(after, before[:, [1, 0]])  # id 0 now means negative
    assert model.config.id2label == {0: "negative", 1: "positive"}


def test_teacher_finetuning_is_reproducible(tmp_path, tiny_encoder_dir):
    """Same seed, same data: two fine-tunings (separate caches) give identical teachers."""
    from distill.config import load_teacher_config
    from distill.data.dataset import load_splits
    from distill.train.teacher import load_teacher

    teacher, _ = configs(tmp_path, tiny_encoder_dir)
    cfg = load_teacher_config(teacher)
    splits = load_splits(cfg.data)
    heads = []
    for cache in ("c1", "c2"):
        cfg.cache_dir = str(tmp_path / cache)
        heads.append(load_teacher(cfg, splits, torch.device("cpu")).model.classifier.weight.detach())
    torch.testing.assert_close(heads[0], heads[1], rtol=0, atol=0)

"""`distill run` with an MPNet teacher folder (a bare, tiny, random MPNetModel: fine-tuned first)
and a narrower TinyBERT student through every TinyBERT objective, via the CLI."""

from __future__ import annotations

import json
import textwrap

import torch
from transformers import BertForSequenceClassification, MPNetTokenizer

import students
from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv
from tests.mpnet_helpers import save_tiny_mpnet

STUDENT = """
name: tiny-from-mpnet
architecture: {family: tinybert, num_layers: 2, hidden_size: 16, num_heads: 4, intermediate_size: 32}
init: INIT
layer_map: uniform
batch_size: 8
teacher_cache: {mode: all, dir: CACHE}
stages:
  - {name: intermediate, epochs: 3, lr: 1.0e-3, eval: false, objectives: {emb: {}, hidden: {}, attn: {}}}
  - {name: prediction, epochs: 3, lr: 1.0e-3, objectives: {pred: {temperature: 1.0}, ce: {weight: 0.5}}}
speed: {latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
"""


def _yamls(tmp_path, init: str):
    encoder = save_tiny_mpnet(tmp_path / "mpnet", num_hidden_layers=4)  # as 12 -> 4: uniform map [2, 4]
    teacher = tmp_path / "teacher.yaml"
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher.write_text(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(name="mpnet", model=encoder, data=data, cache=tmp_path / "cache")
        )
    )
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.replace("CACHE", str(tmp_path / "tc")).replace("INIT", init))
    return teacher, student


def test_init_teacher_cuts_the_student_out_of_the_mpnet_teacher_without_its_relative_bias(tmp_path):
    teacher, student = _yamls(tmp_path, "teacher")
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "out")]) == 0
    log = (tmp_path / "out" / "run.log").read_text()
    assert (
        "student tinybert init: pruned from the teacher by activation importance over 32 texts: 16/32 channels, "
        "4/4 heads x 4/8 dims, FFN 32/64, layers 1<-2 2<-4; channel importance kept " in log
    )
    assert (
        "not carried over from MPNet: the relative-position bias (a BERT student has absolute positions only)"
        in log
    )


def test_mpnet_teacher_fine_tuned_then_distilled_into_tinybert(tmp_path, capsys):
    # PCA embeddings and random layers: the losses go down from a random start
    teacher, student = _yamls(tmp_path, "pca")

    assert main(["validate", str(teacher), str(student)]) == 0
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "out")]) == 0
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["layer_map"] == [2, 4] and m["teacher"]["finetune_seconds"] is not None
    # else the run would have stopped
    assert m["teacher"]["dev"]["accuracy"] > m["data"]["majority_dev_accuracy"]
    assert [s["teacher_cache"] for s in m["stages"]] == ["miss", "miss"]  # MPNet scores and logits cached
    assert all(s["loss_last"] < s["loss_first"] for s in m["stages"])
    log = (tmp_path / "out" / "run.log").read_text()
    assert "student tinybert init: embeddings (PCA 32->16)" in log
    assert "stage intermediate: emb x 1.0, hidden x 1.0, attn x 1.0" in log

    model, tok = students.load(tmp_path / "out")  # a BERT that reads MPNet's token ids
    assert isinstance(model, BertForSequenceClassification) and isinstance(tok, MPNetTokenizer)
    assert model.config.vocab_size == 5 + 31 and model.config.pad_token_id == 1
    enc = tok(["the flight was late", "great crew"], padding=True, return_tensors="pt")
    assert "token_type_ids" not in enc
    with torch.no_grad():
        assert model(**enc).logits.shape == (2, 2)

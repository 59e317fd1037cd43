"""The training loop draws the same batches in the same order, and computes the same losses, as
the code before the loops were unified (teacher fine-tuning, task distillation, general distillation).

The golden values below were RECORDED FROM THE OLD CODE (commit 365e04a, before `distill.train.batches`
and the one `fit` existed, with two loops in distiller.fit_stage and general._general), by running
this file with ``GOLDEN_PRINT=1``. Each micro-batch the loop feeds the student is fingerprinted by
integers only (rows, width, sum of token ids: machine-independent), and its loss is compared with a
tolerance (float rounding may differ across CPUs, a different batch order would not be that close).

They were recorded when the tests' tiny tokenizer read none of its words (transformers 5 ignores
``vocab_file=``): every word was ``[UNK]``. The goldens still pin the loop against that old code, so
these two tests keep that tokenizer, on purpose (:func:`unk_encoder_dir`); every other test's
tokenizer now knows its words.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap

import pytest
import torch
from transformers import BertModel, BertTokenizerFast

from distill.cli import main
from distill.train.trainable import Trainable
from tests.conftest import TINY_TEACHER_YAML, tiny_config, toy_rows, write_csv

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture
def unk_encoder_dir(tmp_path):
    """The tiny encoder (conftest.save_tiny_encoder's weights) with the tokenizer the goldens were
    recorded with: the five special tokens only, so every word is [UNK]."""
    folder = tmp_path / "unk-encoder"
    torch.manual_seed(0)
    BertModel(tiny_config()).save_pretrained(folder)
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(SPECIALS)}, do_lower_case=True)
    assert tokenizer.tokenize("good flight") == ["[UNK]", "[UNK]"]
    tokenizer.save_pretrained(folder)
    return folder


STUDENT = """
name: golden
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: pca  # the loop, not the init: golden values measured with PCA embeddings
batch_size: 8
train: {grad_accum_steps: ACCUM}
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: intermediate, epochs: 1.5, lr: 1.0e-3, eval: false, objectives: {emb: {}, hidden: {}, attn: {}}}
  - {name: prediction, epochs: 2, lr: 1.0e-2, objectives: {pred: {temperature: 2.0}, ce: {weight: 0.5}}}
"""


@pytest.fixture
def recorded(monkeypatch) -> list[tuple[int, int, int, float]]:
    """(rows, width, sum of input ids, loss) of every micro-batch the student trains on."""
    seen = []
    forward = Trainable.forward

    def record(self, batch, teacher, shares):
        loss, parts = forward(self, batch, teacher, shares)
        ids = batch["input_ids"]  # (batch, seq)
        seen.append((ids.shape[0], ids.shape[1], int(ids.sum()), loss.item()))
        return loss, parts

    monkeypatch.setattr(Trainable, "forward", record)
    return seen


def check(name: str, seen: list, golden: dict) -> None:
    batches = [s[:3] for s in seen]
    digest = hashlib.sha256(json.dumps(batches).encode()).hexdigest()[:16]
    losses = [s[3] for s in seen]
    if os.environ.get("GOLDEN_PRINT"):
        print(
            f"\n{name}: n={len(seen)} batches={digest} first={batches[:4]}\nlosses={[float(f'{x:.6g}') for x in losses]}"
        )
    assert (len(seen), digest, batches[:4]) == (golden["n"], golden["batches"], golden["first"])
    assert losses == pytest.approx(golden["losses"], rel=1e-4, abs=1e-6)


GOLDEN_RUN: dict = {
    "n": 62,
    "batches": "e68d7de2b8ca0f6f",
    "first": [(8, 5, 64), (8, 9, 91), (8, 7, 71), (8, 8, 81)],
    "losses": [
        0.695525,
        0.716098,
        0.690306,
        0.691753,
        0.691679,
        0.695582,
        0.688509,
        0.700023,
        0.689995,
        0.689755,
        0.693265,
        0.702397,
        0.684829,
        0.693339,
        0.707593,
        0.68906,
        0.700695,
        0.687048,
        0.696015,
        0.690625,
        0.697456,
        0.693224,
        0.693092,
        0.690884,
        0.691992,
        0.695755,
        0.691359,
        0.693273,
        0.694064,
        0.693579,
        0.693053,
        0.69207,
        0.692374,
        0.692924,
        0.693176,
        0.692682,
        0.693574,
        0.691463,
        0.693404,
        0.692342,
        0.692337,
        0.693246,
        0.691659,
        0.691679,
        0.693251,
        0.690224,
        0.690997,
        0.693173,
        4.21555,
        4.08242,
        3.94201,
        3.89172,
        3.83479,
        3.81588,
        1.04007,
        1.03996,
        1.04711,
        1.0364,
        1.03655,
        1.04328,
        1.03867,
        1.03965,
    ],  # 48 micro-batches of teacher fine-tuning, 6 (3 steps) of `intermediate`, 8 (4 steps) of `prediction`
    "stages": [(3, None), (4, 0.5)],  # (steps, best dev accuracy) per stage
    "stage_losses": [4.14898157119751, 3.825332283973694, 1.040014386177063, 1.0391574501991272],
    "student_dev": {"accuracy": 0.5, "f1": 0.3333333333333333},
    "teacher_dev": {"accuracy": 0.8125, "f1": 0.8056680161943319},
}
GOLDEN_GENERAL: dict = {
    "n": 21,
    "batches": "447d173aca18502b",
    "first": [(7, 9, 79), (7, 8, 67), (7, 7, 62), (7, 9, 77)],
    "losses": [
        3.29002,
        3.12101,
        2.79868,
        2.60394,
        2.4316,
        2.18516,
        2.14332,
        1.97203,
        1.97403,
        1.81803,
        1.76151,
        1.72883,
        1.7215,
        1.63687,
        1.54003,
        1.56794,
        1.50019,
        1.53678,
        1.51164,
        1.4926,
        1.42082,
    ],
    "steps": 21,
    "probe": (3.217806100845337, 1.3429229259490967),
}


def test_distill_run_batches_and_losses_are_unchanged(tmp_path, unk_encoder_dir, recorded):
    """Teacher fine-tuning (a `ce` stage without a teacher), then two stages, one with gradient
    accumulation and a fractional epoch count."""
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(name="t", model=unk_encoder_dir, data=data, cache=tmp_path / "cache")
        )
    )
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.replace("ACCUM", "2"))
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "run")]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    stages = [(s["steps"], s["best_dev_accuracy"]) for s in m["stages"]]
    stage_losses = [x for s in m["stages"] for x in (s["loss_first"], s["loss_last"])]
    if os.environ.get("GOLDEN_PRINT"):
        print(
            f"\nstages={stages} {stage_losses} student_dev={m['student']['dev']} teacher_dev={m['teacher']['dev']}"
        )
    check("run", recorded, GOLDEN_RUN)
    assert stages == GOLDEN_RUN["stages"]
    assert stage_losses == pytest.approx(GOLDEN_RUN["stage_losses"], rel=1e-4)
    assert m["student"]["dev"] == pytest.approx(GOLDEN_RUN["student_dev"]) and m["teacher"][
        "dev"
    ] == pytest.approx(GOLDEN_RUN["teacher_dev"])


def test_general_distillation_batches_and_losses_are_unchanged(tmp_path, unk_encoder_dir, recorded):
    """Chunks of 14 texts (the last one shorter), 1.5 epochs: a partial epoch ending mid-corpus."""
    from distill.distillation.general import general_distill

    corpus = tmp_path / "texts.txt"
    corpus.write_text("".join(t + "\n" for t, _ in toy_rows(96, seed=1)))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(f"name: t\nmodel: {unk_encoder_dir}\nmax_length: 16\ndata: {{source: unused.csv}}\n")
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.replace("ACCUM", "1"))
    r = general_distill(
        teacher, student, corpus, tmp_path / "g", epochs=1.5, lr=3e-3, batch_size=7, chunk_batches=2
    )
    if os.environ.get("GOLDEN_PRINT"):
        print(f"\ngeneral: steps={r['steps']} before={r['probe_loss_before']} after={r['probe_loss_after']}")
    check("general", recorded, GOLDEN_GENERAL)
    assert r["steps"] == GOLDEN_GENERAL["steps"]
    assert (r["probe_loss_before"], r["probe_loss_after"]) == pytest.approx(GOLDEN_GENERAL["probe"], rel=1e-4)

"""General distillation (TinyBERT stage 1) on a small unlabeled corpus, then task distillation from it."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from distill.cli import main
from distill.distillation.general import iter_chunks
from tests.conftest import toy_rows, write_csv

STUDENT = """
name: gen
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: INIT
batch_size: 8
speed: {latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: prediction, epochs: 1, lr: 1.0e-3, objectives: {pred: {}, ce: {weight: 0.5}}}
"""


def test_general_lowers_intermediate_loss_and_is_a_task_init(tmp_path, tiny_encoder_dir, capsys):
    corpus = tmp_path / "texts.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in toy_rows(96, seed=1)) + "\n")
    # streamed in chunks, blank lines skipped
    assert [len(c) for c in iter_chunks(corpus, 40)] == [
        40,
        40,
        16,
    ]
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(f"""
        name: t
        model: {tiny_encoder_dir}
        max_length: 16
        data: {{source: {data}, split: {{dev: 0.25, test: 0.25}}}}
        finetune: {{epochs: 12, batch_size: 8, lr: 2.0e-3, warmup_ratio: 0.0}}
        cache_dir: {tmp_path / "cache"}
    """)
    )
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.replace("INIT", "random"))
    general = tmp_path / "general"
    assert (
        main(
            [
                "general",
                str(teacher),
                str(student),
                "--corpus",
                str(corpus),
                "--output-dir",
                str(general),
                "--epochs",
                "3",
                "--lr",
                "3e-3",
                "--batch-size",
                "8",
            ]
        )
        == 0
    )
    r = json.loads((general / "general.json").read_text())
    assert r["texts"] == 96 and r["steps"] == 36 and r["layer_map"] == [2, 4]
    assert r["probe_loss_after"] < 0.8 * r["probe_loss_before"]  # emb + hidden + attn went down
    assert "init: general:" in capsys.readouterr().out

    student.write_text(STUDENT.replace("INIT", f"general:{general}"))
    out = tmp_path / "task"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    assert f"weights from {general}" in (out / "run.log").read_text()
    g, task = (
        load_file(general / "model.safetensors"),
        load_file(out / "checkpoints" / "0-prediction" / "model.safetensors"),
    )
    # Task distillation started from the general student (not re-initialised): a layer's weights
    # after one short stage still point the same way (a fresh random init would give cosine ~0).
    key = "encoder.layer.0.attention.self.query.weight"
    cosine = torch.nn.functional.cosine_similarity(
        g[key].flatten(), task[f"bert.{key}"].flatten(), dim=0
    ).item()
    assert cosine > 0.9


def test_general_interrupted_and_resumed_is_bit_identical(tmp_path, tiny_encoder_dir, monkeypatch):
    """Ctrl-C saves a checkpoint; a resume from an older one (step 10, mid-corpus: chunks of 16
    texts, 2 batches each, 6 chunks per epoch) replays the same batches and ends bit-identical."""
    from distill.core.interrupt import Interrupted
    from distill.distillation.general import general_distill

    corpus = tmp_path / "texts.txt"
    corpus.write_text("".join(t + "\n" for t, _ in toy_rows(96, seed=1)))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(f"name: t\nmodel: {tiny_encoder_dir}\nmax_length: 16\ndata: {{source: unused.csv}}\n")
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.replace("INIT", "teacher") + "checkpoint: {every_steps: 5, keep_last: 3}\n")
    args = {"epochs": 2, "lr": 3e-3, "batch_size": 8, "chunk_batches": 2}
    reference = general_distill(teacher, student, corpus, tmp_path / "reference", **args)

    out = tmp_path / "resumed"
    monkeypatch.setenv("DISTILL_TEST_FAULT", "sigint:13")
    with pytest.raises(
        Interrupted, match="checkpoint saved to .*00-00000013; run the same command again to resume"
    ):
        general_distill(teacher, student, corpus, out, **args)
    monkeypatch.delenv("DISTILL_TEST_FAULT")
    resume_dir = out / "checkpoints" / "resume"
    assert sorted(p.name for p in resume_dir.iterdir()) == ["00-00000005", "00-00000010", "00-00000013"]
    shutil.rmtree(resume_dir / "00-00000013")  # resume from step 10: steps 11-13 are replayed
    result = general_distill(teacher, student, corpus, out, **args)

    assert result["steps"] == reference["steps"] == 24
    assert (result["probe_loss_before"], result["probe_loss_after"]) == (
        reference["probe_loss_before"],
        reference["probe_loss_after"],
    )
    a, b = load_file(out / "model.safetensors"), load_file(tmp_path / "reference" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (out / "checkpoints").exists()  # the finished folder holds no resume state


def test_general_cuts_a_narrower_encoder_out_of_the_teacher(tmp_path, tiny_encoder_dir, caplog):
    import logging

    corpus = tmp_path / "texts.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in toy_rows(48, seed=1)))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(f"name: t\nmodel: {tiny_encoder_dir}\nmax_length: 16\ndata: {{source: {corpus}}}\n")
    before = {}
    for init in ("teacher", "pca"):
        student = tmp_path / f"student-{init}.yaml"
        student.write_text(STUDENT.replace("INIT", init))
        out = tmp_path / init
        args = ["general", str(teacher), str(student), "--corpus", str(corpus), "--output-dir", str(out)]
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="distill"):
            assert main([*args, "--epochs", "1", "--batch-size", "8"]) == 0
        before[init] = json.loads((out / "general.json").read_text())["probe_loss_before"]
        if init == "teacher":  # 16 of the teacher's 32 channels, 2 of its 4 heads: cut, as distill run does
            assert any(
                m.startswith(
                    "general: student init: pruned from the teacher by activation importance over 48 texts"
                )
                for m in caplog.messages
            )
            assert "general: W_h/W_e start as the kept channels' selection" in caplog.messages
        else:
            assert any("embeddings (PCA 32->16)" in m for m in caplog.messages)
    # the cut starts from the teacher's function: its intermediate loss is far below the PCA start's
    assert before["teacher"] < 0.5 * before["pca"]

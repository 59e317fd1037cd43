"""Experiment tracking: metrics.jsonl beside run.log and TensorBoard event files, read back."""

from __future__ import annotations

import json
import textwrap

import pytest

from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv

STUDENT = """
name: tracked
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: teacher
batch_size: 8
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
optimizer: {warmup_ratio: 0.0, schedule: linear}
tracking: {tensorboard: true}
stages:
  - {name: intermediate, epochs: 1, lr: 1.0e-3, eval: false, objectives: {emb: {}, hidden: {weight: 2.0}}}
  - {name: prediction, epochs: 2, lr: 1.0e-3, objectives: {pred: {}, ce: {weight: 0.5}}}
"""


def configs(tmp_path, model):
    """The tiny teacher on 64 toy rows and the tracked student."""
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(TINY_TEACHER_YAML.format(name="t", model=model, data=data, cache=tmp_path / "c"))
    )
    student = tmp_path / "student.yaml"
    student.write_text(textwrap.dedent(STUDENT))
    return teacher, student


def events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_step_dev_evaluation_and_the_summary_are_recorded(tmp_path, tiny_encoder_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    teacher, student = configs(tmp_path, tiny_encoder_dir)
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    recorded = events(out / "metrics.jsonl")
    steps = [e for e in recorded if e["event"] == "step"]
    # 32 train rows / batch 8 = 4 steps per epoch: 4 intermediate, then 8 prediction steps
    assert [e["step"] for e in steps] == list(range(1, 13))
    assert [(e["stage"], e["stage_step"]) for e in steps[3:5]] == [("intermediate", 4), ("prediction", 1)]
    for e in steps:  # each objective's weighted term under its YAML name; they add up to the loss
        assert set(e["losses"]) == ({"emb", "hidden"} if e["stage"] == "intermediate" else {"pred", "ce"})
        assert sum(e["losses"].values()) == pytest.approx(e["loss"], rel=1e-5)
    # linear decay without warm-up: lr_k = lr * (1 - (k - 1) / steps) within each stage
    assert [e["lr"] for e in steps[4:]] == pytest.approx([1e-3 * (1 - k / 8) for k in range(8)])
    dev = [e for e in recorded if e["event"] == "dev"]
    assert [(e["step"], e["accuracy"]) for e in dev] == [
        (4 + h["step"], h["accuracy"]) for h in m["stages"][1]["dev_history"]
    ]
    (summary,) = [e for e in recorded if e["event"] == "summary"]
    assert summary["student"]["dev"] == m["student"]["dev"] and summary["step"] == 12
    assert summary["accuracy_vs_teacher"] == m["student"]["accuracy_vs_teacher"]
    # the same in TensorBoard's event files, read with its own reader
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/total")] == list(range(1, 13))
    assert [e.value for e in acc.Scalars("loss/total")] == pytest.approx([e["loss"] for e in steps])
    assert [e.step for e in acc.Scalars("loss/pred")] == list(range(5, 13))
    assert [e.value for e in acc.Scalars("dev/accuracy")] == pytest.approx([e["accuracy"] for e in dev])
    assert acc.Scalars("summary/student/dev/accuracy")[0].value == pytest.approx(
        m["student"]["dev"]["accuracy"]
    )


def test_tensorboard_without_its_package_is_refused_before_the_run(
    tmp_path, tiny_encoder_dir, capsys, monkeypatch
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    assert main(["validate", str(teacher), str(student)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {student}: tracking.tensorboard: needs the tensorboard package (pip install tensorboard), "
        "or tracking.tensorboard: false (metrics.jsonl is written either way)"
    )

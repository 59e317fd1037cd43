"""The examples under examples/ run on a tiny teacher: the objectives in a plain PyTorch loop and in
Hugging Face's Trainer train a student whose loss falls."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["good great fine", "bad awful", "happy love nice", "hate bad late"] * 8
LABELS = [1, 0, 1, 0] * 8


def example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def teacher(tiny_classifier_dir):
    return (
        AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir),
        AutoTokenizer.from_pretrained(tiny_classifier_dir),
    )


def test_the_plain_loop_example_trains_on_every_objective(teacher):
    torch.manual_seed(0)
    losses = example("plain_loop").train(*teacher, TEXTS[:4], LABELS[:4], steps=20)
    assert len(losses) == 20 and losses[-1] < 0.5 * losses[0]


def test_the_trainer_example_trains_and_logs_each_objective(teacher, tmp_path):
    from distill import DistillationTrainer

    torch.manual_seed(0)
    trainer = example("hf_trainer").train(*teacher, TEXTS, LABELS, str(tmp_path / "out"), steps=20)
    assert isinstance(trainer, DistillationTrainer)
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 4 and logged[-1]["loss"] < logged[0]["loss"]  # the loss falls
    assert {"loss_hidden", "loss_pred", "loss_ce"} <= set(logged[0])  # each objective's term, by name
    # W_h (student 64 wide, teacher 32) trained with the student: in the Trainer's optimizer
    projections = [p for p in trainer.distill_loss.parameters()]
    assert projections and any(
        p is projections[0] for g in trainer.optimizer.param_groups for p in g["params"]
    )
    saved = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    assert saved.config.num_labels == 2 and saved.config.hidden_size == 64

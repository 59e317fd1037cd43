"""Unbounded schedules (`epochs: 1e40`) are refused before any training, by `distill run`,
`distill validate` and `distill general` alike, with the number of steps they would make."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from distill.cli import main
from distill.train.schedule import MAX_STEPS
from tests.conftest import toy_rows, write_csv

STUDENT = """
name: s
architecture: {{num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}}
batch_size: 8
train: {{grad_accum_steps: {accum}}}
stages:
  - {{name: prediction, epochs: {epochs}, objectives: {{pred: {{}}}}}}
"""


def configs(tmp_path: Path, model: Path, epochs="1", ft_epochs="1", accum=1) -> tuple[Path, Path]:
    data = write_csv(tmp_path / "toy.csv", toy_rows(40))  # dev 0.25, test 0.25: 20 train rows
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(f"""
        name: t
        model: {model}
        max_length: 16
        data: {{source: {data}, split: {{dev: 0.25, test: 0.25}}}}
        finetune: {{epochs: {ft_epochs}, batch_size: 8}}
        cache_dir: {tmp_path / "cache"}
    """)
    )
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.format(epochs=epochs, accum=accum))
    return teacher, student


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_student_epochs_beyond_the_bound_are_refused_before_training(
    tmp_path, tiny_encoder_dir, capsys, command
):
    teacher, student = configs(tmp_path, tiny_encoder_dir, epochs="1e40")
    out = tmp_path / "out"
    argv = [command, str(teacher), str(student)] + (["--output-dir", str(out)] if command == "run" else [])
    assert main(argv) == 2
    assert one_error_line(capsys) == (
        f"error: {student}: stages.0.epochs: 1e+40 epochs would make 3e+40 optimizer steps (1e+40 x 3 per epoch = "
        "ceil(20 train rows / batch_size 8) / train.grad_accum_steps 1), more than the bound of 100,000,000; lower the epochs"
    )
    # no teacher was fine-tuned, nothing written
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_teacher_finetune_epochs_beyond_the_bound_are_refused(tmp_path, tiny_encoder_dir, capsys):
    teacher, student = configs(tmp_path, tiny_encoder_dir, ft_epochs="1e40")
    for argv in (
        ["validate", str(teacher), str(student)],
        ["run", str(teacher), str(student), "--output-dir", str(tmp_path / "o")],
    ):
        assert main(argv) == 2
        assert one_error_line(capsys) == (
            f"error: {teacher}: finetune.epochs: 1e+40 epochs would make 3e+40 optimizer steps (1e+40 x 3 per epoch = "
            "ceil(20 train rows / finetune.batch_size 8)), more than the bound of 100,000,000; lower the epochs"
        )
    assert not (tmp_path / "o").exists() and not (tmp_path / "cache").exists()


def test_the_bound_is_exact_and_counts_gradient_accumulation(tmp_path, tiny_encoder_dir, capsys):
    # 20 rows, batch 8: 3 batches, 2 optimizer steps per epoch with grad_accum_steps 2.
    teacher, student = configs(tmp_path, tiny_encoder_dir, epochs=f"{MAX_STEPS // 2}.0", accum=2)
    assert main(["validate", str(teacher), str(student)]) == 0  # exactly 10^8 steps
    capsys.readouterr()
    student.write_text(STUDENT.format(epochs=f"{MAX_STEPS // 2 + 1}.0", accum=2))
    assert main(["validate", str(teacher), str(student)]) == 2
    assert (
        "50000001 epochs would make 100,000,002 optimizer steps (50000001 x 2 per epoch = ceil(20 train rows / batch_size 8) / "
        "train.grad_accum_steps 2)" in one_error_line(capsys)
    )


def test_finetune_epochs_of_a_teacher_that_is_not_fine_tuned_are_not_bounded(
    tmp_path, tiny_classifier_dir, capsys
):
    teacher, student = configs(tmp_path, tiny_classifier_dir, ft_epochs="1e40")  # a classifier: used as is
    with teacher.open("a") as f:  # its id2label names the classes pos/neg; the pre-flight checks them
        f.write("label_map: {pos: positive, neg: negative}\n")
    assert main(["validate", str(teacher), str(student)]) == 0


@pytest.mark.parametrize("value", [".nan", ".inf", "1e400", "nan"])
def test_non_finite_epochs_are_refused_at_load(tmp_path, tiny_encoder_dir, capsys, value):
    teacher, student = configs(tmp_path, tiny_encoder_dir, epochs=value)
    assert main(["validate", str(teacher), str(student)]) == 2
    assert one_error_line(capsys).startswith(
        f"error: {student}: stages.0.epochs: expected a finite number > 0, got "
    )


def general_args(tmp_path: Path, model: Path, *flags: str) -> list[str]:
    corpus = tmp_path / "texts.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in toy_rows(96, seed=1)))
    teacher, student = configs(tmp_path, model)
    return [
        "general",
        str(teacher),
        str(student),
        "--corpus",
        str(corpus),
        "--output-dir",
        str(tmp_path / "g"),
        *flags,
    ]


def test_general_epochs_beyond_the_bound_are_refused_before_anything_is_written(
    tmp_path, tiny_encoder_dir, capsys
):
    assert main(general_args(tmp_path, tiny_encoder_dir, "--epochs", "1e40", "--batch-size", "8")) == 2
    assert one_error_line(capsys) == (
        "error: --epochs: 1e+40 epochs would make 1.2e+41 optimizer steps (1e+40 x 12 per epoch = "
        "ceil(96 corpus texts / --batch-size 8) / train.grad_accum_steps 1, chunk by chunk), "
        "more than the bound of 100,000,000; lower the epochs"
    )
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--epochs", "nan", "a finite number > 0, got nan"),
        ("--epochs", "inf", "a finite number > 0, got inf"),
        ("--epochs", "0", "a finite number > 0, got 0.0"),
        ("--lr", "nan", "a finite number > 0, got nan"),
        ("--batch-size", "0", "an integer >= 1, got 0"),
        ("--max-length", "-1", "an integer >= 1, got -1"),
    ],
)
def test_general_flags_out_of_range_are_one_line(tmp_path, tiny_encoder_dir, capsys, flag, value, expected):
    assert main(general_args(tmp_path, tiny_encoder_dir, flag, value)) == 2
    assert one_error_line(capsys) == f"error: {flag}: expected {expected}"
    assert not (tmp_path / "g").exists()

"""A student that learned nothing: warnings in the log, the summary and metrics.json, and
`fail_below` making it an error (exit 3) with the student still saved."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from distill.cli import main
from distill.config import load_student_config
from distill.core.errors import ConfigError
from distill.distillation.sanity import Bar, below_bar, final_warning, stage_warning
from tests.conftest import TINY_TEACHER_YAML, save_tiny_encoder, toy_rows, write_csv

# A randomly initialised student trained for 4 + 4 steps at lr 1e-6: it learns nothing.
STUDENT = """
name: untrained
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: random
batch_size: 8
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: first, epochs: 1, lr: 1.0e-6, objectives: {ce: {}}}
  - {name: second, epochs: 1, lr: 1.0e-6, objectives: {pred: {}}}
"""


def student_cfg(tmp_path: Path, extra: str = "", text: str = STUDENT):
    path = tmp_path / "student.yaml"
    path.write_text(text + extra)
    return load_student_config(path)


def test_warnings_name_the_shortfall_the_step_count_and_what_to_try(tmp_path):
    cfg = student_cfg(tmp_path)
    bar = Bar(teacher=0.9, majority=0.5, label="negative")
    stages = [
        {"name": "first", "steps": 4, "best_dev_accuracy": 0.5},
        {"name": "second", "steps": 4, "best_dev_accuracy": 0.7},
    ]
    assert stage_warning(cfg, stages, 0, bar) == (
        "stage first: the student's dev accuracy 50.0% after 4 optimizer steps is not above the majority-class rate 50.0% "
        "(always 'negative'); likely cause: too few optimizer steps (4) for a randomly initialised student (init: random), "
        "or the learning rate (stages.0.lr 1e-06); try more epochs (stages.0.epochs), init: teacher "
        "(cut out of the teacher), or another lr"
    )
    assert final_warning(cfg, stages, 0.7, bar) == (
        "final student: dev accuracy 70.0% after 8 optimizer steps is 78% of the teacher's 90.0%, below 90%; likely cause: "
        "too few optimizer steps (8) for a randomly initialised student (init: random), or the learning rate (stages.1.lr 1e-06); "
        "try more epochs (stages.1.epochs), init: teacher (cut out of the teacher), or another lr"
    )
    assert final_warning(cfg, stages, 0.81, bar) is None  # 90% of the teacher's 90.0% is 81%
    teacher_init = student_cfg(tmp_path, text=STUDENT.replace("init: random", "init: teacher"))
    assert final_warning(teacher_init, stages, 0.7, bar).endswith(
        "likely cause: too few optimizer steps (8) or the learning rate (stages.1.lr 1e-06); try more epochs (stages.1.epochs) "
        "or another lr (or family: distilbert, a student copied from teacher layers)"
    )


def test_fail_below_bars(tmp_path):
    bar = Bar(teacher=0.9, majority=0.5, label="negative")
    assert below_bar(student_cfg(tmp_path), 0.1, bar) is None  # no bar: warnings only
    majority = student_cfg(tmp_path, "fail_below: majority\n")
    assert below_bar(majority, 0.5, bar) == (
        "fail_below: majority: the student's dev accuracy 50.0% is not above the majority-class rate 50.0% (always 'negative')"
    )
    assert below_bar(majority, 0.55, bar) is None  # above majority, though below 90% of the teacher
    fraction = student_cfg(tmp_path, "fail_below: 0.95\n")
    assert (
        below_bar(fraction, 0.85, bar)
        == "fail_below: 0.95: the student's dev accuracy 85.0% is 94% of the teacher's 90.0%, below 95%"
    )
    assert below_bar(fraction, 0.86, bar) is None
    # a stricter bar than 90% also raises the warnings' threshold, so the error has its warning
    assert "below 95%" in final_warning(fraction, [{"name": "second", "steps": 8}], 0.85, bar)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "got 1.5"),
        ("0", "got 0"),
        ("-0.5", "got -0.5"),
        (".nan", "got NaN"),
        ("true", "got true"),
        (
            "majorty",
            "did you mean 'majority'? expected majority or a fraction of the teacher's dev accuracy in (0, 1], e.g. 0.9, "
            'got "majorty"',
        ),
    ],
)
def test_fail_below_bad_values_are_one_line(tmp_path, value, message):
    with pytest.raises(ConfigError) as e:
        student_cfg(tmp_path, f"fail_below: {value}\n")
    assert str(e.value).startswith(f"{tmp_path / 'student.yaml'}: fail_below: ")
    assert str(e.value).endswith(message)
    assert "expected majority or a fraction of the teacher's dev accuracy in (0, 1]" in str(e.value)


@pytest.mark.parametrize(
    ("value", "parsed"), [("majority", "majority"), ("0.9", 0.9), ("9e-1", 0.9), ("1", 1.0)]
)
def test_fail_below_good_values(tmp_path, value, parsed):
    assert student_cfg(tmp_path, f"fail_below: {value}\n").fail_below == parsed


@pytest.fixture(scope="module")
def teacher_yaml(tmp_path_factory) -> Path:
    """One teacher (fine-tuned once, cached) for the runs below."""
    root = tmp_path_factory.mktemp("sanity")
    data = write_csv(root / "toy.csv", toy_rows(64))
    teacher = root / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(
                name="t", model=save_tiny_encoder(root / "enc"), data=data, cache=root / "cache"
            )
        )
    )
    return teacher


def test_a_student_that_learned_nothing_is_warned_about_everywhere(teacher_yaml, tmp_path, capsys):
    student, out = tmp_path / "student.yaml", tmp_path / "out"
    student.write_text(STUDENT)
    # a warning, not an error
    assert main(["--threads", "1", "run", str(teacher_yaml), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    acc, teacher, (first, _) = m["student"]["dev"]["accuracy"], m["teacher"]["dev"]["accuracy"], m["stages"]
    assert acc < 0.9 * teacher
    assert len(m["warnings"]) == 3
    budget, *found = m["warnings"]  # the step budget, known before training
    assert budget.startswith(
        f"{student}: the student's layers start random (init: random) and its stages make 8 "
    )
    assert found[0].startswith(
        f"stage first: the student's dev accuracy {first['best_dev_accuracy']:.1%} after 4 optimizer steps "
    )
    assert found[1].startswith(f"final student: dev accuracy {acc:.1%} after 8 optimizer steps ")
    assert all("likely cause: too few optimizer steps" in w and "try more epochs" in w for w in found)
    printed, log = capsys.readouterr(), (out / "run.log").read_text()
    assert all(f"warning: {w}" in printed.out for w in m["warnings"])  # the summary
    assert all(f"WARNING {w}" in log for w in m["warnings"])  # the log


def test_fail_below_exits_3_with_the_student_saved(teacher_yaml, tmp_path, capsys):
    student, out = tmp_path / "student.yaml", tmp_path / "out"
    student.write_text(STUDENT + "fail_below: 0.9\n")
    assert main(["--threads", "1", "run", str(teacher_yaml), str(student), "--output-dir", str(out)]) == 3
    m = json.loads((out / "metrics.json").read_text())
    acc, teacher = m["student"]["dev"]["accuracy"], m["teacher"]["dev"]["accuracy"]
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()  # still saved
    assert len(m["warnings"]) == 3  # the step budget, the first stage, the final student
    printed = capsys.readouterr()
    assert printed.err.strip().splitlines()[-1] == (
        f"error: {student}: fail_below: 0.9: the student's dev accuracy {acc:.1%} is {acc / teacher:.0%} of the teacher's "
        f"{teacher:.1%}, below 90%; the student was saved to {out} (metrics.json lists the warnings)"
    )
    # the summary first
    assert "dev accuracy" in printed.out and f"warning: {m['warnings'][2]}" in printed.out
    assert not (out / "checkpoints" / "resume").exists()  # the run finished


def test_a_student_that_learned_is_not_warned_about(teacher_yaml, tmp_path, capsys):
    # The teacher's layers copied, 2 x 24 steps: at the teacher's dev accuracy.
    student, out = tmp_path / "student.yaml", tmp_path / "out"
    student.write_text(
        STUDENT.replace("init: random", "init: teacher")
        .replace(
            "{num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}",
            "{family: distilbert, num_layers: 2}",
        )
        .replace("lr: 1.0e-6", "lr: 1.0e-3")
        .replace("epochs: 1,", "epochs: 6,")
        + "fail_below: 0.9\n"
    )
    assert main(["--threads", "1", "run", str(teacher_yaml), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["student"]["dev"]["accuracy"] >= 0.9 * m["teacher"]["dev"]["accuracy"]
    assert m["warnings"] == []
    assert "warning" not in capsys.readouterr().out.lower()


# --- the step budget: a student whose layers start random, given too few optimizer steps -----------


def test_step_budget_counts_every_stage_and_names_what_to_change(tmp_path):
    from distill.distillation.sanity import RANDOM_LAYER_STEPS, step_budget

    cfg = student_cfg(tmp_path)  # batch 8, two stages of 1 epoch
    assert step_budget(cfg, "init: random", 64, "s.yaml") == (
        "s.yaml: the student's layers start random (init: random) and its stages make 16 optimizer steps "
        "(first 8, second 8; 64 train rows, batch_size 8), fewer than the ~750 such a student needs; try "
        "init: teacher (a student cut out of the teacher), more epochs (stages.N.epochs, x46.9) or more training data"
    )
    enough = RANDOM_LAYER_STEPS // 2 * 8  # rows for 375 steps per stage: 750 in all
    assert step_budget(cfg, "init: random", enough, "s.yaml") is None
    assert step_budget(cfg, "init: random", enough - 8, "s.yaml") is not None
    assert step_budget(cfg, None, 64, "s.yaml") is None  # layers from the teacher: no budget
    assert "try family: distilbert (the teacher's own layers, copied)" in step_budget(
        cfg, "init: teacher, and the teacher cannot be cut: ...", 64, "s.yaml"
    )


NARROW_STUDENT = """
name: narrow
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: INIT
batch_size: 8
stages:
  - {name: only, epochs: 1, lr: 1.0e-3, objectives: {pred: {}}}
"""


@pytest.mark.parametrize(
    ("init", "random"),
    [("pca", "init: pca"), ("random", "init: random"), ("teacher", None), ("pruned", None)],
)
def test_validate_warns_of_the_step_budget_only_where_the_layers_start_random(
    tmp_path, tiny_encoder_dir, caplog, init, random
):
    import logging

    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(name="t", model=tiny_encoder_dir, data=data, cache=tmp_path / "c")
        )
    )
    student = tmp_path / "student.yaml"
    student.write_text(NARROW_STUDENT.replace("INIT", init))
    with caplog.at_level(logging.WARNING, logger="distill"):
        assert main(["validate", str(teacher), str(student)]) == 0
    budget = [r.getMessage() for r in caplog.records if "optimizer steps" in r.getMessage()]
    if random is None:  # init: teacher cuts this narrower student out of the BERT teacher
        assert budget == []
    else:
        assert len(budget) == 1 and budget[0].startswith(
            f"{student}: the student's layers start random ({random}) and its stages make "
        )


def test_init_teacher_of_a_teacher_that_cannot_be_cut_is_pca_and_the_budget_says_so(tmp_path):
    from students.family import StudentShape
    from students.tinybert import random_layers, teacher_init
    from tests.family_helpers import CONFIGS

    narrow = StudentShape.of({"num_layers": 2, "hidden_size": 16, "num_heads": 2, "intermediate_size": 32})
    same = StudentShape.of({"num_layers": 2, "hidden_size": 32, "num_heads": 4, "intermediate_size": 64})
    bert, modern = CONFIGS["bert"](), CONFIGS["modernbert"]()
    assert teacher_init(bert, narrow) == ("pruned", None)
    assert teacher_init(bert, same) == ("copy", None)
    how, why = teacher_init(modern, narrow)
    assert how == "pca" and why.startswith("a ModernBERT teacher cannot be cut into a BERT student: ")
    assert random_layers("teacher", narrow, modern) == f"init: teacher, and the teacher cannot be cut: {why}"
    assert random_layers("teacher", narrow, bert) is None
    assert random_layers("pca", same, bert) is None  # the teacher's shape: pca copies what lines up

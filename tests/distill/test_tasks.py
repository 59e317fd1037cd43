"""``data.task``: what a label column holds, inferred or declared; regression targets and their metrics."""

from __future__ import annotations

import dataclasses
import logging
import math
import random

import pytest
from pydantic import ValidationError

from distill.cli import main
from distill.core.errors import DataError
from distill.core.metrics import pearson, ranks, regression_scores
from distill.data.config import DataConfig
from distill.data.dataset import load_splits
from distill.data.labels import infer_task
from tests.conftest import inferred_task_configs, toy_rows, write_csv

BOTH = ("classification", "regression")


def test_pearson_spearman_and_mse_by_hand():
    # x = 1,2,3 and y = 2,4,7: means 2 and 13/3; Sxy = 5, Sxx = 2, Syy = 38/3
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 38 / 3))
    assert pearson([1, 1, 1], [2, 4, 7]) == 0.0  # a constant prediction: no correlation to measure
    assert ranks([10, 20, 10, 30]) == [1.5, 3.0, 1.5, 4.0]  # ties share the mean of their ranks
    # ranks 1,2,3,4 against 1,3,2,4: Spearman 1 - 6 * 2 / (4 * 15) = 0.8; MSE (0 + 1 + 1 + 0) / 4
    assert regression_scores([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(
        {"pearson": 0.8, "spearman": 0.8, "mse": 0.5}
    )
    s = regression_scores([0.1, 0.4, 0.35, 0.8], [1.0, 3.0, 2.0, 5.0])  # ranks 1,3,2,4 on both sides
    assert s["spearman"] == pytest.approx(1.0) and s["pearson"] < 0.99  # same order, not a line


@pytest.mark.parametrize(
    "labels, task",
    [
        (["positive", "negative"] * 5, "classification"),
        (["0", "1", "2"] * 5, "classification"),
        (["0.25", "3.5", "4.0", "1.75"] * 5, "regression"),
        (["negative,sports", "negative", "positive"] * 5, "multi_label"),
        (['["a", "b"]', '["b"]'] * 5, "multi_label"),
    ],
)
def test_the_task_is_inferred_from_the_labels(labels, task):
    assert infer_task(labels)[0] == task


def stsb(tmp_path, n=60, seed=0):
    """A GLUE STS-B folder: sentence pairs with a similarity score 0..5 (train.tsv, dev.tsv)."""
    rng = random.Random(seed)
    folder = tmp_path / "STS-B"
    folder.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    texts = [t for t, _ in toy_rows(2 * n)]
    for name, rows in (("train.tsv", range(n)), ("dev.tsv", range(n // 3))):
        lines = [
            f"{i}\tmain-captions\tMSRvid\t2012test\t{i}\tnone\tnone\t{texts[2 * i]}\t{texts[2 * i + 1]}\t{rng.uniform(0, 5):.3f}\n"
            for i in rows
        ]
        (folder / name).write_text(header + "".join(lines))
    return folder


def test_glue_stsb_loads_as_a_regression_of_sentence_pairs(tmp_path, caplog):
    folder = stsb(tmp_path)
    with caplog.at_level(logging.INFO, logger="distill"):
        s = load_splits(DataConfig(source=str(folder), glue_task="stsb", split={"test": 0.2}), BOTH)
    assert s.task == "regression" and s.label_names == ["score"]
    assert (len(s.train), len(s.dev), len(s.test)) == (48, 20, 12)  # test carved out of train, at random
    assert all(isinstance(y, float) and 0 <= y <= 5 for y in s.train.labels + s.dev.labels)
    assert s.train.pairs is not None and len(s.train.pairs) == len(s.train)
    assert any("data: task regression (inferred: train holds" in m for m in caplog.messages)
    # the same data declared: logged as declared; the splits are the same
    declared = load_splits(
        DataConfig(source=str(folder), glue_task="stsb", task="regression", split={"test": 0.2}), BOTH
    )
    assert declared.train.labels == s.train.labels
    # a task changes what caches keyed by the data hold
    assert dataclasses.replace(s, task="classification").fingerprint() != s.fingerprint()


def test_a_command_that_trains_classification_refuses_regression_in_one_line(tmp_path):
    folder = stsb(tmp_path)
    with pytest.raises(DataError) as e:
        load_splits(DataConfig(source=str(folder), glue_task="stsb"))
    msg = str(e.value)
    assert msg.startswith(f"{folder / 'train.tsv'}: label column 'score' holds ")
    assert "looks like a regression target (task regression, inferred; data.task overrides it)" in msg
    with pytest.raises(DataError) as e:
        load_splits(DataConfig(source=str(folder), glue_task="stsb", task="regression"))
    assert str(e.value).startswith(
        f"{folder / 'train.tsv'}: data.task: regression: supported here: classification"
    )


def regression_configs(tmp_path, model, objectives="{logit_mse: {}}", extra=""):
    folder = stsb(tmp_path)
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        f"name: t\nmodel: {model}\nmax_length: 16\ndata: {{source: {folder}, glue_task: stsb, task: regression}}\n"
    )
    student = tmp_path / "student.yaml"
    student.write_text(
        "name: s\narchitecture: {num_layers: 2}\n"
        f"stages:\n  - {{name: p, epochs: 1, lr: 1.0e-4, objectives: {objectives}}}\n{extra}"
    )
    return teacher, student


def test_validate_takes_a_regression_and_names_its_target(tmp_path, capsys, tiny_encoder_dir):
    teacher, student = regression_configs(tmp_path, tiny_encoder_dir, "{logit_mse: {}, mse: {weight: 0.5}}")
    assert main(["validate", str(teacher), str(student)]) == 0
    assert "data: train 54, dev 20, test 6, regression of score" in capsys.readouterr().out


@pytest.mark.parametrize(
    "objectives, extra, error",
    [
        (
            "{ce: {}}",
            "",
            "stages.0.objectives.ce: does not apply to a regression task (data.task: declared); objectives for "
            "regression: attn, emb, hidden, hidden_cos, logit_mse, mse, relation",
        ),
        (
            "{pred: {temperature: 2}}",
            "",
            "stages.0.objectives.pred: does not apply to a regression task (data.task: declared); objectives for "
            "regression: attn, emb, hidden, hidden_cos, logit_mse, mse, relation",
        ),
    ],
)
def test_validate_refuses_what_a_regression_cannot_train_in_one_line(
    tmp_path, capsys, tiny_encoder_dir, objectives, extra, error
):
    teacher, student = regression_configs(tmp_path, tiny_encoder_dir, objectives, extra)
    assert main(["validate", str(teacher), str(student)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {student}: {error}"


def test_a_declared_regression_names_the_line_of_a_target_that_is_no_number(tmp_path):
    rows = [(t, f"{i / 10:.1f}") for i, (t, _) in enumerate(toy_rows(30))]
    rows[7] = (rows[7][0], "high")
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(DataError) as e:
        load_splits(DataConfig(source=str(path), task="regression"), BOTH)
    assert (
        str(e.value)
        == f"{path}: line 9: label column 'label' holds 'high', not a finite number (task: regression)"
    )
    rows[7] = (rows[7][0], "nan")
    write_csv(path, rows)
    with pytest.raises(DataError, match="line 9: label column 'label' holds 'nan', not a finite number"):
        load_splits(DataConfig(source=str(path), task="regression"), BOTH)


def test_class_names_declared_for_a_regression_are_a_config_error():
    with pytest.raises(ValidationError, match="labels: names classes; task regression has none"):
        DataConfig(source="d.csv", task="regression", labels=["a", "b"])


def test_declared_classification_keeps_numeric_codes_as_classes(tmp_path):
    codes = ["1.5", "2.5", "3.5"] * 10  # inferred: a regression target; declared: three classes
    rows = [(t, y) for (t, _), y in zip(toy_rows(30), codes, strict=True)]
    path = write_csv(tmp_path / "d.csv", rows)
    s = load_splits(DataConfig(source=str(path), task="classification"))
    assert s.task == "classification" and s.label_names == ["1.5", "2.5", "3.5"]


def test_float_labels_with_a_classification_student_name_the_inference_and_the_remedy(
    tmp_path, capsys, tiny_encoder_dir
):
    """Labels inferred as a regression meet a student of softmax losses: validate and run refuse the
    first such objective, say why the data is a regression and list the objectives that apply."""
    rows = [(t, f"{0.37 * i:.2f}") for i, (t, _) in enumerate(toy_rows(40))]
    objectives = "{pred: {}, ce: {weight: 0.5}}"
    data, teacher, student = inferred_task_configs(tmp_path, tiny_encoder_dir, rows, objectives)
    expected = (
        f"error: {student}: stages.0.objectives.pred: does not apply to a regression task (data.task: "
        f"inferred: {data}: label column 'label' holds 40 distinct numbers, not all integers (0.00, 0.37, "
        "0.74, ...): looks like a regression target); objectives for regression: attn, emb, hidden, "
        "hidden_cos, logit_mse, mse, relation"
    )
    for argv in (["validate"], ["run", "--output-dir", str(tmp_path / "out")]):
        assert main([argv[0], str(teacher), str(student), *argv[1:]]) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1] == expected
    assert not (tmp_path / "out").exists()  # refused before anything was written

"""What export and bench compare and score, per task: class ids, a regression's score, a multi-label
model's per-label decisions at its saved thresholds (distill/compress/scoring.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distill.compress.evalset import read_eval_set
from distill.compress.export import require_agreement, verify
from distill.compress.scoring import Task, metric_label, score_of, task_of_config, task_of_model
from distill.core.errors import DataError


def test_the_task_of_a_config_json():
    assert task_of_config({"id2label": {"0": "a", "1": "b"}}) == Task("classification")
    assert task_of_config(
        {"id2label": {"0": "a", "1": "b"}, "problem_type": "single_label_classification"}
    ).name == ("classification")
    assert task_of_config({"id2label": {"0": "score"}, "problem_type": "regression"}) == Task("regression")
    assert task_of_config({"id2label": {"0": "LABEL_0"}}) == Task("regression")  # one output, as HF infers
    assert task_of_config(
        {
            "id2label": {"0": "a", "1": "b"},
            "problem_type": "multi_label_classification",
            "label_thresholds": [0.3, 0.7],
        }
    ) == Task("multi_label", (0.3, 0.7))
    # the BiLSTM's own config.json: num_labels and the same two keys
    assert task_of_config(
        {"model_type": "distill-bilstm", "num_labels": 1, "problem_type": "regression"}
    ).name == ("regression")


def test_task_of_model_reads_the_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"problem_type": "multi_label_classification"}))
    assert task_of_model(tmp_path) == Task("multi_label", None)
    assert task_of_model(tmp_path / "missing") == Task("classification")


def test_classification_agreement_and_scores_by_hand():
    ref = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])  # classes 0 1 0 1
    cand = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # classes 0 0 0 1
    task = Task()
    assert task.agreement(ref, cand) == 0.75
    # gold 0 1 1 1: the candidate gets rows 0 and 3 right; F1 = 2 tp / (predicted + actual):
    # class 0: tp 1, predicted 3, actual 1 -> 2/4; class 1: tp 1, predicted 1, actual 3 -> 2/4
    assert task.scores(cand, [0, 1, 1, 1]) == {"accuracy": 0.5, "f1": 0.5}


def test_multi_label_decisions_use_the_saved_thresholds():
    logits = np.array([[0.0, 1.0], [1.0, -1.0]])  # sigmoid: [0.5, 0.731], [0.731, 0.269]
    assert Task("multi_label").decisions(logits).tolist() == [[1, 1], [1, 0]]  # 0.5 each
    assert Task("multi_label", (0.6, 0.8)).decisions(logits).tolist() == [[0, 0], [1, 0]]
    cand = np.array([[0.0, 2.0], [1.0, -1.0]])  # sigmoid 0.881 on row 0, label 1: above 0.8
    # at (0.6, 0.8): ref decides [0,0],[1,0], cand [0,1],[1,0]: 3 of the 4 decisions the same
    assert Task("multi_label", (0.6, 0.8)).agreement(logits, cand) == 0.75
    # micro-F1 against gold [[0, 1], [1, 0]] at (0.6, 0.8): cand gets both labels: tp 2 -> 1.0
    scores = Task("multi_label", (0.6, 0.8)).scores(cand, [[0.0, 1.0], [1.0, 0.0]])
    assert scores == {"micro_f1": 1.0, "macro_f1": 1.0, "subset_accuracy": 1.0}


def test_regression_agreement_is_a_tenth_of_the_reference_spread():
    ref = np.array([[0.0], [1.0], [2.0], [3.0]])  # std sqrt(1.25) = 1.118: tolerance 0.1118
    task = Task("regression")
    assert task.agreement(ref, ref + 0.1) == 1.0
    assert task.agreement(ref, ref + 0.2) == 0.0  # a shifted graph: every score off
    assert task.agreement(ref, 2 * ref) == 0.25  # a scaled one: only the 0 stays
    scores = task.scores(2 * ref, [0.0, 1.0, 2.0, 3.0])
    assert scores["pearson"] == pytest.approx(1.0) and scores["spearman"] == pytest.approx(1.0)
    assert scores["mse"] == pytest.approx((0 + 1 + 4 + 9) / 4)


def test_verify_and_the_refusal_of_a_shifted_regression_graph():
    batches = [(np.zeros((2, 3), np.int64), np.ones((2, 3), np.int64))] * 2
    ref = [np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])]  # the PyTorch scores, per batch
    shifted = iter([r + 1.0 for r in ref])  # a graph that adds 1 to every score
    rep = verify(ref, lambda *_: next(shifted), batches, [0.0, 1.0, 2.0, 3.0], Task("regression"))
    assert rep["task"] == "regression" and rep["metric"] == "pearson"
    assert rep["agreement"] == 0.0 and rep["accuracy_delta"] is None
    # a shift keeps Pearson's r: the agreement, not the score, is what catches it
    assert rep["score_reference"] == pytest.approx(1.0) and rep["score_delta"] == pytest.approx(0.0)
    with pytest.raises(DataError) as e:
        require_agreement(rep, 0.97, "out/model.int8.onnx")
    assert str(e.value) == (
        "out/model.int8.onnx: agrees with its source on 0.0% of 4 inputs (score within 0.1·std), "
        "below the threshold 97% (max |Δlogit| 1)"
    )


def test_eval_labels_are_read_as_the_models_task(tmp_path):
    path = tmp_path / "eval.csv"
    path.write_text('text,label\ngood,"pos;long"\nbad,\nmeh,long\n')
    l2i = {"long": 0, "pos": 1}
    rows = read_eval_set(path, label2id=l2i, task="multi_label")
    assert rows.labels == [[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]] and rows.label_names == ["long", "pos"]
    path.write_text("text,label\ngood,4.5\nbad,-1e-1\n")
    assert read_eval_set(path, task="regression").labels == [4.5, -0.1]
    path.write_text("text,label\ngood,4.5\nbad,high\n")
    with pytest.raises(DataError) as e:
        read_eval_set(path, task="regression")
    assert (
        str(e.value)
        == f"{path}: line 3: label column 'label' holds 'high', not a finite number (task: regression)"
    )


def test_report_names_and_the_score_of_an_old_report():
    assert metric_label("accuracy") == "acc %" and metric_label("micro_f1") == "micro-F1 %"
    assert metric_label("pearson") == "Pearson r ×100"
    assert score_of({"accuracy": 0.9}) == 0.9  # a report.json written before `score`
    assert score_of({"score": 0.7, "accuracy": None}) == 0.7

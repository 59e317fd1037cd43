"""Multi-label data, scores and objectives by hand, and `distill run` end to end on a delimited CSV
and a JSONL of lists (the other commands refuse multi-label data: test_data.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from distill.core.errors import DataError
from distill.core.metrics import multilabel_scores, tune_thresholds
from distill.data.config import DataConfig
from distill.data.dataset import load_splits
from distill.data.multilabel import label_sets, multi_hot
from distill.models.features import Features
from distill.objectives import OBJECTIVES, ModelDims
from distill.objectives.multilabel import soft_binary_cross_entropy
from tests.conftest import inferred_task_configs, toy_rows, write_csv

ALL = ("classification", "regression", "multi_label")


def test_label_sets_from_lists_and_delimited_strings():
    rows = ['["sports", "negative"]', "sports, travel", "", "travel,travel", "['a', 'b']"]
    assert label_sets(rows, range(2, 7), "d.csv", "label") == [
        ["sports", "negative"],
        ["sports", "travel"],
        [],
        ["travel"],
        ["a", "b"],
    ]
    assert label_sets(["a/b", "c"], [2, 3], "d.csv", "label", delimiter="/") == [["a", "b"], ["c"]]
    with pytest.raises(
        DataError, match=r"line 2: label column 'label' holds '\[\[1\]\]': a list of label names"
    ):
        label_sets(["[[1]]"], [2], "d.csv", "label")


def test_multi_hot_names_the_line_of_an_unknown_label():
    assert multi_hot([["b"], ["a", "b"], []], ["a", "b"], [2, 3, 4], "d.csv", "y") == [
        [0.0, 1.0],
        [1.0, 1.0],
        [0.0, 0.0],
    ]
    with pytest.raises(DataError) as e:
        multi_hot([["c"]], ["a", "b"], [9], "dev.csv", "y")
    assert (
        str(e.value) == "dev.csv: line 9: label column 'y' names 'c', not one of the training labels (a, b)"
    )


def test_delimited_csv_and_jsonl_lists_load_as_the_same_multi_hot_rows(tmp_path):
    tags = [["negative"], ["negative", "sports"], ["positive", "sports"], []] * 10
    texts = [t for t, _ in toy_rows(len(tags))]
    csv_path = write_csv(tmp_path / "d.csv", [(t, ",".join(y)) for t, y in zip(texts, tags, strict=True)])
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, tags, strict=True))
    )
    a = load_splits(DataConfig(source=str(csv_path), task="multi_label"), ALL)
    b = load_splits(DataConfig(source=str(jsonl), task="multi_label"), ALL)
    assert a.task == b.task == "multi_label" and a.label_names == ["negative", "positive", "sports"]
    assert a.train.labels == b.train.labels and a.dev.texts == b.dev.texts
    assert all(len(y) == 3 and set(y) <= {0.0, 1.0} for y in a.train.labels)
    # inferred from the delimited labels (negative,sports beside negative)
    assert load_splits(DataConfig(source=str(csv_path)), ALL).task == "multi_label"
    # data.labels beside task: multi_label names the labels in their order (it made a classification)
    c = load_splits(
        DataConfig(source=str(jsonl), task="multi_label", labels=["sports", "positive", "negative"]), ALL
    )
    assert c.task == "multi_label" and c.label_names == ["sports", "positive", "negative"]
    assert c.train.labels == [row[::-1] for row in a.train.labels]


def test_micro_macro_f1_and_subset_accuracy_by_hand():
    probs = [[0.9, 0.2, 0.6], [0.1, 0.7, 0.4], [0.8, 0.6, 0.1]]
    gold = [[1, 0, 1], [0, 1, 1], [0, 1, 0]]
    # at 0.5: predictions [1,0,1], [0,1,0], [1,1,0]; label 0: tp 1 fp 1 fn 0; label 1: tp 2; label 2: tp 1 fn 1
    # micro: tp 4, fp 1, fn 1 -> 8 / 10; macro: (2/3 + 1 + 2/3) / 3; rows 1 and 3 wrong -> 1/3 exact
    s = multilabel_scores(probs, gold)
    assert s == pytest.approx(
        {"micro_f1": 0.8, "macro_f1": (2 / 3 + 1 + 2 / 3) / 3, "subset_accuracy": 1 / 3}
    )
    # thresholds per label: label 2 at 0.4 catches row 2; label 0 at 0.85 drops row 3's false positive
    assert multilabel_scores(probs, gold, [0.85, 0.5, 0.4])["subset_accuracy"] == pytest.approx(1.0)


def test_tuned_thresholds_maximise_each_labels_dev_f1():
    probs = [[0.9, 0.3], [0.3, 0.35], [0.2, 0.1], [0.7, 0.32]]
    gold = [[1, 1], [1, 1], [0, 0], [1, 0]]
    t = tune_thresholds(probs, gold)
    # label 0: any threshold in (0.2, 0.3] catches all three positives (F1 1): the nearest 0.5 is 0.3
    # label 1: positives at 0.3 and 0.35, a negative at 0.32 and 0.1: F1 0.8 at <= 0.3 (tp 2, fp 1)
    # against 0.667 at 0.35 (tp 1, fn 1): the best, nearest 0.5, is 0.3
    assert t == [0.3, 0.3]
    assert tune_thresholds([[0.2, 0.9]], [[0, 0]]) == [0.5, 0.5]  # no positive: 0.5 stays


def build(name: str, **params):
    cls = OBJECTIVES.get(name)
    return cls(cls.Params(**params), ModelDims(2, 2, 2), ModelDims(2, 2, 2))


def test_bce_and_soft_bce_golden():
    def feats(logits):
        return Features(logits=torch.tensor(logits), mask=torch.ones(1, 2))

    # BCE(sigmoid(0), 1) = BCE(sigmoid(0), 0) = log 2 for each label
    assert build("bce")(feats([[0.0, 0.0]]), None, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(
        math.log(2)
    )
    # soft, T = 2: targets sigmoid(2/2) = s; student logit 0 -> p = 1/2: BCE = log 2 for any target,
    # times T^2 = 4
    loss = build("soft_bce", temperature=2.0)(feats([[0.0]]), feats([[2.0]]), None)
    assert loss.item() == pytest.approx(4 * math.log(2))
    # student = teacher: the loss is the targets' own entropy, T^2 H(s)
    s = 1 / (1 + math.exp(-1.0))
    h = -(s * math.log(s) + (1 - s) * math.log(1 - s))
    same = soft_binary_cross_entropy(torch.tensor([[2.0]]), torch.tensor([[2.0]]), 2.0)
    assert same.item() == pytest.approx(4 * h, rel=1e-6)
    assert build("bce").tasks == build("soft_bce").tasks == {"multi_label"}


TEACHER = """
name: tagger
model: {model}
max_length: 16
data: {{source: {data}, task: multi_label, split: {{dev: 0.25, test: 0.25, seed: 0}}}}
finetune: {{epochs: 12, batch_size: 8, lr: 2.0e-3, warmup_ratio: 0.0, seed: 0}}
cache_dir: {cache}
"""
STUDENT = """
name: tiny-tagger
architecture: {num_layers: 2}
init: teacher
batch_size: 8
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: prediction, epochs: 4, lr: 1.0e-3, objectives: {soft_bce: {temperature: 2.0}, bce: {weight: 0.5}}}
"""


def tagged_rows(n: int = 128) -> list[tuple[str, list[str]]]:
    """The toy sentiment texts, tagged with their sentiment and, for every third, `long` (six or
    more words): two learnable labels, sometimes together, sometimes neither."""
    rows = []
    for text, sentiment in toy_rows(n):
        tags = [sentiment] if sentiment == "positive" else []
        if len(text.split()) >= 5:
            tags.append("long")
        rows.append((text, tags))
    return rows


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_multi_label_run_end_to_end(tmp_path, tiny_encoder_dir, capsys, fmt):
    from transformers import AutoConfig

    from distill.cli import main

    rows = tagged_rows()
    if fmt == "csv":
        data = write_csv(tmp_path / "tags.csv", [(t, ";".join(y)) for t, y in rows])
    else:
        data = tmp_path / "tags.jsonl"
        data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(TEACHER.format(model=tiny_encoder_dir, data=data, cache=tmp_path / "cache"))
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT)
    if fmt == "csv":  # trained on augmented copies (each keeps its row's labels), exported to INT8
        (tmp_path / "augment.yaml").write_text(
            "seed: 0\nn_iter: 1\nstrategies:\n  - {name: masking, p_mask: 0.3}\n"
        )
        student.write_text(
            STUDENT
            + f"augment: {tmp_path / 'augment.yaml'}\nexport: {{int8: dynamic, min_agreement_int8: 0.5}}\n"
        )
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    if fmt == "csv":  # the four rows of a run with `export:`
        assert (
            "dev micro-F1  % of teacher  test micro-F1  test macro-F1" in printed
            and "student INT8" in printed
        )
    else:
        assert "dev micro-F1" in printed and "test subset accuracy" in printed
    assert "tuned on dev" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["task"] == "multi_label" and m["data"]["labels"] == ["long", "positive"]
    t, s = m["teacher"], m["student"]
    assert set(s["test"]) == {"micro_f1", "macro_f1", "subset_accuracy"}
    assert t["dev"]["micro_f1"] > m["data"]["baseline_dev_micro_f1"]  # the teacher learned the tags
    assert s["dev"]["micro_f1"] > m["data"]["baseline_dev_micro_f1"]  # and so did the student
    assert m["student"]["micro_f1_vs_teacher"] == pytest.approx(s["dev"]["micro_f1"] / t["dev"]["micro_f1"])
    assert m["stages"][0]["dev_metric"] == "micro_f1"
    config = AutoConfig.from_pretrained(out)
    assert config.problem_type == "multi_label_classification" and config.num_labels == 2
    assert config.label_thresholds == s["thresholds"] and len(s["thresholds"]) == 2
    if fmt != "csv":
        return
    assert m["data"]["train"] > m["data"]["train_original"]
    (cached,) = (tmp_path / "cache" / "augmented").glob("*.jsonl")
    carried = {
        json.dumps(sorted(json.loads(json.loads(line)["label"]))) for line in cached.read_text().splitlines()
    }
    assert carried <= {json.dumps(sorted(y)) for _, y in rows}  # each copy has a row's label set
    graph = m["export"]["student"]
    assert graph["verify"]["task"] == "multi_label" and graph["verify"]["metric"] == "micro_f1"
    assert set(graph["test"]) == {"micro_f1", "macro_f1", "subset_accuracy"}
    assert graph["test"]["micro_f1"] == pytest.approx(s["test"]["micro_f1"], abs=0.05)


@pytest.mark.parametrize(
    "stage, extra, error",
    [
        (
            "{pred: {}}",
            "",
            "stages.0.objectives.pred: does not apply to a multi_label task (data.task: declared); objectives "
            "for multi_label: attn, bce, emb, hidden, hidden_cos, logit_mse, relation, soft_bce",
        ),
    ],
)
def test_validate_refuses_what_a_multi_label_run_cannot_do(
    tmp_path, tiny_encoder_dir, capsys, stage, extra, error
):
    from distill.cli import main

    data = write_csv(tmp_path / "tags.csv", [(t, ";".join(y)) for t, y in tagged_rows(64)])
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(TEACHER.format(model=tiny_encoder_dir, data=data, cache=tmp_path / "cache"))
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.replace("{soft_bce: {temperature: 2.0}, bce: {weight: 0.5}}", stage) + extra)
    assert main(["validate", str(teacher), str(student)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {student}: {error}"


def test_two_gloo_processes_score_a_multi_label_run_as_one_process(tmp_path, tiny_encoder_dir):
    """Each rank computes its slice of the per-label probabilities; summed into place, both ranks
    tune the same thresholds and score the whole split as one process does."""
    from tests.distill.test_ddp_run import ATOL, one_process, two_processes

    data = write_csv(tmp_path / "tags.csv", [(t, ";".join(y)) for t, y in tagged_rows()])
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(TEACHER.format(model=tiny_encoder_dir, data=data, cache=tmp_path / "cache"))
    student = tmp_path / "student.yaml"
    student.write_text(
        STUDENT.replace(
            "architecture: {num_layers: 2}", "architecture: {num_layers: 2, dropout: 0.0}"
        ).replace("batch_size: 8", "batch_size: 5")
    )
    setup = {"root": tmp_path, "teacher": teacher}
    one = one_process(setup, student, tmp_path / "one")
    two_processes(setup, student, tmp_path / "two")
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["machine"]["processes"] == 2
    assert two["student"]["thresholds"] == one["student"]["thresholds"]
    for split in ("dev", "test"):
        assert two["student"][split] == pytest.approx(one["student"][split], abs=100 * ATOL)
        assert two["teacher"][split] == pytest.approx(one["teacher"][split], abs=100 * ATOL)


def test_inferred_multi_label_data_with_a_classification_student_names_the_inference(
    tmp_path, tiny_encoder_dir, capsys
):
    """Delimited labels are inferred as multi-label: validate refuses the student's softmax loss,
    saying what the label column holds and which objectives apply (a data-fuzz case before
    multi-label was trained)."""
    from distill.cli import main

    rows = [(t, "negative,sports" if i % 3 else y) for i, (t, y) in enumerate(toy_rows(40))]
    data, teacher, student = inferred_task_configs(tmp_path, tiny_encoder_dir, rows, "{pred: {}}")
    assert main(["validate", str(teacher), str(student)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {student}: stages.0.objectives.pred: does not apply to a multi_label task (data.task: inferred: "
        f"{data}: label column 'label' holds lists of labels ('negative,sports'): looks like multi-label data); "
        "objectives for multi_label: attn, bce, emb, hidden, hidden_cos, logit_mse, relation, soft_bce"
    )

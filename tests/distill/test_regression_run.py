"""`distill run` on a regression (data.task): a one-output teacher fine-tuned with MSE, a student
distilled with logit MSE to the teacher's prediction plus MSE to the gold targets, scored by Pearson."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, pipeline

from distill.cli import main
from distill.data.dataset import DataSplits, TextDataset
from distill.distillation.sanity import below_bar
from distill.distillation.tasks import bar_for
from distill.train.teacher import TeacherError, check_teacher, mean_baseline
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv

STUDENT = """
name: tiny-regressor
architecture: {architecture}
init: {init}
batch_size: 8
speed: {{latency_runs: 5, latency_warmup: 1, throughput_batches: 2, throughput_batch_size: 8}}
stages:
  - name: prediction
    epochs: {epochs}
    lr: {lr}
    objectives:
      logit_mse: {{weight: 1.0}}
      mse: {{weight: 0.5}}
"""


ARCHITECTURES = {  # the family's `architecture:`, `init:`, epochs and lr
    "tinybert": ("{family: tinybert, num_layers: 2}", "teacher", 4, 1.0e-3),
    "bilstm": ("{family: bilstm, bilstm: {hidden: 16, mlp: 16, dropout: 0.0}}", "random", 8, 1.0e-2),
}


def scored_rows(n: int = 128) -> list[tuple[str, str]]:
    """The toy sentiment texts with a learnable score: about 4 for a positive text, 1 for a negative one."""
    return [
        (t, f"{(4.0 if y == 'positive' else 1.0) + 0.1 * (i % 5):.2f}")
        for i, (t, y) in enumerate(toy_rows(n))
    ]


def configs(tmp_path, model, family: str = "tinybert"):
    data = write_csv(tmp_path / "scores.csv", scored_rows(), header=("text", "score"))
    teacher = tmp_path / "teacher.yaml"
    yaml = TINY_TEACHER_YAML.format(name="tiny-teacher", model=model, data=data, cache=tmp_path / "cache")
    teacher.write_text(textwrap.dedent(yaml).replace("  source:", "  label_column: score\n  source:"))
    student = tmp_path / "student.yaml"
    architecture, init, epochs, lr = ARCHITECTURES[family]
    student.write_text(
        textwrap.dedent(STUDENT.format(architecture=architecture, init=init, epochs=epochs, lr=lr))
    )
    return teacher, student


AUGMENT = "seed: 0\nn_iter: 1\nstrategies:\n  - {name: masking, p_mask: 0.3}\n"
# Static INT8 keeps this tiny model's scores within a tenth of their spread; dynamic INT8 (the one
# a BiLSTM takes) shifts them all by ~0.3 here: Pearson unchanged, the agreement near 20%.
EXPORTS = {
    "tinybert": "{int8: static, min_agreement_int8: 0.9}",
    "bilstm": "{int8: dynamic, min_agreement_int8: 0.0}",
}


@pytest.mark.parametrize("family", ["tinybert", "bilstm"])
def test_a_regression_run_end_to_end(tmp_path, tiny_encoder_dir, capsys, family):
    """Trained on an augmented copy (each copy keeps its row's target), exported to a verified INT8
    graph scored by Pearson, saved as a model whose config says regression."""
    teacher, student = configs(tmp_path, tiny_encoder_dir, family)
    (tmp_path / "augment.yaml").write_text(AUGMENT)
    student.write_text(
        student.read_text() + f"augment: {tmp_path / 'augment.yaml'}\nexport: {EXPORTS[family]}\n"
    )
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    # the four rows of a run with `export:`: teacher and student, FP32 and INT8, by Pearson and Spearman
    assert "dev Pearson r  % of teacher  test Pearson r  test Spearman rho" in printed
    assert "student INT8" in printed and "always predicting the training mean" in printed

    m = json.loads((out / "metrics.json").read_text())
    assert m["task"] == "regression" and m["data"]["labels"] == ["score"]
    assert m["data"]["train"] > m["data"]["train_original"]  # augmented copies, targets carried
    (cached,) = (tmp_path / "cache" / "augmented").glob("*.jsonl")
    targets = {float(y) for _, y in scored_rows()}
    assert {float(json.loads(line)["label"]) for line in cached.read_text().splitlines()} <= targets
    graph = m["export"]["student"]
    assert graph["verify"]["task"] == "regression" and graph["verify"]["metric"] == "pearson"
    assert set(graph["test"]) == {"pearson", "spearman", "mse"}
    # the graph is the model measured: its Pearson within a few hundredths of the PyTorch student's
    assert graph["test"]["pearson"] == pytest.approx(m["student"]["test"]["pearson"], abs=0.05)
    for model in ("teacher", "student"):
        assert set(m[model]["test"]) == {"pearson", "spearman", "mse"}
    t_dev, s_dev = m["teacher"]["dev"], m["student"]["dev"]
    assert t_dev["pearson"] > 0.7 and t_dev["mse"] < m["data"]["mean_dev_mse"] / 2  # the teacher learned it
    assert s_dev["pearson"] > 0.5  # and the student learned from it
    assert m["student"]["pearson_vs_teacher"] == pytest.approx(s_dev["pearson"] / t_dev["pearson"])
    (stage,) = m["stages"]
    assert stage["dev_metric"] == "pearson" and stage["best_dev_accuracy"] is None
    assert stage["best_dev"] == max(h["pearson"] for h in stage["dev_history"])  # best dev weights kept
    assert stage["loss_last"] < stage["loss_first"]

    card = (out / "README.md").read_text()
    assert "metrics:\n- pearson\n- spearman\n- mse" in card and "a regression of `score`" in card
    if family == "bilstm":  # its own format: the card and metrics are what this test checks
        return
    config = AutoConfig.from_pretrained(out)
    assert config.num_labels == 1 and config.problem_type == "regression"
    # Hugging Face's pipeline returns the raw score of a regression model (no softmax)
    model = AutoModelForSequenceClassification.from_pretrained(out)
    text = scored_rows()[1][0]
    enc = AutoTokenizer.from_pretrained(out)(text, return_tensors="pt")
    with torch.no_grad():
        raw = model(**enc).logits[0, 0].item()
    (result,) = pipeline("text-classification", model=str(out))(text)
    assert result["score"] == pytest.approx(raw, abs=1e-5)


def splits(dev_targets: list[float]) -> DataSplits:
    texts = ["a"] * 4
    train = TextDataset(texts, [1.0, 2.0, 3.0, 6.0])  # mean 3
    dev = TextDataset(["b"] * len(dev_targets), dev_targets)
    return DataSplits(train, dev, dev, ["score"], "regression")


def test_the_regression_baseline_is_the_training_mean():
    s = splits([1.0, 5.0])
    assert mean_baseline(s) == (3.0, (4 + 4) / 2)  # dev MSE of always predicting 3
    check_teacher({"pearson": 0.8, "mse": 1.0}, s)  # better than the mean: kept
    with pytest.raises(TeacherError) as e:
        check_teacher({"pearson": 0.8, "mse": 4.0}, s)
    assert str(e.value) == (
        "teacher.yaml: the teacher's dev Pearson r 0.8000 and MSE 4.0000 do not beat always predicting the "
        "training mean 3 (Pearson r 0, MSE 4.0000): it has learned nothing to distill. Fine-tune it longer "
        "(finetune.epochs, finetune.lr) or check the targets"
    )
    with pytest.raises(TeacherError):
        check_teacher({"pearson": 0.0, "mse": 1.0}, s)  # a constant answer, however close


def test_the_students_bar_on_a_regression_is_pearson(tmp_path):
    from distill.config import load_student_config

    bar = bar_for(splits([1.0, 5.0]), {"pearson": 0.8, "spearman": 0.7, "mse": 1.0})
    assert bar.shortfall(0.0) == "is not above 0, the Pearson r of always predicting the training mean 3"
    assert bar.shortfall(0.6) == "is 75% of the teacher's 0.8000, below 90%"
    assert bar.shortfall(0.75) is None
    path = tmp_path / "s.yaml"
    path.write_text(
        STUDENT.format(architecture="{num_layers: 2}", init="teacher", epochs=1, lr=1e-3)
        + "fail_below: 0.95\n"
    )
    assert below_bar(load_student_config(path), 0.6, bar) == (
        "fail_below: 0.95: the student's dev Pearson r 0.6000 is 75% of the teacher's 0.8000, below 95%"
    )


REGRESSION_STEPS = """
  - {name: data, kind: data}
  - {name: teacher, kind: teacher, inputs: {data: data}}
  - {name: general, kind: general, config: CFG/student.yaml, inputs: {data: data}, options: {batch_size: 16}}
  - {name: distill, kind: distill, config: CFG/student.yaml, inputs: {teacher: teacher, data: data, general: general}}
"""


def regression_recipe(tmp_path, model, steps: str = REGRESSION_STEPS):
    teacher, student = configs(tmp_path, model)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: tiny-regression\nteacher: {teacher}\noutput: {tmp_path / 'out'}\nsteps:"
        + steps.replace("CFG", str(tmp_path))
    )
    return recipe


def test_a_regression_pipeline_runs_data_teacher_general_and_distill(tmp_path, tiny_encoder_dir, capsys):
    recipe = regression_recipe(tmp_path, tiny_encoder_dir)
    assert main(["pipeline", str(recipe)]) == 0
    assert "(dev Pearson r 0." in capsys.readouterr().out  # the summary line of the distill step
    (data,) = (tmp_path / "out").glob("data-*")
    first = json.loads((data / "train.jsonl").read_text().splitlines()[0])
    assert isinstance(first["label"], float)  # targets written as numbers, read back as a regression
    (distill,) = (tmp_path / "out").glob("distill-*")
    m = json.loads((distill / "model" / "metrics.json").read_text())
    assert m["task"] == "regression" and m["teacher"]["dev"]["pearson"] > 0.7
    done = json.loads((distill / "done.json").read_text())["info"]
    assert done["metric"] == "pearson" and done["dev_pearson"] == m["student"]["dev"]["pearson"]


DDP_STUDENT = """
name: ddp-regressor
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32, dropout: 0.0}
init: teacher
batch_size: 5
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: prediction, epochs: 2, lr: 1.0e-3, objectives: {logit_mse: {}, mse: {weight: 0.5}}}
"""


def test_two_gloo_processes_score_a_regression_as_one_process(tmp_path, tiny_encoder_dir):
    """Each rank predicts its slice of dev; the predictions are summed into place, so both ranks
    score the whole split: the same Pearson r as one process, up to the weights' float noise."""
    from tests.distill.test_ddp_run import ATOL, one_process, two_processes

    teacher, _ = configs(tmp_path, tiny_encoder_dir)
    student = tmp_path / "ddp.yaml"
    student.write_text(textwrap.dedent(DDP_STUDENT))
    setup = {"root": tmp_path, "teacher": teacher}
    one = one_process(setup, student, tmp_path / "one")
    two_processes(setup, student, tmp_path / "two")
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["machine"]["processes"] == 2
    # each rank pads its own batches: the teacher's predictions differ in the last float bits
    assert two["teacher"]["dev"] == pytest.approx(one["teacher"]["dev"], abs=1e-6)
    for split in ("dev", "test"):
        assert two["student"][split] == pytest.approx(one["student"][split], abs=100 * ATOL)
    assert two["stages"][0]["best_dev"] == pytest.approx(one["stages"][0]["best_dev"], abs=100 * ATOL)


def test_an_interrupted_regression_run_resumes_to_the_same_student(tmp_path, tiny_encoder_dir, monkeypatch):
    """SIGINT mid-stage (a checkpoint saved), then the same command: the student and its Pearson r
    are those of the uninterrupted run (the best-dev score and weights travel in the checkpoint)."""
    from safetensors.torch import load_file

    teacher, _ = configs(tmp_path, tiny_encoder_dir)
    student = tmp_path / "resumable.yaml"
    student.write_text(
        textwrap.dedent(DDP_STUDENT)
        + "checkpoint: {every_steps: 4, keep_last: 2}\ntracking: {tensorboard: true}\n"
    )
    argv = ["--threads", "1", "run", str(teacher), str(student), "--output-dir"]
    assert main([*argv, str(tmp_path / "whole")]) == 0
    monkeypatch.setenv(
        "DISTILL_TEST_FAULT", "sigint:18"
    )  # epoch 2 of 2 (13 steps each), best dev from epoch 1
    assert main([*argv, str(tmp_path / "resumed")]) == 130
    monkeypatch.delenv("DISTILL_TEST_FAULT")
    assert main([*argv, str(tmp_path / "resumed")]) == 0
    a, b = (load_file(tmp_path / d / "model.safetensors") for d in ("whole", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    whole, resumed = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("whole", "resumed"))
    assert resumed["student"]["dev"] == whole["student"]["dev"]
    assert resumed["stages"][0]["dev_history"] == whole["stages"][0]["dev_history"]
    # the tracking files hold every step once: what the interrupted process wrote after its last
    # checkpoint (step 16) was dropped, and the resumed steps are the uninterrupted run's
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lines = {d: (tmp_path / d / "metrics.jsonl").read_text().splitlines() for d in ("whole", "resumed")}
    steps = {d: [json.loads(x) for x in v if '"event": "step"' in x] for d, v in lines.items()}
    assert [e["step"] for e in steps["resumed"]] == [e["step"] for e in steps["whole"]] == list(range(1, 27))
    assert [e["loss"] for e in steps["resumed"]] == [e["loss"] for e in steps["whole"]]
    acc = EventAccumulator(str(tmp_path / "resumed" / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/total")] == list(range(1, 27))

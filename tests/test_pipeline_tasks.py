"""A regression and a multi-label recipe through every pipeline step kind: the labels are carried
by augmentation, the pruned model recovers with its task's default objective, export verifies and
bench scores each model by its task (Pearson r; micro-F1 at the thresholds saved with the model),
and deploy writes the kind bench recommends, which scores as bench measured it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distill.cli import main
from distill.compress.bench import BenchSettings
from distill.compress.deployment import load_deployment
from distill.compress.evalset import encode_batches, read_eval_set
from distill.compress.scoring import task_of_model
from distill.compress.sources import label2id_of
from tests.conftest import write_csv
from tests.distill.test_multilabel import STUDENT as TAG_STUDENT
from tests.distill.test_multilabel import TEACHER as TAG_TEACHER
from tests.distill.test_multilabel import tagged_rows
from tests.distill.test_regression_run import configs as regression_configs

STEPS = """
  - {name: data, kind: data}
  - {name: teacher, kind: teacher, inputs: {data: data}}
  - {name: augment, kind: augment, config: CFG/augment.yaml, inputs: {data: data}}
  - {name: distill, kind: distill, config: CFG/student.yaml, inputs: {teacher: teacher, data: augment}}
  - name: compress
    kind: compress
    inputs: {model: distill, data: data}
    options: {prune_ffn: 0.5, recover_epochs: 1}
  - {name: export, kind: export, inputs: {model: distill, data: data}, options: {int8: static, min_agreement_int8: 0.8}}
  - name: bench
    kind: bench
    inputs: {student: distill, teacher: teacher, models: [compress], data: data}
    options:
      kinds: [torch-fp32, ort-int8-dynamic]
      eval_split: dev
      batch_sizes: [1, 4]
      seq_lens: [16]
      warmup: 1
      reps: 2
      max_seconds: 1
  - {name: deploy, kind: deploy, inputs: {bench: bench, model: distill, data: data}, options: {min_agreement_int8: 0.5}}
"""

# task -> (the distill step's primary metric, the recovery objective compress uses by default)
EXPECTED = {"regression": ("pearson", "logit_mse"), "multi_label": ("micro_f1", "soft_bce")}


def recipe(tmp_path, model, task: str):
    if task == "regression":
        teacher, _ = regression_configs(tmp_path, model)
        student = tmp_path / "student.yaml"
    else:
        data = write_csv(tmp_path / "tags.csv", [(t, ";".join(y)) for t, y in tagged_rows()])
        teacher = tmp_path / "teacher.yaml"
        teacher.write_text(TAG_TEACHER.format(model=model, data=data, cache=tmp_path / "cache"))
        student = tmp_path / "student.yaml"
        student.write_text(TAG_STUDENT)
    (tmp_path / "augment.yaml").write_text(
        "seed: 0\nn_iter: 1\nstrategies:\n  - {name: masking, p_mask: 0.3}\n"
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"name: tiny-{task}\nteacher: {teacher}\noutput: {tmp_path / 'out'}\nsteps:"
        + STEPS.replace("CFG", str(tmp_path))
    )
    return path


def step_dir(tmp_path, name: str):
    (found,) = (tmp_path / "out").glob(f"{name}-*")
    return found


@pytest.mark.parametrize("task", ["regression", "multi_label"])
def test_every_step_kind_takes_the_task(tmp_path, tiny_encoder_dir, capsys, task):
    metric, recovery = EXPECTED[task]
    assert main(["pipeline", str(recipe(tmp_path, tiny_encoder_dir, task))]) == 0
    capsys.readouterr()

    data = [json.loads(x) for x in (step_dir(tmp_path, "augment") / "train.jsonl").read_text().splitlines()]
    originals = [json.loads(x) for x in (step_dir(tmp_path, "data") / "train.jsonl").read_text().splitlines()]
    assert len(data) > len(originals)  # copies, each with the label of its row

    def label(row):  # the augment runner carries a number or a list as a column of text, its JSON
        return json.dumps(json.loads(row["label"]) if isinstance(row["label"], str) else row["label"])

    assert {label(r) for r in data} == {label(r) for r in originals}
    m = json.loads((step_dir(tmp_path, "distill") / "model" / "metrics.json").read_text())
    assert m["task"] == task

    compressed = json.loads((step_dir(tmp_path, "compress") / "model" / "compress.json").read_text())
    assert list(compressed["recovery"]["objectives"]) == [recovery]
    assert compressed["verify"]["task"] == task and compressed["verify"]["score_candidate"] is not None

    verified = json.loads((step_dir(tmp_path, "export") / "onnx" / "verify.json").read_text())
    graph = verified["graphs"]["model.int8.onnx"]
    assert graph["task"] == task and graph["metric"] == metric and graph["score_delta"] is not None
    assert verified["graphs"]["model.onnx"]["agreement"] == 1.0  # the FP32 graph decides as PyTorch

    report = json.loads((step_dir(tmp_path, "bench") / "report" / "report.json").read_text())
    assert report["metric"] == metric and task.split("_")[0] in report["task"]
    student = next(v for v in report["variants"] if v["name"] == "distill/torch-fp32")
    assert student["metric"] == metric and student["accuracy"] is None
    # bench scores the student on the dev split as `distill run` did: at its saved thresholds
    assert student["score"] == pytest.approx(m["student"]["dev"][metric], abs=1e-5)
    teacher = next(v for v in report["variants"] if v["name"] == "teacher/torch-fp32")
    assert teacher["score"] == pytest.approx(m["teacher"]["dev"][metric], abs=1e-5)
    assert all(v["score"] is not None and v["agreement_with_fp32"] is not None for v in report["variants"])
    md = (step_dir(tmp_path, "bench") / "report" / "report.md").read_text()
    assert ("Pearson r ×100" if task == "regression" else "micro-F1 %") in md

    deployed = step_dir(tmp_path, "deploy") / "deploy"
    info = json.loads((deployed / "deploy.json").read_text())
    (pick,) = [r for r in report["recommended"] if r["source"] == "distill"]
    assert (info["kind"], info["device"], info["why"]) == (pick["kind"], "cpu", pick["why"])
    measured = next(v for v in report["variants"] if v["name"] == pick["variant"])
    assert info["measured"]["score"] == measured["score"]
    # what is served is what was measured: its outputs on the dev split score as bench scored them
    predict, tokenizer, _ = load_deployment(deployed)
    config = deployed / ("onnx" if info["runtime"] == "ort" else "model")  # its config.json
    dev = read_eval_set(step_dir(tmp_path, "data") / "dev.jsonl", label2id=label2id_of(config), task=task)
    types = "token_type_ids" in tokenizer.model_input_names
    # bench's eval batches: dynamic INT8 scales activations per batch
    batches = encode_batches(tokenizer, dev.texts, None, 16, BenchSettings().eval_batch_size, types)
    out = np.concatenate([predict(*b) for b in batches])
    assert task_of_model(config).scores(out, dev.labels)[metric] == pytest.approx(measured["score"], abs=1e-6)

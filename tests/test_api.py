"""``import distill; distill.run(teacher, student)``: YAML paths, dicts or config objects, the CLI's errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

import distill
from distill.cli import main
from distill.config import load_student_config, load_teacher_config
from distill.core.errors import ConfigError
from tests.distill.test_run import configs


def test_the_api_with_dicts_gives_the_clis_metrics(tmp_path, tiny_encoder_dir):
    teacher, student = configs(tmp_path, tiny_encoder_dir, width=32, heads=4, ffn=64)
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())

    result = distill.run(
        yaml.safe_load(teacher.read_text()), yaml.safe_load(student.read_text()), output_dir=tmp_path / "api"
    )
    assert result.output_dir == tmp_path / "api"
    m = result.metrics
    assert m == json.loads((tmp_path / "api" / "metrics.json").read_text())
    for role in ("teacher", "student"):
        assert m[role]["dev"] == cli[role]["dev"] and m[role]["test"] == cli[role]["test"]
    assert m["layer_map"] == cli["layer_map"] and m["stages"][0]["steps"] == cli["stages"][0]["steps"]
    assert result.model.config.num_labels == 2 and result.tokenizer("a b").input_ids
    assert "dev accuracy" in result.summary and "<pre>" in result._repr_html_()


def test_without_logging_configured_the_log_goes_to_stderr(tmp_path, tiny_encoder_dir):
    # as in a fresh notebook: no handler anywhere (pytest's own capture handlers are on this process's root)
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    code = f"import distill; distill.validate({str(teacher)!r}, {str(student)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "INFO data: task classification (" in done.stderr


def test_config_objects_and_dicts_are_validated_as_files_are(tmp_path, tiny_encoder_dir):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    facts = distill.validate(load_teacher_config(teacher), load_student_config(student))
    assert set(facts) >= {"lengths", "step_budget"}
    bad = yaml.safe_load(student.read_text())
    bad["batch_sise"] = 8
    with pytest.raises(ConfigError) as e:
        distill.validate(teacher, bad)
    assert str(e.value).startswith("student (dict): batch_sise: unknown key") and "batch_size" in str(e.value)
    with pytest.raises(ConfigError, match=r"^teacher \(dict\): model: missing required key"):
        distill.run({"name": "t", "data": {"source": "embedded:tweets"}}, student)
    with pytest.raises(
        ConfigError, match="teacher: expected a YAML path, a dict or a TeacherConfig, got int"
    ):
        distill.run(3, student)


def test_import_distill_is_light_and_names_what_it_has():
    with pytest.raises(AttributeError, match="module 'distill' has no attribute 'runn'"):
        distill.runn  # noqa: B018
    assert distill.run.__module__ == "distill.api"


def test_a_dataframe_and_a_dataset_give_the_metrics_of_the_same_rows_as_a_file(tmp_path, tiny_encoder_dir):
    """data.source as a pandas DataFrame, a datasets.Dataset or a DatasetDict: the same splits, so
    the same teacher, student and metrics as the CSV they were read from."""
    import datasets
    import pandas as pd

    teacher, student = configs(tmp_path, tiny_encoder_dir, width=32, heads=4, ffn=64)
    t, s = yaml.safe_load(teacher.read_text()), yaml.safe_load(student.read_text())
    file = distill.run(t, s, output_dir=tmp_path / "file").metrics
    frame = pd.read_csv(t["data"]["source"])
    runs = {
        "frame": {**t, "data": {**t["data"], "source": frame}},
        "dataset": {**t, "data": {**t["data"], "source": datasets.Dataset.from_pandas(frame)}},
    }
    for name, cfg in runs.items():
        m = distill.run(cfg, s, output_dir=tmp_path / name).metrics
        assert m["data"]["train"] == file["data"]["train"] and m["data"]["labels"] == file["data"]["labels"]
        for role in ("teacher", "student"):
            assert m[role]["dev"] == file[role]["dev"] and m[role]["test"] == file[role]["test"]
    # a DatasetDict: its train / validation / test splits are the three files
    rows = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_pandas(rows[:40]),
            "validation": datasets.Dataset.from_pandas(rows[40:52]),
            "test": datasets.Dataset.from_pandas(rows[52:]),
        }
    )
    facts = distill.validate({**t, "data": {"source": splits}}, s)
    assert {k: v["examples"] for k, v in facts["lengths"].items()} == {"train": 40, "dev": 12, "test": 12}
    with pytest.raises(ConfigError, match="a DatasetDict without a train split"):
        distill.validate({**t, "data": {"source": datasets.DatasetDict({"test": splits["test"]})}}, s)


def test_the_other_commands_are_functions_too(tmp_path):
    from distill.compress import api as compress_api
    from distill.distillation.general import general_distill  # noqa: F401  (what distill.general calls)

    assert (distill.compress_model, distill.export_model, distill.benchmark) == (
        compress_api.compress_model,
        compress_api.export_model,
        compress_api.benchmark,
    )
    plan = distill.run_pipeline("experiments/recipes/tinybert.yaml", dry_run=True)
    assert [p.step.name for p in plan][:2] == ["data", "teacher"]
    assert callable(distill.general)

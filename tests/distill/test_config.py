"""Config validation: one test per class of error, asserting the exact message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from distill.cli import main
from distill.config import load_student_config, load_teacher_config
from distill.core.errors import ConfigError
from tests.conftest import toy_rows, write_csv

STUDENT = """
name: s
architecture: {preset: tinybert4}
stages:
  - name: intermediate
    objectives:
      attn: {weight: 1.0}
      hidden: {weight: 1.0}
  - name: prediction
    lr: 5e-5
    objectives:
      pred: {weight: 1.0, temperature: 2}
"""


def write(tmp_path: Path, text: str, name: str = "student.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path, loader=load_student_config) -> str:
    with pytest.raises(ConfigError) as e:
        loader(path)
    return str(e.value)


def test_valid_student_config_and_yaml_exponent(tmp_path):
    cfg = load_student_config(write(tmp_path, STUDENT))
    assert cfg.stages[1].lr == 5e-5  # `5e-5` is a string in YAML 1.1; accepted as the number
    assert cfg.stages[1].objectives["pred"].temperature == 2.0
    assert cfg.architecture.resolved(384, 12) == {
        "num_layers": 4,
        "hidden_size": 312,
        "num_heads": 12,
        "intermediate_size": 1200,
    }


def test_wrong_type_names_key_expected_and_value(tmp_path):
    p = write(tmp_path, STUDENT.replace("attn: {weight: 1.0}", "attn: {weight: high}"))
    assert error_of(p) == f'{p}: stages.0.objectives.attn.weight: expected a number >= 0, got "high"'


def test_out_of_range(tmp_path):
    p = write(tmp_path, STUDENT.replace("temperature: 2", "temperature: 0"))
    assert error_of(p) == f"{p}: stages.1.objectives.pred.temperature: expected a number > 0, got 0"


def test_unknown_key_with_did_you_mean(tmp_path):
    p = write(tmp_path, STUDENT.replace("lr: 5e-5", "lr_rate: 5e-5"))
    assert error_of(p) == f"{p}: stages.1.lr_rate: unknown key; did you mean 'lr'?"


def test_unknown_objective_with_did_you_mean(tmp_path):
    p = write(tmp_path, STUDENT.replace("hidden: {weight: 1.0}", "hiden: {weight: 1.0}"))
    assert error_of(p) == f"{p}: stages.0.objectives.hiden: unknown objective; did you mean 'hidden'?"


def test_unknown_objective_parameter(tmp_path):
    p = write(tmp_path, STUDENT.replace("attn: {weight: 1.0}", "attn: {weight: 1.0, temprature: 2}"))
    assert (
        error_of(p) == f"{p}: stages.0.objectives.attn.temprature: unknown key; allowed keys: heads, weight"
    )


def test_bad_choice_lists_allowed_values(tmp_path):
    p = write(tmp_path, STUDENT.replace("preset: tinybert4", "preset: tinybert5"))
    assert (
        error_of(p)
        == f"{p}: architecture.preset: expected one of 'tinybert4', 'tinybert6', got \"tinybert5\""
    )


def test_missing_required_key(tmp_path):
    p = write(tmp_path, STUDENT.replace("name: s\n", ""))
    assert error_of(p) == f"{p}: name: missing required key"


def test_architecture_needs_a_shape(tmp_path):
    p = write(tmp_path, STUDENT.replace("{preset: tinybert4}", "{family: tinybert}"))
    assert (
        error_of(p)
        == f'{p}: architecture: set `preset` (tinybert4, tinybert6) or `num_layers`, got {{"family": "tinybert"}}'
    )


def test_invalid_yaml_syntax_names_line(tmp_path):
    p = write(tmp_path, "name: s\nstages: [\n  - a: 1\n  b\n")
    assert error_of(p).startswith(f"{p}: line ")
    assert "invalid YAML" in error_of(p)


def test_empty_and_missing_files(tmp_path):
    assert (
        error_of(write(tmp_path, ""))
        == f"{tmp_path / 'student.yaml'}: file is empty, expected a mapping of keys to values"
    )
    assert error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file"


def test_teacher_config_errors(tmp_path):
    p = write(
        tmp_path, "name: t\nmodel: x\ndata: {source: embedded:tweets, split: {dev: 1.5}}\n", "teacher.yaml"
    )
    assert error_of(p, load_teacher_config) == f"{p}: data.split.dev: expected a number in [0, 1], got 1.5"
    p = write(tmp_path, "name: t\nmodel: x\ndata: {source: a.csv, format: xlsx}\n", "teacher.yaml")
    assert error_of(p, load_teacher_config) == (
        f"{p}: data.format: expected one of 'auto', 'csv', 'tsv', 'glue', 'jsonl', 'disk', got \"xlsx\""
    )


def test_validate_command_exit_code_and_one_line(tmp_path, capsys, tiny_encoder_dir):
    data = write_csv(tmp_path / "toy.csv", toy_rows(20))
    teacher = write(
        tmp_path,
        f"name: t\nmodel: {tiny_encoder_dir}\nmax_length: 16\ndata: {{source: {data}}}\n",
        "teacher.yaml",
    )
    bad = write(tmp_path, STUDENT.replace("attn: {weight: 1.0}", "attn: {weight: high}"))
    assert main(["validate", str(teacher), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f'error: {bad}: stages.0.objectives.attn.weight: expected a number >= 0, got "high"'
    # a layer map that references a missing teacher layer (the tiny teacher has 4 layers)
    good = write(tmp_path, STUDENT + "layer_map: [1, 2, 3, 5]\n", "s2.yaml")
    assert main(["validate", str(teacher), str(good)]) == 2
    assert "layer_map.3: teacher layer 5 does not exist; expected 1..4" in capsys.readouterr().err
    ok = write(
        tmp_path,
        STUDENT.replace("{preset: tinybert4}", "{num_layers: 2, hidden_size: 16, num_heads: 2}"),
        "s3.yaml",
    )
    assert main(["validate", str(teacher), str(ok)]) == 0
    out = capsys.readouterr().out
    assert "student 2 layers x 16 (2 heads, FFN 64), layer map [2, 4]" in out
    # validate reads the data, and tokenizes it as the teacher would
    ok_line, lengths = out.strip().splitlines()
    assert ok_line.endswith("data: train 16, dev 2, test 2, labels negative, positive")
    assert lengths.startswith("tokens per example (teacher tokenizer, max_length 16): train p50 ")


def test_max_length_beyond_the_teachers_positions(tmp_path, capsys, tiny_encoder_dir):
    teacher = write(
        tmp_path,
        f"name: t\nmodel: {tiny_encoder_dir}\nmax_length: 65\ndata: {{source: x.csv}}\n",
        "teacher.yaml",
    )
    assert main(["validate", str(teacher), str(write(tmp_path, STUDENT))]) == 2
    assert capsys.readouterr().err == (
        f"error: {teacher}: max_length: expected at most 64 (the model's max_position_embeddings), got 65\n"
    )


def test_head_mismatch_with_per_head_is_a_config_error(tmp_path, capsys, tiny_encoder_dir):
    teacher = write(
        tmp_path,
        f"name: t\nmodel: {tiny_encoder_dir}\nmax_length: 16\ndata: {{source: x.csv}}\n",
        "teacher.yaml",
    )
    s = STUDENT.replace("{preset: tinybert4}", "{num_layers: 2, hidden_size: 16, num_heads: 2}")
    s = s.replace("attn: {weight: 1.0}", "attn: {weight: 1.0, heads: per_head}")
    assert main(["validate", str(teacher), str(write(tmp_path, s))]) == 2
    assert (
        "stages.0.objectives.attn: heads: per_head needs equal head counts, the student has 2 and the teacher 4"
        in capsys.readouterr().err
    )


def test_unloadable_teacher_model(tmp_path, capsys):
    teacher = write(
        tmp_path, f"name: t\nmodel: {tmp_path / 'missing'}\ndata: {{source: x.csv}}\n", "teacher.yaml"
    )
    assert main(["validate", str(teacher), str(write(tmp_path, STUDENT))]) == 2
    # an absolute path is no hub id
    assert capsys.readouterr().err == f"error: {teacher}: model: no folder {tmp_path / 'missing'}\n"
    (tmp_path / "empty").mkdir()  # a folder that exists but holds no model
    teacher.write_text(f"name: t\nmodel: {tmp_path / 'empty'}\ndata: {{source: x.csv}}\n")
    assert main(["validate", str(teacher), str(write(tmp_path, STUDENT))]) == 2
    assert (
        f"error: {teacher}: model: cannot load {str(tmp_path / 'empty')!r} as a local folder"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "model, expected",
    [
        (
            "models/bert-clss",
            "model: no folder models/bert-clss (models/ exists: did you mean models/bert-cls?) and not loadable as a hub id: ",
        ),
        ("models/zzz", "model: no folder models/zzz (models/ exists) and not loadable as a hub id: "),
        ("./models/bert-clss", "model: no folder ./models/bert-clss: did you mean models/bert-cls?"),
        ("models/bert-clss/", "model: no folder models/bert-clss/: did you mean models/bert-cls?"),
        ("~/no-such-model-folder-xyz", "model: no folder ~/no-such-model-folder-xyz"),
        (
            "some-org/some-model",
            "model: cannot load 'some-org/some-model' as a hub id (needs the model hub or its local cache): ",
        ),
    ],
)
def test_a_misspelled_model_folder_is_named_as_a_folder(tmp_path, capsys, monkeypatch, model, expected):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "bert-cls").mkdir(parents=True)
    teacher = write(tmp_path, f"name: t\nmodel: {model}\ndata: {{source: x.csv}}\n", "teacher.yaml")
    assert main(["validate", str(teacher), str(write(tmp_path, STUDENT))]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {teacher}: {expected}") and len(err.splitlines()) == 1, err
    if "hub id:" in expected:
        assert "offline" in err.lower() or "connect" in err.lower() or "cache" in err.lower(), err

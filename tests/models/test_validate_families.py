"""`distill validate` knows what the run will hit: families the adapters do not handle are one line
with exit 2, before any teacher is fine-tuned; every registered family validates."""

from __future__ import annotations

import textwrap

import pytest
import torch
from transformers import AutoModel, XLMConfig

from distill.cli import main
from distill.models.adapters import model_types
from tests.conftest import TINY_TEACHER_YAML, tiny_tokenizer, toy_rows, write_csv
from tests.family_helpers import CONFIGS, save_encoder

STUDENT = """
name: s
architecture: {family: tinybert, num_layers: 2, hidden_size: 16, num_heads: 4, intermediate_size: 32}
init: teacher
stages:
  - {name: all, epochs: 1, lr: 1.0e-3, objectives: {emb: {}, hidden: {}, attn: {}, relation: {}, pred: {}}}
"""


def _teacher_yaml(tmp_path, model) -> str:
    data = write_csv(tmp_path / "toy.csv", toy_rows(32))
    path = tmp_path / "teacher.yaml"
    path.write_text(
        textwrap.dedent(TINY_TEACHER_YAML.format(name="t", model=model, data=data, cache=tmp_path / "c"))
    )
    return str(path)


def _student_yaml(tmp_path, text: str = STUDENT) -> str:
    path = tmp_path / "student.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("family", sorted(CONFIGS))
@pytest.mark.parametrize("student_family", ["tinybert", "distilbert"])
def test_every_family_validates_with_both_students(family, student_family, tmp_path, capsys):
    teacher = _teacher_yaml(tmp_path, save_encoder(family, tmp_path / family))
    text = (
        STUDENT
        if student_family == "tinybert"
        else STUDENT.replace(
            "{family: tinybert, num_layers: 2, hidden_size: 16, num_heads: 4, intermediate_size: 32}",
            "{family: distilbert, num_layers: 2}",
        )
    )
    assert main(["validate", teacher, _student_yaml(tmp_path, text)]) == 0, capsys.readouterr().err


def test_a_family_without_an_adapter_is_one_line_naming_the_closest(tmp_path, capsys):
    folder = tmp_path / "xlm"
    torch.manual_seed(0)
    AutoModel.from_config(XLMConfig(vocab_size=36, emb_dim=32, n_layers=2, n_heads=4)).save_pretrained(folder)
    tiny_tokenizer(folder).save_pretrained(folder)
    teacher = _teacher_yaml(tmp_path, folder)
    assert main(["validate", teacher, _student_yaml(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {teacher}: model {str(folder)!r}: model_type 'xlm' is not a supported encoder family; "
        f"closest: 'xlm-roberta'; supported: {', '.join(model_types())}\n"
    )


def test_albert_with_inner_groups_is_refused_at_validate(tmp_path, capsys):
    folder = tmp_path / "albert"
    cfg = CONFIGS["albert"]()
    cfg.inner_group_num = 2
    AutoModel.from_config(cfg).save_pretrained(folder)
    tiny_tokenizer(folder).save_pretrained(folder)
    teacher = _teacher_yaml(tmp_path, folder)
    assert main(["validate", teacher, _student_yaml(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {teacher}: model {str(folder)!r}: ALBERT with inner_group_num 2 (only 1 is handled: "
        "one block per step)\n"
    )

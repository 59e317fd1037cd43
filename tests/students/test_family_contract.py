"""What every registered student family promises, checked for each one in ``students.STUDENTS``:
its smallest ``architecture:`` block validates as its own schema, resolves against a tiny teacher
to a StudentShape, is described in one line, builds, saves, and loads back through
``students.load`` with the same logits."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from transformers import BertForSequenceClassification

import students
from distill.config import ArchitectureConfig, StudentConfig
from distill.core.errors import ConfigError
from distill.core.schema import validate
from distill.models.layer_map import resolve_layer_map
from distill.objectives import ModelDims
from students import STUDENTS, BuildRequest, StudentShape
from students.family import saved_family
from tests.conftest import WORDS, tiny_config, tiny_tokenizer

TEXTS = [" ".join(WORDS[i : i + 4]) for i in range(0, 12, 2)]


def test_the_registry_holds_the_families_in_order():
    assert students.family_names() == list(students.FAMILIES) == ["tinybert", "distilbert", "bilstm"]
    assert all(STUDENTS.get(n).name == n for n in STUDENTS)


@pytest.fixture
def teacher(tmp_path):
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(num_labels=2)).eval()
    return model, tiny_tokenizer(tmp_path / "teacher-vocab")


@pytest.mark.parametrize("name", STUDENTS.names())
def test_family_builds_saves_and_loads_back(name, teacher, tmp_path):
    family = STUDENTS.get(name)
    t_model, t_tok = teacher
    t = t_model.config
    arch = ArchitectureConfig(**family.minimal)
    assert type(arch) is family.schema and arch.family == name and arch.student_family is family

    shape = arch.shape(t.hidden_size, t.num_attention_heads, t.num_hidden_layers, t.intermediate_size)
    assert isinstance(shape, StudentShape)
    assert (
        arch.resolved(t.hidden_size, t.num_attention_heads, t.num_hidden_layers, t.intermediate_size)
        == shape.as_dict()
    )
    assert shape.dims() == ModelDims(shape.hidden_size, shape.num_heads, shape.num_layers)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shape.num_layers = 1
    layer_map = (
        resolve_layer_map("uniform", shape.num_layers, t.num_hidden_layers, "s.yaml")
        if family.is_transformer
        else []
    )
    line = family.describe(arch, shape, layer_map)
    assert line.strip() and "\n" not in line
    assert "logits" in family.features and family.general == (family.build_encoder is not None)

    torch.manual_seed(0)
    built = students.build(
        BuildRequest(
            arch=arch,
            shape=shape,
            teacher=t_model,
            teacher_tokenizer=t_tok,
            label_names=["neg", "pos"],
            texts=TEXTS,
            pair=False,
            init="teacher",
            layer_map=layer_map,
            source="s.yaml",
        )
    )
    assert built.own_tokenizer == (family.model_type is not None)
    folder = tmp_path / "student"
    built.model.save_pretrained(folder)
    built.tokenizer.save_pretrained(folder)
    saved_type = json.loads((folder / "config.json").read_text())["model_type"]
    assert saved_family(saved_type) is (family if family.model_type else None)

    model, tok = students.load(folder)
    enc = built.tokenizer(TEXTS, truncation=True, max_length=16, padding=True, return_tensors="pt")
    assert {
        k: v.tolist()
        for k, v in tok(TEXTS, truncation=True, max_length=16, padding=True, return_tensors="pt").items()
    } == {k: v.tolist() for k, v in enc.items()}
    with torch.no_grad():
        before, after = built.model.eval()(**enc).logits, model.eval()(**enc).logits
    assert before.shape == (len(TEXTS), 2) and torch.allclose(before, after, atol=1e-6, rtol=0)
    again, _ = family.load(folder)
    with torch.no_grad():
        assert torch.equal(again.eval()(**enc).logits, after)

    if family.general:  # general distillation trains the bare encoder of the same shape
        encoder = family.build_encoder(arch, shape, t)
        assert (encoder.config.num_hidden_layers, encoder.config.hidden_size) == (
            shape.num_layers,
            shape.hidden_size,
        )


def test_shape_order_is_only_for_the_resolved_yaml():
    a = StudentShape.of({"num_layers": 2, "intermediate_size": 64, "hidden_size": 32, "num_heads": 4})
    b = StudentShape(2, 32, 4, 64)
    assert a == b and list(a.as_dict()) == ["num_layers", "intermediate_size", "hidden_size", "num_heads"]
    assert list(b.as_dict()) == ["num_layers", "hidden_size", "num_heads", "intermediate_size"]


def _error(architecture) -> str:
    raw = {"name": "s", "architecture": architecture, "stages": [{"name": "a", "objectives": {"kd_kl": {}}}]}
    with pytest.raises(ConfigError) as e:
        validate(StudentConfig, raw, "s.yaml")
    return str(e.value)


@pytest.mark.parametrize("name", STUDENTS.names())
def test_errors_name_the_key_as_written_whatever_the_family(name):
    # Each family's block is its own schema, chosen by `family`; the path shows no trace of that choice.
    minimal = STUDENTS.get(name).minimal
    assert (
        _error({**minimal, "num_layerz": 2})
        == "s.yaml: architecture.num_layerz: unknown key; did you mean 'num_layers'?"
    )
    assert _error({**minimal, "init_layers": ["x"]}).startswith(
        "s.yaml: architecture.init_layers.0: expected an integer >= 1"
    )
    assert _error(7) == "s.yaml: architecture: expected a mapping of keys to values, got 7"


def test_an_unknown_family_lists_the_registered_ones():
    assert (
        _error({"family": "lstm"})
        == "s.yaml: architecture.family: expected one of 'tinybert', 'distilbert', 'bilstm', got \"lstm\""
    )
    assert (
        _error({"family": ["x"]})
        == "s.yaml: architecture.family: expected one of 'tinybert', 'distilbert', 'bilstm', got [\"x\"]"
    )

"""``layer_map: importance``: Block Importance of the teacher's layers (distill/models/layer_importance.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from distill.cli import main
from distill.models.layer_importance import block_importance, describe, importance_map
from tests.distill.test_run import configs


class _States(nn.Module):
    """A stand-in teacher whose hidden states are given: it returns them for any input."""

    def __init__(self, states: tuple[torch.Tensor, ...]):
        super().__init__()
        self.config = SimpleNamespace(model_type="bert")
        self.states = states

    def forward(self, input_ids, attention_mask, token_type_ids=None, output_hidden_states=False):
        assert output_hidden_states
        return SimpleNamespace(hidden_states=self.states)


def test_block_importance_is_one_minus_the_mean_cosine_over_real_tokens():
    # (batch 1, seq 3, hidden 2); token 3 is padding, its values must not count
    x0 = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    x1 = x0.clone()  # layer 1 leaves its input as it is: cos 1, BI 0
    x2 = -x1  # layer 2 turns every vector round: cos -1, BI 2
    x3 = torch.tensor([[[0.0, 3.0], [1.0, 1.0], [1.0, -1.0]]])
    teacher = _States((x0, x1, x2, x3))
    mask = torch.tensor([[1, 1, 0]])
    scores = block_importance(
        teacher, [{"input_ids": torch.zeros(1, 3, dtype=torch.long), "attention_mask": mask}]
    )
    # layer 3: x2 = [(-1, 0), (0, -2)] -> x3 = [(0, 3), (1, 1)]: cosines 0 and -2/(2*sqrt 2) = -1/sqrt 2
    expected = [0.0, 2.0, 1 - (0 - 1 / math.sqrt(2)) / 2]
    assert scores == pytest.approx(expected, abs=1e-6)


def test_the_map_keeps_the_most_important_layers_in_order_ties_to_the_deeper():
    assert importance_map([0.1, 0.5, 0.3, 0.4], 2) == [2, 4]
    assert importance_map([0.5, 0.5, 0.1], 1) == [2]
    assert importance_map([0.2, 0.1, 0.3], 3) == [1, 2, 3]
    assert describe([0.25, 0.5], [2]) == "1 0.250, 2* 0.500"


def test_run_with_layer_map_importance_distills_from_the_chosen_layers(tmp_path, tiny_encoder_dir, capsys):
    teacher, student = configs(tmp_path, tiny_encoder_dir, width=32, heads=4, ffn=64)
    student.write_text(student.read_text().replace("init: teacher", "init: teacher\nlayer_map: importance"))
    assert main(["validate", str(teacher), str(student)]) == 0
    assert "layer map importance (chosen when the teacher runs)" in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    scores = m["layer_importance"]
    assert len(scores) == 4 and all(-1e-6 <= s <= 2 for s in scores)  # one per teacher layer
    assert m["layer_map"] == importance_map(scores, 2)
    log = Path(out / "run.log").read_text()
    assert (
        f"layer_map: importance over 32 texts (BI per teacher layer: {describe(scores, m['layer_map'])})"
        in log
    )
    # the student of the teacher's width copied the chosen layers (init.py), not the uniform ones
    a, b = m["layer_map"]
    assert f"layers 1<-{a} 2<-{b} (copied)" in log


def test_a_uniform_run_records_no_layer_importance(tmp_path, tiny_encoder_dir):
    teacher, student = configs(tmp_path, tiny_encoder_dir, width=32, heads=4, ffn=64)
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["layer_importance"] is None and m["layer_map"] == [2, 4]


def test_general_with_layer_map_importance_chooses_on_the_corpus(tmp_path, tiny_encoder_dir, caplog):
    import logging
    import textwrap

    from tests.conftest import toy_rows
    from tests.distill.test_general import STUDENT

    corpus = tmp_path / "texts.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in toy_rows(40, seed=1)))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(f"""
        name: t
        model: {tiny_encoder_dir}
        max_length: 16
        data: {{source: {corpus}}}
        """)
    )
    student = tmp_path / "student.yaml"
    student.write_text(STUDENT.replace("INIT", "random") + "layer_map: importance\n")
    out = tmp_path / "general"
    args = ["general", str(teacher), str(student), "--corpus", str(corpus), "--output-dir", str(out)]
    with caplog.at_level(logging.INFO, logger="distill"):
        assert main([*args, "--epochs", "1", "--batch-size", "8"]) == 0
    r = json.loads((out / "general.json").read_text())
    line = next(m for m in caplog.messages if "layer_map: importance over 40 texts" in m)
    assert line.endswith(f"-> {r['layer_map']}") and len(r["layer_map"]) == 2

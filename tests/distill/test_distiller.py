"""The loop: the teacher runs once per batch, never trains, and is skipped when no objective needs it."""

from __future__ import annotations

import math

import torch
from transformers import BertForSequenceClassification

from distill.config import OptimizerConfig
from distill.data.batching import encode
from distill.data.dataset import TextDataset
from distill.objectives import OBJECTIVES, ModelDims
from distill.train.distiller import feature_requests, fit_stage
from tests.conftest import tiny_config, tiny_tokenizer, toy_rows


def objectives(names, s_dims, t_dims):
    return [OBJECTIVES.get(n)(OBJECTIVES.get(n).Params(), s_dims, t_dims) for n in names]


def setup(tmp_path):
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_config(num_labels=2)).eval()
    student = BertForSequenceClassification(
        tiny_config(num_labels=2, hidden_size=16, num_attention_heads=2, num_hidden_layers=2)
    )
    rows = toy_rows(40)
    data = encode(
        TextDataset([t for t, _ in rows], [int(y == "positive") for _, y in rows]),
        tiny_tokenizer(tmp_path),
        16,
    )
    calls = []
    teacher.register_forward_hook(lambda *a: calls.append(1))
    return teacher, student, data, calls


def run(teacher, student, data, objs, epochs=1.0):
    return fit_stage(
        "test",
        student,
        teacher,
        objs,
        [2, 4],
        data,
        None,
        epochs=epochs,
        lr=1e-3,
        optim=OptimizerConfig(),
        batch_size=8,
        eval_batch_size=8,
        seed=0,
        device=torch.device("cpu"),
        num_labels=2,
    )


def test_teacher_runs_once_per_batch_and_never_trains(tmp_path):
    teacher, student, data, calls = setup(tmp_path)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    objs = objectives(["emb", "hidden", "attn", "pred"], ModelDims(16, 2, 2), ModelDims(32, 4, 4))
    result = run(teacher, student, data, objs, epochs=2)
    assert result.steps == 2 * math.ceil(40 / 8) == len(calls)
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert all(p.grad is None for p in teacher.parameters())


def test_hard_label_stage_skips_the_teacher(tmp_path):
    teacher, student, data, calls = setup(tmp_path)
    result = run(teacher, student, data, objectives(["ce"], ModelDims(16, 2, 2), ModelDims(32, 4, 4)))
    assert result.steps == 5 and calls == []


def test_feature_requests_capture_only_what_objectives_need():
    dims = ModelDims(16, 2, 2), ModelDims(32, 4, 4)
    s, t = feature_requests(objectives(["attn", "pred"], *dims), [2, 4])
    assert (s.embeddings, s.hidden_layers, s.attn_layers) == (False, (), (1, 2))
    assert (t.embeddings, t.hidden_layers, t.attn_layers) == (False, (), (2, 4))
    s, t = feature_requests(objectives(["kd_kl"], *dims), [2, 4])
    assert (s.embeddings, s.hidden_layers, s.attn_layers) == (False, (), ())


def test_progress_bar_and_parts_use_the_yaml_names(tmp_path, capsys):
    """The bar shows `ce=…`, the names the user wrote in student.yaml, not `HardCrossEntropy=…`."""
    from distill.models.features import Features
    from distill.train.distiller import total_loss

    teacher, student, data, _ = setup(tmp_path)
    objs = objectives(["pred", "ce", "kd_kl"], ModelDims(16, 2, 2), ModelDims(32, 4, 4))
    assert [o.name for o in objs] == ["pred", "ce", "kd_kl"]
    run(teacher, student, data, objs)
    bar = capsys.readouterr().err
    assert "pred=" in bar and "ce=" in bar and "kd_kl=" in bar
    assert "HardCrossEntropy" not in bar and "SoftCrossEntropy" not in bar
    logits = torch.zeros(2, 2)
    _, parts = total_loss(
        objs, Features(logits, torch.ones(2, 3)), Features(logits, torch.ones(2, 3)), torch.tensor([0, 1])
    )
    assert list(parts) == ["pred", "ce", "kd_kl"]

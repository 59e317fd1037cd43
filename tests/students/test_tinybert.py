"""TinyBERT students: shapes, initialisation from the teacher, save/load round trip."""

from __future__ import annotations

import torch
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from distill.config import PRESETS
from students import build_tinybert, init_from_teacher
from students.init import pca_projection
from tests.conftest import tiny_config


def test_tinybert4_preset_shape_with_bert_vocab():
    teacher_cfg = tiny_config(vocab_size=30522, max_position_embeddings=512)
    model = build_tinybert(PRESETS["tinybert4"], teacher_cfg, ["negative", "positive"])
    c = model.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (
        4,
        312,
        12,
        1200,
    )
    # TinyBERT-4 is "14.5M parameters" in the paper; with a 2-label head:
    assert 14.3e6 < sum(p.numel() for p in model.parameters()) < 14.6e6


def test_same_width_init_copies_mapped_layers():
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_config(num_labels=2))
    student = build_tinybert(
        {"num_layers": 2, "hidden_size": 32, "num_heads": 4, "intermediate_size": 64},
        teacher.config,
        ["a", "b"],
    )
    done = init_from_teacher(student, teacher, [2, 4])
    assert done == [
        "embeddings (copied)",
        "layers 1<-2 2<-4 (copied)",
        "pooler (copied)",
        "classifier (copied)",
    ]
    for s_layer, t_layer in ((0, 1), (1, 3)):
        s_state = student.bert.encoder.layer[s_layer].state_dict()
        t_state = teacher.bert.encoder.layer[t_layer].state_dict()
        assert all(torch.equal(s_state[k], t_state[k]) for k in s_state)
    assert torch.equal(
        student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight
    )


def test_narrow_init_projects_embeddings_on_principal_components():
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_config(num_labels=2))
    student = build_tinybert(
        {"num_layers": 2, "hidden_size": 16, "num_heads": 2, "intermediate_size": 32},
        teacher.config,
        ["a", "b"],
    )
    before = student.bert.encoder.layer[0].attention.self.query.weight.clone()
    assert init_from_teacher(student, teacher, [2, 4]) == ["embeddings (PCA 32->16)"]
    proj = pca_projection(teacher.bert.embeddings.word_embeddings.weight, 16)
    assert proj.shape == (32, 16)
    torch.testing.assert_close(proj.T @ proj, torch.eye(16), atol=1e-5, rtol=0)  # orthonormal directions
    torch.testing.assert_close(
        student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight @ proj
    )
    assert torch.equal(student.bert.encoder.layer[0].attention.self.query.weight, before)  # layers untouched


def test_student_saves_and_loads_with_from_pretrained(tmp_path):
    torch.manual_seed(0)
    student = build_tinybert(
        {"num_layers": 2, "hidden_size": 16, "num_heads": 2, "intermediate_size": 32},
        tiny_config(),
        ["neg", "pos"],
    )
    student.eval().save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    ids = torch.randint(5, 30, (3, 9))
    torch.testing.assert_close(loaded(input_ids=ids).logits, student(input_ids=ids).logits)
    assert loaded.config.id2label == {0: "neg", 1: "pos"}

"""DistilBERT-style students: the teacher's architecture with half its layers, copied layer by layer."""

from __future__ import annotations

import torch
from transformers import BertForSequenceClassification

from distill.config import ArchitectureConfig
from students.distilbert import build_distilbert, copy_teacher_layers
from tests.conftest import tiny_config


def test_every_other_layer_init_copies_the_chosen_teacher_layers():
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_config(num_labels=2)).eval()  # 4 layers
    sizes = ArchitectureConfig(family="distilbert").resolved(32, 4, 4, 64)
    assert sizes == {"num_layers": 2, "hidden_size": 32, "num_heads": 4, "intermediate_size": 64}
    student = build_distilbert(teacher.config, sizes["num_layers"], ["a", "b"]).eval()
    assert type(student) is BertForSequenceClassification and student.config.num_hidden_layers == 2
    notes = copy_teacher_layers(student, teacher, [1, 3])  # DistilBERT's "one layer out of two"
    assert notes[1] == "layers 1<-1 2<-3 (copied)"
    for s_layer, t_layer in ((0, 0), (1, 2)):
        s_state = student.bert.encoder.layer[s_layer].state_dict()
        t_state = teacher.bert.encoder.layer[t_layer].state_dict()
        assert s_state.keys() == t_state.keys() and all(torch.equal(s_state[k], t_state[k]) for k in s_state)
    assert not torch.equal(
        student.bert.encoder.layer[1].output.dense.weight, teacher.bert.encoder.layer[1].output.dense.weight
    )
    assert torch.equal(
        student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight
    )
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    # Copying teacher layers 1..4 into a 4-layer student reproduces the teacher exactly.
    full = build_distilbert(teacher.config, 4, ["a", "b"]).eval()
    copy_teacher_layers(full, teacher, [1, 2, 3, 4])
    ids = torch.randint(5, 30, (2, 6))
    torch.testing.assert_close(full(input_ids=ids).logits, teacher(input_ids=ids).logits)

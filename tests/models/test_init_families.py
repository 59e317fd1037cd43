"""`init: teacher` for TinyBERT-style students (BERTs on the teacher's tokens) of every family."""

from __future__ import annotations

import pytest
import torch

from distill.models.adapters import adapter_of
from students.init import init_from_teacher
from students.tinybert import build_tinybert
from tests.family_helpers import CONFIGS, classifier

SAME_WIDTH = {"num_layers": 2, "hidden_size": 32, "num_heads": 4, "intermediate_size": 64}


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_same_width_student_copies_what_lines_up_exactly(family):
    teacher = classifier(family)
    student = build_tinybert(SAME_WIDTH, teacher.config, ["neg", "pos"]).eval()
    notes = init_from_teacher(student, teacher, [2, 4])
    ta = adapter_of(teacher)
    t_words = ta.word_embeddings(teacher).weight
    s_words = student.bert.embeddings.word_embeddings.weight
    if t_words.shape == s_words.shape:  # ALBERT's and ELECTRA's factorised embeddings are narrower
        assert torch.equal(s_words, t_words)
    t_applied = ta.applied(teacher)
    for m, t in ((1, 2), (2, 4)):
        s_state, t_state = student.bert.encoder.layer[m - 1].state_dict(), t_applied[t - 1].state_dict()
        if s_state.keys() == t_state.keys():  # BERT-layout layers: BERT, RoBERTa, ELECTRA, ERNIE
            assert all(torch.equal(v, t_state[k]) for k, v in s_state.items()), (family, m)
            assert any(n.startswith("layers 1<-2 2<-4") for n in notes), notes


def test_a_different_ffn_copies_no_layer_and_does_not_crash():
    teacher = classifier("bert")
    student = build_tinybert({**SAME_WIDTH, "intermediate_size": 48}, teacher.config, ["neg", "pos"])
    notes = init_from_teacher(student, teacher, [2, 4])
    assert notes[0] == "embeddings (copied)" and not any(n.startswith("layers") for n in notes)

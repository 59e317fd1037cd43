"""MiniLM(v2) self-attention relations: golden values, padding, head-count independence, capture."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import BertForSequenceClassification

from distill.models.features import FeatureRequest, Features, enable_capture, forward_features
from distill.objectives import OBJECTIVES, ModelDims
from distill.objectives.relation import auto_relation_heads, relation_kl, split_relation_heads
from tests.conftest import tiny_config

T = torch.tensor


def test_relation_kl_golden_and_padding():
    s = T([[[[1.0], [0.0]]]])  # (batch 1, heads 1, seq 2, head_dim 1)
    t = torch.zeros(1, 1, 2, 1)
    # student Q Qᵀ = [[1, 0], [0, 0]]: row 0 softmax (e, 1)/(e+1), row 1 uniform; teacher uniform.
    # KL row 0 = log .5 - (.5 (1 - log(1+e)) + .5 (-log(1+e))) = log .5 - .5 + log(1+e); row 1 = 0.
    expected = (math.log(0.5) - 0.5 + math.log(1 + math.e)) / 2
    assert relation_kl(s, t, T([[1, 1]]), 1).item() == pytest.approx(expected, rel=1e-6)
    # token 2 padded: the only real query sees the only real key with probability 1 in both
    assert relation_kl(s, t, T([[1, 0]]), 1).item() == pytest.approx(0.0, abs=1e-7)


def test_relation_heads_compare_any_head_counts():
    # student: 2 heads x dim 1; teacher: 1 head x dim 2 holding the same concatenated vectors
    s = T([[[[1.0], [2.0]], [[0.5], [-1.0]]]])  # (1, 2, 2, 1)
    t = T([[[[1.0, 0.5], [2.0, -1.0]]]])  # (1, 1, 2, 2)
    assert torch.equal(split_relation_heads(s, 1), t)
    assert relation_kl(s, t, T([[1, 1]]), 1).item() == pytest.approx(0.0, abs=1e-7)
    assert split_relation_heads(t, 2).shape == (1, 2, 2, 1)


def test_relation_objective_sums_chosen_relations_of_last_layer():
    cls = OBJECTIVES.get("relation")
    obj = cls(cls.Params(relations=["qq", "vv"], relation_heads=1), ModelDims(1, 1, 1), ModelDims(1, 1, 1))
    s, z = T([[[[1.0], [0.0]]]]), torch.zeros(1, 1, 2, 1)
    one = relation_kl(s, z, T([[1, 1]]), 1).item()
    # layer 1 ignored: layers: last
    feats_s = Features(logits=None, mask=T([[1, 1]]), qkv=[(z, z, z), (s, z, s)])
    feats_t = Features(logits=None, mask=T([[1, 1]]), qkv=[(s, s, s), (z, z, z)])
    assert obj(feats_s, feats_t, None).item() == pytest.approx(2 * one, rel=1e-6)  # qq + vv, kk left out
    assert auto_relation_heads(ModelDims(32, 2, 2), ModelDims(64, 4, 4)) == 4
    assert auto_relation_heads(ModelDims(312, 12, 4), ModelDims(1024, 16, 24)) == 8  # gcd 8, ≤ 12 heads
    with pytest.raises(ValueError, match="relation_heads 3 does not divide the student's width 32"):
        cls(cls.Params(relation_heads=3), ModelDims(32, 2, 2), ModelDims(64, 4, 4))


def test_qkv_capture_is_the_layers_projected_queries_keys_values():
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(num_labels=2)).eval()
    enable_capture(model)
    batch = {"input_ids": torch.randint(5, 30, (2, 5)), "attention_mask": torch.ones(2, 5, dtype=torch.long)}
    with torch.no_grad():
        feats = forward_features(model, batch, FeatureRequest(hidden_layers=(1,), qkv_layers=(2,)))
        plain = model(**batch).logits
    att = model.bert.encoder.layer[1].attention.self
    q, k, v = feats.qkv[0]
    assert len(feats.qkv) == 1 and q.shape == (2, 4, 5, 8) and feats.attn_scores == []
    expected_q = att.query(feats.hidden[0]).view(2, 5, 4, 8).transpose(1, 2)  # layer 2 reads layer 1's output
    torch.testing.assert_close(q, expected_q)
    torch.testing.assert_close(v, att.value(feats.hidden[0]).view(2, 5, 4, 8).transpose(1, 2))
    torch.testing.assert_close(feats.logits, plain)  # recording Q/K/V does not change the output


def test_layers_last_captures_only_the_last_mapped_pair_and_gives_the_same_loss():
    from distill.train.distiller import feature_requests

    cls = OBJECTIVES.get("relation")
    last = cls(cls.Params(relation_heads=1, layers="last"), ModelDims(32, 2, 2), ModelDims(32, 2, 2))
    mapped = cls(cls.Params(relation_heads=1, layers="mapped"), ModelDims(32, 2, 2), ModelDims(32, 2, 2))
    want_s, want_t = feature_requests([last], [2, 4])
    assert (want_s.qkv_layers, want_t.qkv_layers) == ((2,), (4,))
    assert [r.qkv_layers for r in feature_requests([mapped], [2, 4])] == [(1, 2), (2, 4)]
    assert [r.qkv_layers for r in feature_requests([last, mapped], [2, 4])] == [(1, 2), (2, 4)]

    torch.manual_seed(0)
    student = BertForSequenceClassification(tiny_config(num_labels=2, num_hidden_layers=2)).eval()
    teacher = BertForSequenceClassification(tiny_config(num_labels=2, num_hidden_layers=4)).eval()
    enable_capture(student), enable_capture(teacher)
    batch = {"input_ids": torch.randint(5, 30, (2, 6)), "attention_mask": T([[1] * 6, [1] * 4 + [0] * 2])}
    with torch.no_grad():
        only_last = last(
            forward_features(student, batch, want_s), forward_features(teacher, batch, want_t), None
        )
        everything = last(
            forward_features(student, batch, FeatureRequest(qkv_layers=(1, 2))),
            forward_features(teacher, batch, FeatureRequest(qkv_layers=(2, 4))),
            None,
        )
    assert only_last.item() == pytest.approx(everything.item(), rel=1e-6) and only_last.item() > 0

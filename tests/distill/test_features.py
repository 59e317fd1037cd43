"""Captured pre-softmax scores equal a manual Q Kᵀ/√d; capture does not change the model's output."""

from __future__ import annotations

import pytest
import torch
from transformers import BertForSequenceClassification

from distill.core.errors import ConfigError
from distill.models.features import FeatureRequest, enable_capture, forward_features
from distill.models.layer_map import last_map, resolve_layer_map, uniform_map
from tests.conftest import tiny_config


@pytest.fixture
def model_and_batch():
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(num_labels=3)).eval()
    ids = torch.randint(5, 30, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0  # second example is padded
    return model, {"input_ids": ids, "attention_mask": mask}


def manual_scores(model, hidden_in: torch.Tensor, layer: int) -> torch.Tensor:
    """Q Kᵀ / √d computed by hand from the layer's input and its query/key weights."""
    att = model.bert.encoder.layer[layer - 1].attention.self
    b, s, _ = hidden_in.shape
    heads, d = att.num_attention_heads, att.attention_head_size
    q = att.query(hidden_in).view(b, s, heads, d).transpose(1, 2)  # (batch, heads, seq, d)
    k = att.key(hidden_in).view(b, s, heads, d).transpose(1, 2)
    return q @ k.transpose(2, 3) / d**0.5


def test_scores_match_manual_computation(model_and_batch):
    model, batch = model_and_batch
    with torch.no_grad():
        reference = model(**batch, output_hidden_states=True)
        enable_capture(model)
        f = forward_features(
            model, batch, FeatureRequest(embeddings=True, hidden_layers=(2, 4), attn_layers=(1, 3))
        )
    assert len(f.attn_scores) == 2 and f.attn_scores[0].shape == (2, 4, 7, 7)
    for got, layer in zip(f.attn_scores, (1, 3), strict=True):
        # the input of layer L is the output of layer L-1 (hidden_states[L-1])
        expected = manual_scores(model, reference.hidden_states[layer - 1], layer)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(f.logits, reference.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(f.embeddings, reference.hidden_states[0])
    torch.testing.assert_close(f.hidden[1], reference.hidden_states[4])


def test_capture_matches_eager_attention_with_padding(model_and_batch):
    model, batch = model_and_batch
    with torch.no_grad():
        model.config._attn_implementation = "eager"
        eager = model(**batch).logits
        enable_capture(model)
        captured = forward_features(model, batch, FeatureRequest(attn_layers=(1, 2, 3, 4))).logits
        plain = forward_features(model, batch, FeatureRequest()).logits  # unmapped layers use SDPA
    torch.testing.assert_close(captured, eager, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(plain, eager, rtol=1e-5, atol=1e-6)


def test_only_requested_layers_are_recorded(model_and_batch):
    model, batch = model_and_batch
    enable_capture(model)
    with torch.no_grad():
        f = forward_features(model, batch, FeatureRequest(attn_layers=(4,)))
        manual = model(**batch, output_hidden_states=True).hidden_states[3]
    assert len(f.attn_scores) == 1 and f.hidden == [] and f.embeddings is None
    torch.testing.assert_close(f.attn_scores[0], manual_scores(model, manual, 4), rtol=1e-5, atol=1e-5)
    assert not any(hasattr(m, "_kd_sink") for m in model.modules())  # hooks removed after the pass


def test_scores_carry_gradients_to_the_student(model_and_batch):
    model, batch = model_and_batch
    enable_capture(model)
    f = forward_features(model, batch, FeatureRequest(attn_layers=(2,)))
    f.attn_scores[0].pow(2).mean().backward()
    assert model.bert.encoder.layer[1].attention.self.query.weight.grad.abs().sum() > 0


def test_uniform_and_last_maps():
    assert uniform_map(4, 12) == [3, 6, 9, 12]
    assert uniform_map(3, 6) == [2, 4, 6]
    assert uniform_map(4, 6) == [2, 3, 5, 6]
    assert uniform_map(6, 24) == [4, 8, 12, 16, 20, 24]
    assert last_map(2, 6) == [5, 6]
    assert resolve_layer_map([1, 3, 5], 3, 6) == [1, 3, 5]


@pytest.mark.parametrize(
    ("spec", "s", "t", "message"),
    [
        ([1, 7], 2, 6, "layer_map.1: teacher layer 7 does not exist; expected 1..6, got [1, 7]"),
        ([1, 2, 3], 2, 6, "layer_map: 3 entries for a student with 2 layers, got [1, 2, 3]"),
        ([4, 2], 2, 6, "layer_map: teacher layers must increase, got [4, 2]"),
        ("uniform", 8, 6, "layer_map: the student has 8 layers, more than the teacher's 6"),
    ],
)
def test_bad_layer_maps(spec, s, t, message):
    with pytest.raises(ConfigError) as e:
        resolve_layer_map(spec, s, t, "student.yaml")
    assert str(e.value).startswith(f"student.yaml: {message}")

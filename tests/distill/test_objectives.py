"""Golden values for every objective, computed by hand on small fixed tensors."""

from __future__ import annotations

import math

import pytest
import torch

from distill.models.features import Features
from distill.objectives import OBJECTIVES, ModelDims
from distill.objectives.attention import attention_score_mse
from distill.objectives.embedding import embedding_mse
from distill.objectives.hidden import hidden_cosine, hidden_mse
from distill.objectives.prediction import kl_divergence, logit_mse, soft_cross_entropy

T = torch.tensor
E = math.e


def build(
    name: str, student_width: int = 2, teacher_width: int = 2, s_heads: int = 2, t_heads: int = 2, **params
):
    cls = OBJECTIVES.get(name)
    return cls(
        cls.Params(**params), ModelDims(student_width, s_heads, 2), ModelDims(teacher_width, t_heads, 2)
    )


def feats(**kw) -> Features:
    kw.setdefault("logits", torch.zeros(1, 2))
    kw.setdefault("mask", torch.ones(1, 2))
    return Features(**kw)


# --- embeddings and hidden states -------------------------------------------------------------


def test_embedding_mse_golden_and_padding():
    s = T([[[1.0, 2.0], [3.0, 4.0]]])  # (batch 1, seq 2, hidden 2)
    t = T([[[0.0, 2.0], [3.0, 2.0]]])
    # squared errors 1, 0 | 0, 4 -> 5 over 2 tokens x 2 dims
    assert embedding_mse(s, t, T([[1, 1]])).item() == pytest.approx(1.25)
    # second token is padding: only the first token's 1 + 0 over 1 x 2
    assert embedding_mse(s, t, T([[1, 0]])).item() == pytest.approx(0.5)
    obj = build("emb")
    assert obj(feats(embeddings=s), feats(embeddings=t), None).item() == pytest.approx(1.25)


def test_hidden_mse_sums_layers_and_uses_projection():
    s1, t1 = T([[[1.0, 2.0], [3.0, 4.0]]]), T([[[0.0, 2.0], [3.0, 2.0]]])
    s2 = T([[[5.0, 5.0], [5.0, 5.0]]])
    assert hidden_mse([s1, s2], [t1, s2], T([[1, 1]])).item() == pytest.approx(1.25 + 0.0)
    # width 1 -> 2 with W_h = [[2], [1]]: h_S = 1 -> (2, 1); against (2, 3): errors 0, 4 over 1 x 2
    obj = build("hidden", student_width=1, teacher_width=2)
    with torch.no_grad():
        obj.W_h.weight.copy_(T([[2.0], [1.0]]))
        obj.W_h.bias.zero_()
    loss = obj(feats(hidden=[T([[[1.0]]])], mask=T([[1]])), feats(hidden=[T([[[2.0, 3.0]]])]), None)
    assert loss.item() == pytest.approx(2.0)


def test_hidden_cosine_golden():
    s = T([[[1.0, 0.0], [1.0, 1.0]]])
    t = T([[[0.0, 1.0], [2.0, 2.0]]])
    # token 1 orthogonal (1 - 0 = 1), token 2 parallel (0): mean 0.5; with token 2 padded: 1
    assert hidden_cosine(s, t, T([[1, 1]])).item() == pytest.approx(0.5)
    assert hidden_cosine(s, t, T([[0, 1]])).item() == pytest.approx(0.0, abs=1e-6)
    obj = build("hidden_cos")  # layers: last -> only the last pair counts
    other = T([[[9.0, -9.0], [9.0, -9.0]]])
    assert obj(feats(hidden=[other, s]), feats(hidden=[s, t]), None).item() == pytest.approx(0.5)


# --- attention scores -------------------------------------------------------------------------


def test_attention_per_head_with_padding():
    s = torch.zeros(1, 2, 2, 2)  # (batch, heads, seq, seq)
    t = T([[[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.0], [0.0, 0.0]]]])
    # all 4 pairs real: head 0 errors 4 x 1, head 1 one error of 4 -> 8 / (4 pairs x 2 heads)
    assert attention_score_mse(s, t, T([[1, 1]])).item() == pytest.approx(1.0)
    # token 2 padded: only pair (0, 0): 1 + 4 over 1 pair x 2 heads
    assert attention_score_mse(s, t, T([[1, 0]])).item() == pytest.approx(2.5)


def test_attention_head_mean_for_different_head_counts():
    s = torch.zeros(1, 1, 2, 2)
    t = T([[[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.0], [0.0, 0.0]]]])
    # mean over heads: [[1.5, .5], [.5, .5]] -> (2.25 + .25 + .25 + .25) / 4
    assert attention_score_mse(s, t, T([[1, 1]]), heads="mean").item() == pytest.approx(0.75)
    obj = build("attn", s_heads=1, t_heads=2)  # heads: auto falls back to mean
    assert obj.heads == "mean"
    assert obj(feats(attn_scores=[s]), feats(attn_scores=[t]), None).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match="per_head needs equal head counts"):
        build("attn", s_heads=1, t_heads=2, heads="per_head")


def test_attention_ignores_float_min_padding_scores():
    # The scores are captured before the mask is added, but even a huge value at a padded position
    # must not leak into the loss.
    s = torch.zeros(1, 1, 2, 2)
    t = T([[[[1.0, -3.4e38], [-3.4e38, -3.4e38]]]])
    assert attention_score_mse(s, t, T([[1, 0]])).item() == pytest.approx(1.0)


# --- predictions ------------------------------------------------------------------------------


def test_soft_cross_entropy_with_temperature():
    # z_T = (2, 0), z_S = (0, 2), t = 2: p_T = softmax(1, 0), log p_S = log_softmax(0, 1)
    p_t = [E / (E + 1), 1 / (E + 1)]
    log_p_s = [-math.log(1 + E), 1 - math.log(1 + E)]
    expected = -(p_t[0] * log_p_s[0] + p_t[1] * log_p_s[1])  # 1.04432...
    got = soft_cross_entropy(T([[0.0, 2.0]]), T([[2.0, 0.0]]), temperature=2.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    obj = build("pred", temperature=2.0)
    assert obj(feats(logits=T([[0.0, 2.0]])), feats(logits=T([[2.0, 0.0]])), None).item() == pytest.approx(
        expected, rel=1e-6
    )


def test_kl_divergence_scaled_by_t_squared():
    p_t = [E / (E + 1), 1 / (E + 1)]
    log_p_t = [1 - math.log(1 + E), -math.log(1 + E)]
    log_p_s = [-math.log(1 + E), 1 - math.log(1 + E)]
    kl = sum(p * (a - b) for p, a, b in zip(p_t, log_p_t, log_p_s, strict=True))  # 0.46211...
    got = kl_divergence(T([[0.0, 2.0]]), T([[2.0, 0.0]]), temperature=2.0)
    assert got.item() == pytest.approx(4 * kl, rel=1e-6)
    assert build("kd_kl", temperature=2.0)(
        feats(logits=T([[0.0, 2.0]])), feats(logits=T([[2.0, 0.0]])), None
    ).item() == pytest.approx(4 * kl, rel=1e-6)


def test_logit_mse_and_hard_ce():
    assert logit_mse(T([[1.0, 2.0]]), T([[3.0, 2.0]])).item() == pytest.approx(2.0)
    ce = build("ce")
    assert ce(feats(logits=T([[0.0, 0.0]])), None, T([1])).item() == pytest.approx(math.log(2))


def test_regression_mse_against_gold_targets_and_the_teachers_prediction():
    # predictions 1, 3 against targets 2, 2.5: ((1 - 2)^2 + (3 - 2.5)^2) / 2 = 0.625
    mse = build("mse")
    assert mse(feats(logits=T([[1.0], [3.0]])), None, T([2.0, 2.5])).item() == pytest.approx(0.625)
    assert mse.tasks == {"regression"} and not mse.uses_teacher
    # TinyBERT's STS-B loss is logit_mse on the one output: (1 - 0)^2 + (3 - 4)^2 over 2 = 1
    assert logit_mse(T([[1.0], [3.0]]), T([[0.0], [4.0]])).item() == pytest.approx(1.0)
    assert "regression" in build("logit_mse").tasks
    assert all(build(n).tasks == {"classification"} for n in ("ce", "pred", "kd_kl"))


def test_registry_names_and_suggestion():
    assert OBJECTIVES.names() == [
        "attn",
        "bce",
        "ce",
        "emb",
        "hidden",
        "hidden_cos",
        "kd_kl",
        "logit_mse",
        "mse",
        "pred",
        "relation",
        "soft_bce",
    ]
    assert OBJECTIVES.suggest("atn") == "did you mean 'attn'?"


def test_attention_mse_compares_only_where_both_scores_are_defined():
    """A windowed layer (ModernBERT's local attention) defines scores only inside its window: pairs
    outside ``valid`` are left out like padding. By hand: teacher [[1, 2], [3, 4]], student zeros."""
    teacher = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    student = torch.zeros_like(teacher)
    mask = torch.ones(1, 2)
    assert attention_score_mse(student, teacher, mask).item() == pytest.approx((1 + 4 + 9 + 16) / 4)
    valid = torch.tensor([[True, True], [True, False]]).view(1, 1, 2, 2)  # pair (1, 1) outside the window
    assert attention_score_mse(student, teacher, mask, valid=valid).item() == pytest.approx((1 + 4 + 9) / 3)

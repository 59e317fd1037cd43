"""MPNet as a teacher: its pre-softmax scores (Q Kᵀ/√d + relative-position bias) are captured
although its attention bypasses AttentionInterface, capture changes no output, students start
from its embeddings with positions aligned, and the teacher-output cache holds its scores."""

from __future__ import annotations

import pytest
import torch
from transformers import BertForSequenceClassification, MPNetForSequenceClassification

from distill.config import TeacherConfig
from distill.core.errors import ConfigError
from distill.data.batching import Encoded, collate
from distill.models.features import FeatureRequest, enable_capture, forward_features
from distill.train.teacher import inspect_teacher
from distill.train.teacher_cache import LiveTeacher, cached_teacher
from students import build_tinybert
from students.distilbert import build_distilbert, copy_teacher_layers
from students.init import init_from_teacher, pca_projection
from tests.mpnet_helpers import save_tiny_mpnet, tiny_mpnet_config, tiny_mpnet_tokenizer


@pytest.fixture
def model_and_batch():
    torch.manual_seed(0)
    model = MPNetForSequenceClassification(tiny_mpnet_config(num_labels=3)).eval()
    with torch.no_grad():
        model.mpnet.encoder.relative_attention_bias.weight.normal_(0.0, 1.0)  # the init leaves it near 0
    batch = dict(
        tiny_mpnet_tokenizer()(["the flight was very late", "great crew"], padding=True, return_tensors="pt")
    )
    assert batch["input_ids"].shape == (2, 7) and batch["attention_mask"][1].tolist() == [1, 1, 1, 1, 0, 0, 0]
    return model, batch


def hand_scores(model, hidden_in: torch.Tensor, layer: int) -> torch.Tensor:
    """Q Kᵀ/√d + B by hand. For sequences shorter than 8 MPNet's bucket of (query i, key j) is
    |i - j|, plus 16 when the key comes after the query; B[h, i, j] = bias[bucket, h]."""
    att = model.mpnet.encoder.layer[layer - 1].attention.attn
    b, s, _ = hidden_in.shape
    heads, d = att.num_attention_heads, att.attention_head_size
    q = att.q(hidden_in).view(b, s, heads, d).transpose(1, 2)  # (batch, heads, seq, d)
    k = att.k(hidden_in).view(b, s, heads, d).transpose(1, 2)
    i, j = torch.arange(s)[:, None], torch.arange(s)[None, :]
    bucket = (i - j).abs() + 16 * (j > i)  # (seq, seq)
    bias = model.mpnet.encoder.relative_attention_bias.weight[bucket].permute(2, 0, 1)  # (heads, seq, seq)
    return q @ k.transpose(2, 3) / d**0.5 + bias


def test_scores_match_hand_computation_with_position_bias(model_and_batch):
    model, batch = model_and_batch
    with torch.no_grad():
        reference = model(**batch, output_hidden_states=True, output_attentions=True)
        enable_capture(model)
        f = forward_features(
            model, batch, FeatureRequest(embeddings=True, hidden_layers=(1, 2), attn_layers=(1, 2))
        )
    assert [tuple(s.shape) for s in f.attn_scores] == [(2, 4, 7, 7), (2, 4, 7, 7)]
    for got, layer in zip(f.attn_scores, (1, 2), strict=True):
        expected = hand_scores(model, reference.hidden_states[layer - 1], layer)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        # what the softmax normalizes: the scores plus the padding mask give HF's own attention weights
        pad = (1 - batch["attention_mask"][:, None, None, :]) * torch.finfo(torch.float32).min
        torch.testing.assert_close(
            torch.softmax(got + pad, -1), reference.attentions[layer - 1], rtol=1e-6, atol=1e-6
        )
    assert torch.equal(f.logits, reference.logits)  # the recording forward is op for op HF's
    assert torch.equal(f.embeddings, reference.hidden_states[0])
    assert all(torch.equal(h, reference.hidden_states[i]) for h, i in zip(f.hidden, (1, 2), strict=True))
    assert not any("forward" in vars(m) or hasattr(m, "_kd_sink") for m in model.modules())  # patch removed


def test_queries_keys_values_and_gradients(model_and_batch):
    model, batch = model_and_batch
    enable_capture(model)
    with torch.no_grad():
        layer_in = model(**batch, output_hidden_states=True).hidden_states[1]  # input of layer 2
    f = forward_features(model, batch, FeatureRequest(attn_layers=(2,), qkv_layers=(2,)))
    q, k, v = f.qkv[0]
    att = model.mpnet.encoder.layer[1].attention.attn
    torch.testing.assert_close(q, att.q(layer_in).view(2, 7, 4, 8).transpose(1, 2), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(v, att.v(layer_in).view(2, 7, 4, 8).transpose(1, 2), rtol=1e-5, atol=1e-6)
    assert k.shape == (2, 4, 7, 8)
    f.attn_scores[0].pow(2).mean().backward()  # an MPNet student (distilbert family) learns through them
    assert att.k.weight.grad.abs().sum() > 0
    assert model.mpnet.encoder.relative_attention_bias.weight.grad.abs().sum() > 0


def test_cached_scores_equal_live_ones_at_other_padding(tmp_path, model_and_batch):
    model, _ = model_and_batch
    lengths = [3, 7, 5, 2, 6]
    data = Encoded(
        [[0, *torch.randint(5, 36, (n - 2,)).tolist(), 2] for n in lengths], None, [0, 1, 2, 1, 0], 1
    )
    request = FeatureRequest(embeddings=True, hidden_layers=(2,), attn_layers=(1, 2))
    cache, calls = cached_teacher(model, data, request, tmp_path, "cpu", batch_size=2)
    assert calls == 3
    indices = [4, 0, 3]  # padded to 6 tokens: not how the cache was filled
    batch = collate(data, indices)
    live, cached = LiveTeacher(model, request)(indices, batch), cache(indices, batch)
    real = batch["attention_mask"].bool()
    # (batch, heads, seq, seq)
    pairs = (real[:, None, :, None] & real[:, None, None, :]).expand(-1, 4, -1, -1)
    for c, v in zip(cached.attn_scores, live.attn_scores, strict=True):
        torch.testing.assert_close(c[pairs], v[pairs], atol=2e-2, rtol=1e-2)  # fp16 in the cache
    torch.testing.assert_close(cached.hidden[0][real], live.hidden[0][real], atol=2e-2, rtol=1e-2)


def test_tinybert_student_gets_mpnet_embeddings_with_positions_aligned(model_and_batch):
    teacher, _ = model_and_batch
    sizes = {"hidden_size": 16, "num_layers": 2, "num_heads": 4, "intermediate_size": 32}
    student = build_tinybert(sizes, teacher.config, ["a", "b", "c"])
    assert student.config.vocab_size == teacher.config.vocab_size and student.config.pad_token_id == 1
    assert init_from_teacher(student, teacher, [1, 2]) == ["embeddings (PCA 32->16)"]
    t_emb, s_emb = teacher.mpnet.embeddings, student.bert.embeddings
    proj = pca_projection(t_emb.word_embeddings.weight, 16)
    torch.testing.assert_close(s_emb.word_embeddings.weight, t_emb.word_embeddings.weight @ proj)
    # BERT position p is MPNet's row p + 2 (MPNet counts positions from padding_idx + 1 = 2)
    torch.testing.assert_close(
        s_emb.position_embeddings.weight[:64], t_emb.position_embeddings.weight[2:] @ proj
    )

    wide = build_tinybert({**sizes, "hidden_size": 32}, teacher.config, ["a", "b", "c"])
    assert init_from_teacher(wide, teacher, [1, 2]) == [
        "word and position embeddings (copied from MPNetEmbeddings)"
    ]
    assert torch.equal(
        wide.bert.embeddings.position_embeddings.weight[:64], t_emb.position_embeddings.weight[2:]
    )
    assert torch.equal(wide.bert.embeddings.LayerNorm.weight, t_emb.LayerNorm.weight)


def test_distilbert_student_of_mpnet_copies_the_relative_position_bias(model_and_batch):
    teacher, batch = model_and_batch
    student = build_distilbert(teacher.config, 2, ["a", "b", "c"]).eval()
    notes = copy_teacher_layers(student, teacher, [1, 2])
    assert notes[-2:] == ["relative_attention_bias (copied)", "classifier (copied)"]
    with torch.no_grad():  # every layer copied: the student is the teacher
        assert torch.equal(student(**batch).logits, teacher(**batch).logits)
    general = build_distilbert(teacher.config, 2, ["a", "b", "c"]).eval()  # `distill general` inits this way
    assert "relative_attention_bias (copied)" in init_from_teacher(general, teacher, [1, 2])
    with torch.no_grad():
        assert torch.equal(general(**batch).logits, teacher(**batch).logits)


def test_max_length_counts_mpnet_position_offset(tmp_path):
    folder = save_tiny_mpnet(tmp_path / "mpnet")  # 66 position rows, positions 2..65
    cfg = TeacherConfig(name="t", model=str(folder), max_length=64, data={"source": "x.csv"})
    assert inspect_teacher(cfg).model_type == "mpnet"
    with pytest.raises(ConfigError) as e:
        inspect_teacher(cfg.model_copy(update={"max_length": 65}))
    assert str(e.value) == (
        "teacher.yaml: max_length: expected at most 64 (the model's max_position_embeddings 66 minus 2: "
        "mpnet numbers positions from 2), got 65"
    )


def test_a_bert_student_is_unaffected(model_and_batch):
    """BertForSequenceClassification keeps the AttentionInterface path: nothing is patched."""
    from tests.conftest import tiny_config

    model = BertForSequenceClassification(tiny_config(num_labels=2)).eval()
    enable_capture(model)
    batch = {"input_ids": torch.randint(5, 30, (2, 5)), "attention_mask": torch.ones(2, 5, dtype=torch.long)}
    with torch.no_grad():
        f = forward_features(model, batch, FeatureRequest(attn_layers=(1,)))
    assert f.attn_scores[0].shape == (2, 4, 5, 5)

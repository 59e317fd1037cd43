"""Teacher-output cache: cached features equal live ones (fp16 aside) at any batch padding; reuse."""

from __future__ import annotations

import torch
from transformers import BertForSequenceClassification

from distill.data.batching import Encoded, collate
from distill.models.features import FeatureRequest
from distill.train.teacher_cache import LiveTeacher, cacheable, cached_teacher
from tests.conftest import tiny_config


def test_cached_features_match_live_and_second_load_runs_no_teacher(tmp_path):
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_config(num_labels=2)).eval()
    lengths = [3, 7, 5, 2, 6]
    data = Encoded([torch.randint(5, 30, (n,)).tolist() for n in lengths], None, [0, 1, 0, 1, 0], 0)
    request = FeatureRequest(embeddings=True, hidden_layers=(2, 4), attn_layers=(4,))
    assert (
        cacheable(request, "all")
        and not cacheable(request, "logits")
        and cacheable(FeatureRequest(), "logits")
    )
    assert not cacheable(FeatureRequest(qkv_layers=(1,)), "all")

    cache, calls = cached_teacher(teacher, data, request, tmp_path, "cpu", batch_size=2)
    assert calls == 3  # 5 examples in batches of 2
    indices = [4, 0, 3]  # a training batch padded to 6 tokens, other than the cache's batches
    batch = collate(data, indices)
    live, cached = LiveTeacher(teacher, request)(indices, batch), cache(indices, batch)
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(cached.logits, live.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cached.embeddings[real], live.embeddings[real], atol=2e-2, rtol=1e-2)  # fp16
    for c, v in zip(cached.hidden, live.hidden, strict=True):
        torch.testing.assert_close(c[real], v[real], atol=2e-2, rtol=1e-2)
    pairs = real[:, None, :, None] & real[:, None, None, :]  # (batch, 1, seq, seq)
    c, v = cached.attn_scores[0], live.attn_scores[0]
    torch.testing.assert_close(c[pairs.expand_as(c)], v[pairs.expand_as(v)], atol=2e-2, rtol=1e-2)
    # example 0: 3 tokens
    assert c[1, :, 3:, :].abs().sum().item() == 0 and c[1, :, :, 3:].abs().sum().item() == 0

    again, calls = cached_teacher(teacher, data, request, tmp_path, "cpu")
    assert calls == 0 and torch.equal(again(indices, batch).logits, cached.logits)
    with torch.no_grad():
        teacher.classifier.bias.add_(1.0)  # other weights: another fingerprint, recomputed
    assert cached_teacher(teacher, data, request, tmp_path, "cpu")[1] > 0


class _Planted:
    """A pickle that runs code when loaded: what a bare torch.load (torch < 2.6) would execute."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_cache_file_holding_a_pickled_object_is_not_executed_but_rebuilt(tmp_path, caplog, monkeypatch):
    from distill.train.teacher_cache import cache_fingerprint

    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_config(num_labels=2)).eval()
    data = Encoded([[5, 6, 7], [8, 9]], None, [0, 1], 0)
    request = FeatureRequest()
    path = tmp_path / f"teacher-{cache_fingerprint(teacher, data, request)}.pt"
    marker = tmp_path / "executed"
    torch.save([_Planted(str(marker))], path)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: loads.append(kw) or real_load(*a, **kw))
    with caplog.at_level("WARNING", logger="distill"):
        cache, calls = cached_teacher(teacher, data, request, tmp_path, "cpu")
    assert not marker.exists()  # the pickle was not run
    assert loads and all(kw.get("weights_only") is True for kw in loads)
    assert calls == 1  # recomputed from the teacher
    assert (
        f"teacher cache: {path} is not a plain tensor file" in caplog.text and "recomputing it" in caplog.text
    )
    again, calls = cached_teacher(teacher, data, request, tmp_path, "cpu")
    assert calls == 0 and torch.equal(
        again([0, 1], collate(data, [0, 1])).logits, cache([0, 1], collate(data, [0, 1])).logits
    )


def test_a_windowed_teachers_cache_keeps_where_its_scores_are_defined(tmp_path):
    """ModernBERT's local layers define scores inside their window only: the cache keeps that mask
    (padded with False), so the attn objective compares the same pairs on cached and live features."""
    from tests.family_helpers import classifier

    teacher = classifier("modernbert")  # layers [global, local, local, global], window of 4
    lengths = [9, 7, 8]
    data = Encoded([torch.randint(5, 30, (n,)).tolist() for n in lengths], None, [0, 1, 0], 0)
    request = FeatureRequest(attn_layers=(1, 2))
    cache, _ = cached_teacher(teacher, data, request, tmp_path, "cpu", batch_size=2)
    indices = [1, 0, 2]
    batch = collate(data, indices)
    live, cached = LiveTeacher(teacher, request)(indices, batch), cache(indices, batch)
    real = batch["attention_mask"].bool()
    pairs = real[:, None, :, None] & real[:, None, None, :]  # (batch, 1, seq, seq)
    assert live.attn_valid[0] is None and cached.attn_valid[0][pairs].all()  # the global layer: everywhere
    assert torch.equal(cached.attn_valid[1] & pairs, live.attn_valid[1] & pairs)
    assert not cached.attn_valid[1][pairs].all()  # the window leaves pairs out

"""The deployment graph (fused Q/K/V, [CLS]-only last layer): same logits as the full model, in
PyTorch, in ONNX and as INT8."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

from distill.compress.deploy_bert import DeployBert, fuse_linears
from distill.compress.export import export_onnx, ort_predict, ort_session, torch_predict
from distill.compress.models import as_logits_module, load_classifier
from distill.compress.prune import prune
from distill.compress.variants import Source, build_variant, load_source
from distill.core.errors import ConfigError

from .conftest import TEXTS


def _types(mask: np.ndarray) -> np.ndarray:
    """Token types of a pair: the second half of each row's real tokens is sentence two."""
    types = np.zeros_like(mask)
    for i, n in enumerate(mask.sum(1)):
        types[i, n // 2 : n] = 1
    return types


def _batch(vocab: int, b: int = 5, t: int = 11, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random ids with ragged lengths: row i has t - i real tokens, the rest padding."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, size=(b, t), dtype=np.int64)
    mask = np.ones((b, t), dtype=np.int64)
    for i in range(b):
        mask[i, t - i :] = 0
    ids[mask == 0] = 0
    return ids, mask


def test_same_logits_as_the_full_model_with_padding(tiny_bert):
    model, _ = load_classifier(tiny_bert)
    ids, mask = _batch(model.config.vocab_size)
    with torch.inference_mode():
        full = as_logits_module(model)(torch.from_numpy(ids), torch.from_numpy(mask))
        cls = DeployBert(model).eval()(torch.from_numpy(ids), torch.from_numpy(mask))
    assert cls.shape == (5, 2)
    torch.testing.assert_close(cls, full, atol=1e-5, rtol=1e-5)


def test_same_logits_as_the_model_fed_a_pairs_token_types(tiny_bert):
    """A pair's token types reach the embeddings: the logits are the HF model's on the same inputs."""
    model, tok = load_classifier(tiny_bert)
    ids, mask = _batch(model.config.vocab_size)
    types = _types(mask)
    names = ("input_ids", "attention_mask", "token_type_ids")
    with torch.inference_mode():
        hf = model(**{n: torch.from_numpy(a) for n, a in zip(names, (ids, mask, types), strict=True)}).logits
        cls = DeployBert(model, names).eval()(*(torch.from_numpy(a) for a in (ids, mask, types)))
        zeros = DeployBert(model, names).eval()(torch.from_numpy(ids), torch.from_numpy(mask))
    torch.testing.assert_close(cls, hf, atol=1e-5, rtol=1e-5)
    assert (cls - zeros).abs().max() > 1e-3  # the token types are read, not dropped


def test_holds_each_weight_once_and_leaves_the_model_alone(tiny_bert):
    model, _ = load_classifier(tiny_bert)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deploy = DeployBert(model)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    # Q/K/V live only in the fused projections: as many numbers as the original model.
    assert sum(p.numel() for p in deploy.parameters()) == sum(p.numel() for p in model.parameters())
    assert not any(k.endswith(("query.weight", "key.weight", "value.weight")) for k in deploy.state_dict())


def test_fuse_linears_concatenates_scaled_outputs():
    a, b = nn.Linear(2, 1), nn.Linear(2, 2)
    with torch.no_grad():
        a.weight.copy_(torch.tensor([[1.0, 2.0]]))
        a.bias.fill_(1.0)
        b.weight.copy_(torch.tensor([[0.0, 1.0], [3.0, 0.0]]))
        b.bias.copy_(torch.tensor([0.5, -1.0]))
    fused = fuse_linears([a, b], [0.5, 1.0])
    # x = (1, 2): a -> 1 + 4 + 1 = 6, scaled 3; b -> (2 + 0.5, 3 - 1) = (2.5, 2)
    torch.testing.assert_close(fused(torch.tensor([[1.0, 2.0]])), torch.tensor([[3.0, 2.5, 2.0]]))


@pytest.mark.parametrize("layers", [1, 3])
def test_same_logits_for_pruned_heads_and_any_depth(layers):
    """Pruned heads leave heads * d < hidden; a one-layer model has no fused-QKV layer at all."""
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        initializer_range=0.2,
    )
    model = prune(BertForSequenceClassification(cfg).eval(), head_ratio=0.5, ffn_ratio=0.25)
    assert model.config.num_attention_heads == 2
    ids, mask = _batch(50, b=4, t=9)
    with torch.inference_mode():
        full = as_logits_module(model)(torch.from_numpy(ids), torch.from_numpy(mask))
        deploy = DeployBert(model).eval()(torch.from_numpy(ids), torch.from_numpy(mask))
    torch.testing.assert_close(deploy, full, atol=1e-5, rtol=1e-5)


def test_export_int8_cls_writes_and_verifies_both_graphs(tiny_bert, tmp_path):
    res = export_onnx(tiny_bert, tmp_path / "q", int8="cls", verify_texts=TEXTS)
    assert set(res) == {"model.onnx", "model.opt.onnx", "model.cls.onnx", "model.int8.onnx"}
    assert res["model.cls.onnx"]["max_abs_logit_diff"] < 1e-4  # FP32: exact up to float reassociation
    assert res["model.int8.onnx"]["agreement"] >= 0.97
    assert json.loads((tmp_path / "q" / "verify.json").read_text())["int8"] == "cls"

    # Fused Q/K/V: per inner layer 1 projection + 2 attention + 1 output + 2 FFN matmuls; the last
    # layer Q, KV, 2 attention, output, 2 FFN; then pooler and classifier. The plain graph has 8 per layer.
    def matmuls(name: str) -> int:
        graph = onnx.load(str(tmp_path / "q" / name)).graph
        return sum(n.op_type in ("MatMul", "Gemm") for n in graph.node)

    layers = load_classifier(tiny_bert)[0].config.num_hidden_layers
    assert matmuls("model.cls.onnx") == 6 * (layers - 1) + 7 + 2
    assert matmuls("model.onnx") == 8 * layers + 2
    # Dynamic axes: a batch and length other than the traced (2, 16).
    model, tok = load_classifier(tiny_bert)
    ids, mask = _batch(model.config.vocab_size, b=3, t=23, seed=1)
    types = _types(mask)  # the graph takes the tokenizer's inputs, a BERT's token types included
    ref = torch_predict(as_logits_module(model, tok))(ids, mask, types)
    got = ort_predict(ort_session(tmp_path / "q" / "model.cls.onnx"))(ids, mask, types)
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_bench_kinds_match_the_reference(tiny_bert, tmp_path):
    loaded = load_source(Source("s", path=str(tiny_bert)), tmp_path / "work")
    assert loaded.token_types  # a BERT tokenizer produces token types: every kind takes them
    ids, mask = _batch(loaded.vocab_size)
    inputs = (ids, mask, _types(mask))
    ref = build_variant(loaded, "torch-fp32", "cpu").predict(*inputs)
    np.testing.assert_allclose(
        build_variant(loaded, "torch-fp32-cls", "cpu").predict(*inputs), ref, atol=1e-5
    )
    int8 = build_variant(loaded, "ort-int8-cls", "cpu").predict(*inputs)
    assert int8.shape == ref.shape
    assert np.abs(int8 - ref).max() < 0.5 * np.abs(ref).max()  # quantised, not garbage


def test_refuses_a_model_it_cannot_shorten(tiny_bert):
    model, _ = load_classifier(tiny_bert)
    model.bert.pooler = None
    with pytest.raises(ConfigError, match=r"needs a BERT classifier with a pooler"):
        DeployBert(model)
    model.config.model_type = "distilbert"
    with pytest.raises(
        ConfigError,
        match=r"needs a BERT classifier: the \[CLS\]-only last layer rewrites BERT layers and pooler; DistilBERT's",
    ):
        DeployBert(model)

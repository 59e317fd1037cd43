"""Each family adapter's ``ort_optimizer`` fact against what ORT's BERT optimiser does to its graph.

The graph is the one ``ort-opt`` optimises: a tiny random classifier of the family exported as
``compress/variants.py`` exports ``ort-fp32`` (the classic attention for registry families), then
``optimize_bert_onnx``. A family whose adapter says yes must come out with one fused attention node
per layer (the point of ``ort-opt``; LayerNorm and GELU fusions happen in any ORT session anyway)
and still compute its model; one that says no must say why, and indeed not fuse every layer.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from distill.compress.export import export_module, optimize_bert_onnx, ort_predict, ort_session
from distill.compress.models import LogitsOnly, use_onnx_attention
from distill.models.adapters import adapter_of
from tests.family_helpers import CONFIGS, batch, classifier

FUSED_ATTENTION = ("Attention", "MultiHeadAttention")
SHAPES = ({"seq": 9}, {"seq": 13, "rows": 5})  # the second longer than the traced 16 / 2 and wider


def _export_fp32(model: torch.nn.Module, path: Path) -> Path:
    """The ``ort-fp32`` graph as variants._export_fp32 writes it."""
    module = copy.deepcopy(model)
    use_onnx_attention(module)  # registry families only: MPNet and DeBERTa keep their own
    return export_module(LogitsOnly(module).eval(), path)


def _max_diff(model: torch.nn.Module, path: Path) -> float:
    """Max |Δlogit| between the ONNX graph and the torch model over both shapes (padded rows)."""
    predict = ort_predict(ort_session(path))
    reference = LogitsOnly(model).eval()
    diffs = []
    for shape in SHAPES:
        inputs = batch(**shape)
        with torch.no_grad():
            want = reference(inputs["input_ids"], inputs["attention_mask"]).numpy()
        got = predict(inputs["input_ids"].numpy(), inputs["attention_mask"].numpy())
        diffs.append(float(np.abs(got - want).max()))
    return max(diffs)


@pytest.mark.parametrize("family", list(CONFIGS))
def test_ort_optimiser_fact_is_what_the_optimiser_does(family, tmp_path):
    model = classifier(family)
    adapter, cfg = adapter_of(model), model.config
    fp32 = _export_fp32(model, tmp_path / "model.onnx")
    # the graph ort-fp32 serves computes the model (padding included)
    assert _max_diff(model, fp32) < 1e-4, family
    opt = optimize_bert_onnx(fp32, tmp_path / "model.opt.onnx", cfg.num_attention_heads, cfg.hidden_size)
    ops = Counter(node.op_type for node in onnx.load(str(opt)).graph.node)
    fused = sum(ops[op] for op in FUSED_ATTENTION)
    layers = adapter.num_layers(cfg)
    fact = adapter.ort_optimizer
    if fact.ok:
        assert fused == layers, (family, dict(ops))
        assert _max_diff(model, opt) < 1e-4, family
    else:
        assert fact.why.strip(), family
        # not every layer fuses, or the fused graph computes something else (ERNIE's task types dropped)
        wrong = _max_diff(model, opt) >= 1e-4
        assert fused < layers or wrong, (
            family,
            "every layer fuses and agrees: the fact should say yes",
            dict(ops),
        )

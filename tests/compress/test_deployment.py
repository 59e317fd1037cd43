"""A model deployed as one kind loads back as the predict function bench built for that kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distill.compress.deployment import deploy_kind, load_deployment
from distill.compress.evalset import encode_batches
from distill.compress.variants import Source, build_variant, load_source
from distill.core.errors import ConfigError, DataError

TEXTS = ["the flight was great", "awful crew, never again", "ok", "late again and again"]


def _logits(predict, tokenizer) -> np.ndarray:
    types = "token_type_ids" in tokenizer.model_input_names  # what the model was exported to take
    return np.concatenate([predict(*b) for b in encode_batches(tokenizer, TEXTS, None, 16, 2, types)])


@pytest.mark.parametrize("kind", ["torch-bf16", "ort-int8-dynamic"])
def test_a_deployed_kind_predicts_as_the_benchmarks_variant(tiny_bert, tmp_path, kind):
    info = deploy_kind(tiny_bert, tmp_path / "d", kind, reason="fastest", measured={"score": 0.5})
    assert json.loads((tmp_path / "d" / "deploy.json").read_text()) == info
    assert (info["kind"], info["why"], info["measured"]) == (kind, "fastest", {"score": 0.5})
    predict, tokenizer, _ = load_deployment(tmp_path / "d")
    loaded = load_source(Source("s", str(tiny_bert)), tmp_path / "work")
    variant = build_variant(loaded, kind, "cpu", 1, None).predict
    np.testing.assert_array_equal(_logits(predict, tokenizer), _logits(variant, loaded.tokenizer))
    if kind.startswith("ort"):  # a verified `distill export` folder, serving its INT8 graph
        assert info["file"] == "onnx/model.int8.onnx" and "model.int8.onnx" in info["verify"]["graphs"]
    else:  # the weights as saved; the recipe is applied at load
        assert info["file"] == "model" and (tmp_path / "d" / "model" / "config.json").is_file()


def test_refusals(tiny_bert, tmp_path):
    with pytest.raises(ConfigError, match=r"^kind torch-fp16 does not run on cpu \(it runs on cuda\)$"):
        deploy_kind(tiny_bert, tmp_path / "d", "torch-fp16")
    with pytest.raises(DataError, match=r"not a deployed folder"):
        load_deployment(tmp_path)
    assert not (tmp_path / "d").exists()

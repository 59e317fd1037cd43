import numpy as np
import onnx
import pytest
import torch
from torch import nn

from distill.compress.evalset import encode_batches
from distill.compress.export import export_module, ort_predict, ort_session, torch_predict, verify
from distill.compress.models import as_logits_module, load_classifier, use_onnx_attention
from distill.compress.quantize import quantize_dynamic_int8, quantize_onnx
from distill.core.errors import DataError

from .conftest import TEXTS


@pytest.fixture(scope="module")
def fp32(tiny_bert, tmp_path_factory):
    model, tok = load_classifier(tiny_bert)
    use_onnx_attention(model)
    module = as_logits_module(model)
    path = export_module(module, tmp_path_factory.mktemp("q") / "model.onnx")
    batches = list(encode_batches(tok, TEXTS, None, 32, 8))
    return module, path, batches


def test_torch_dynamic_int8_replaces_linears_and_keeps_predictions(fp32):
    module, _, batches = fp32
    q = quantize_dynamic_int8(__import__("copy").deepcopy(module))
    assert not any(type(m) is nn.Linear for m in q.modules())
    rep = verify(torch_predict(module), torch_predict(q), batches)
    assert rep["n"] == len(TEXTS)
    assert rep["agreement"] >= 0.95
    assert 0 < rep["max_abs_logit_diff"] < 0.5  # really quantised, still close


@pytest.mark.parametrize("mode", ["dynamic", "dynamic-pc", "dynamic-pc-u8", "static"])
def test_ort_int8_runs_and_keeps_agreement(fp32, tmp_path, mode):
    module, path, batches = fp32
    out = quantize_onnx(path, tmp_path / f"{mode}.onnx", mode, calibration=batches)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert ops & {"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QAttention"}
    rep = verify(torch_predict(module), ort_predict(ort_session(out)), batches, labels=[0, 1] * 28)
    assert rep["agreement"] >= 0.95
    assert rep["max_abs_logit_diff"] > 0  # not silently left in FP32
    assert abs(rep["accuracy_delta"]) <= 0.05


def test_static_int8_needs_enough_calibration(fp32, tmp_path):
    _, path, batches = fp32
    with pytest.raises(DataError, match="needs at least 32"):
        quantize_onnx(path, tmp_path / "s.onnx", "static", calibration=batches[:2])
    with pytest.raises(DataError, match="needs a calibration set"):
        quantize_onnx(path, tmp_path / "s.onnx", "static")
    assert not (tmp_path / "s.onnx").exists()


def test_lstm_is_dynamically_quantised():
    lstm = nn.Sequential(nn.LSTM(8, 8, batch_first=True))
    q = quantize_dynamic_int8(lstm)
    assert type(q[0]).__module__.startswith("torch.ao.nn.quantized.dynamic")
    x = torch.randn(2, 5, 8)
    np.testing.assert_allclose(q(x)[0].detach().numpy(), lstm(x)[0].detach().numpy(), atol=0.05)


def test_verify_takes_the_references_logits_computed_once(fp32):
    module, _, batches = fp32
    q = quantize_dynamic_int8(__import__("copy").deepcopy(module))
    logits = [torch_predict(module)(*b) for b in batches]
    assert verify(logits, torch_predict(q), batches, [0, 1] * 28) == verify(
        torch_predict(module), torch_predict(q), batches, [0, 1] * 28
    )

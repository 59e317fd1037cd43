"""distill/compress/flops.py: which datasheet a CUDA device name is, its dense peaks, a BERT's FLOPs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from distill.compress.flops import bert_flops, gpu_model, gpu_peak_tflops


@pytest.mark.parametrize(
    ("device_name", "model", "fp16", "bf16", "fp32"),
    [
        ("NVIDIA H200", "H200 SXM", 989.5, 989.5, 67.0),
        ("NVIDIA H200 NVL", "H200 NVL", 835.5, 835.5, 60.0),
        ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.5, 989.5, 67.0),
        ("NVIDIA H100 PCIe", "H100 PCIe", 756.5, 756.5, 51.0),  # not the SXM part's peak
        ("NVIDIA H100 NVL", "H100 NVL", 835.5, 835.5, 60.0),
        ("NVIDIA A100-SXM4-80GB", "A100", 312.0, 312.0, 19.5),
        ("NVIDIA A100 80GB PCIe", "A100", 312.0, 312.0, 19.5),
        ("NVIDIA A10", "A10", 125.0, 125.0, 31.2),  # not an A100
        ("NVIDIA L40S", "L40S", 362.0, 362.0, 91.6),  # not an L4
        ("NVIDIA L4", "L4", 121.0, 121.0, 30.3),
        ("Tesla T4", "T4", 65.0, None, 8.1),  # no BF16 units
    ],
)
def test_each_gpu_gets_its_own_datasheet(device_name, model, fp16, bf16, fp32):
    assert gpu_model(device_name) == model
    assert [gpu_peak_tflops(device_name, d) for d in ("fp16", "bf16", "fp32")] == [fp16, bf16, fp32]


def test_an_unknown_gpu_has_no_peak_and_a_dtype_must_be_known():
    assert gpu_model("NVIDIA GeForce RTX 4090") is None
    assert gpu_peak_tflops("NVIDIA GeForce RTX 4090", "fp16") is None
    with pytest.raises(ValueError, match="dtype 'int8': expected one of fp32, fp16, bf16"):
        gpu_peak_tflops("NVIDIA H200", "int8")


def test_bert_flops_counts_the_dense_layers_and_attention():
    base = SimpleNamespace(hidden_size=768, intermediate_size=3072, num_hidden_layers=12)
    # per token and layer: 4 h^2 (Q, K, V, O) + 2 h f (FFN) + 2 T h (scores, probs @ V) multiply-adds
    per_token_layer = 4 * 768**2 + 2 * 768 * 3072 + 2 * 128 * 768
    assert bert_flops(base, 1, 128) == 2 * 128 * 12 * per_token_layer
    assert bert_flops(base, 32, 128) == 32 * bert_flops(base, 1, 128)
    assert round(bert_flops(base, 1, 128) / 1e9, 1) == 22.3  # BERT-base, 128 tokens: ~22 GFLOP

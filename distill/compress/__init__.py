"""Compression, export and benchmark reports for BERT-family text classifiers and the BiLSTM student.

prune.py (torch-pruning heads/FFN), quantize.py (torch.ao and ORT INT8, FP16/BF16), export.py (ONNX,
ORT sessions, verification), kinds.py (the registry of export/bench kinds, torch-free), variants.py
(how each kind is built), bench.py (timing and accuracy), report.py (report.json/md), pareto.py
(pareto.png), machine.py (machine facts; the CPU's in distill/core/cpu.py), recommend.py (the
fastest kind that keeps the accuracy bound), deploy_bert.py (fused Q/K/V, a last layer that computes
[CLS] only); api.py (compress_model, export_model, benchmark: the three commands as functions) and
cli.py (their subcommands: argv only).
"""

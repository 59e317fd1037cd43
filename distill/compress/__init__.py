"""Compression, export and benchmark reports for BERT-family text classifiers and the BiLSTM student.

prune.py (torch-pruning heads/FFN), quantize.py (torch.ao and ORT INT8, FP16/BF16), export.py (ONNX,
ORT sessions, verification), variants.py (the kinds a benchmark builds), bench.py (timing and
accuracy), report.py (report.json/md), pareto.py (pareto.png), machine.py (machine facts),
deploy_bert.py (fused Q/K/V, a last layer that computes [CLS] only); api.py (compress_model,
export_model, benchmark: the three commands as functions) and cli.py (their subcommands: argv only).
"""

# `distill export --int8 NAME` (here, not in export.py, so the CLI and recipe.yaml validate without
# importing torch): dynamic (ORT's defaults), fused (per-channel on the fused graph, classifier FP32),
# u8u8 (as fused with U8 weights), cls (fused's recipe on a graph whose last layer computes [CLS]
# only, fused Q/K/V, see deploy_bert.py), static (QDQ, calibrated).
INT8_EXPORTS = ("dynamic", "fused", "u8u8", "cls", "static")


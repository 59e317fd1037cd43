"""Compression, export and benchmark reports for BERT-family text classifiers and the BiLSTM student.

prune.py (torch-pruning heads/FFN), quantize.py (torch.ao and ORT INT8, FP16/BF16), export.py (ONNX,
ORT sessions, verification), variants.py (the kinds a benchmark builds), bench.py (timing and
accuracy), report.py (report.json/md, pareto.png), machine.py (machine facts), cli.py (subcommands).
"""

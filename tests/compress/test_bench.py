import json

import matplotlib.image
import pytest
import torch

from distill.compress.bench import BenchSettings, run_benchmark
from distill.compress.evalset import read_eval_set
from distill.compress.machine import require_device
from distill.compress.report import write_report
from distill.compress.variants import Source
from distill.core.errors import ConfigError
from distill.core.metrics import accuracy_f1
from distill.train.speed import time_calls

FAST = BenchSettings(
    devices=["cpu"],
    batch_sizes=[1, 4],
    seq_lens=[8, 16],
    warmup=2,
    reps=5,
    max_seconds=1,
    min_reps=2,
    threads=1,
    eval_max_len=32,
)


def test_benchmark_writes_every_field_and_a_readable_pareto(tiny_bert, tiny_teacher, eval_csv, tmp_path):
    ev = read_eval_set(eval_csv, label2id={"neg": 0, "pos": 1})
    sources = [
        Source("teacher", path=str(tiny_teacher), role="teacher"),
        Source("student", path=str(tiny_bert), role="student"),
    ]
    kinds = ["ort-int8-fused", "torch-fp32", "torch-int8", "ort-opt"]
    result = run_benchmark(sources, kinds, FAST, ev)
    out = write_report(result, tmp_path / "report")
    data = json.loads((out / "report.json").read_text())
    for key in ("cpu", "cores", "threads", "loadavg_1_5_15", "torch", "onnxruntime", "gpu"):
        assert key in data["machine"]
    assert data["machine"]["threads"] == 1
    assert len(data["variants"]) == 8  # 2 sources x 4 kinds, FP32 measured first per source
    assert [v["kind"] for v in data["variants"][:4]][0] == "torch-fp32"
    for v in data["variants"]:
        assert v["params"] > 0 and v["size_mb"] > 0
        assert 0 <= v["accuracy"] <= 1 and 0 <= v["f1"] <= 1 and 0 <= v["agreement_with_fp32"] <= 1
        assert v["accuracy_delta_vs_teacher"] is not None and v["accuracy_delta_vs_student"] is not None
        assert {(t["seq_len"], t["batch"]) for t in v["timings"]} == {(8, 1), (8, 4), (16, 1), (16, 4)}
        for t in v["timings"]:
            lat = t["latency_ms"]
            assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
            assert t["throughput_seq_s"] > 0 and t["reps"] >= 2 and t["warmup"] >= 1 and t["peak_rss_mib"] > 0
        assert all(s["vs_teacher"] > 0 and s["vs_student"] > 0 for s in v["speedup"])
    fp32_student = next(v for v in data["variants"] if v["name"] == "student/torch-fp32")
    assert fp32_student["agreement_with_fp32"] == 1.0 and fp32_student["accuracy_delta_vs_student"] == 0.0
    assert fp32_student["speedup"][0]["vs_student"] == 1.0
    md = (out / "report.md").read_text()
    assert "student/ort-int8-fused" in md and "load average" in md and "speed-up b1 vs teacher" in md
    img = matplotlib.image.imread(out / "pareto.png")
    assert img.shape[0] > 300 and img.shape[1] > 300 and img.std() > 0.01  # not a blank canvas


def test_random_weight_sources_have_no_accuracy(tiny_bert, eval_csv, tmp_path, monkeypatch):
    # A paper shape, shrunk so the test stays fast: accuracy must stay blank even with an eval set.
    monkeypatch.setitem(
        __import__("distill.compress.models", fromlist=["x"]).PAPER_SHAPES, "tinybert-4", (1, 24, 2, 48)
    )
    ev = read_eval_set(eval_csv, label2id={"neg": 0, "pos": 1})
    result = run_benchmark([Source("tb4", shape="tinybert-4")], ["torch-fp32", "ort-int8-dynamic"], FAST, ev)
    assert all(v["random_weights"] and v["accuracy"] is None and v["f1"] is None for v in result["variants"])
    out = write_report(result, tmp_path / "r")
    assert "random, speed only" in (out / "report.md").read_text()


def test_time_calls_stops_at_the_budget_but_keeps_min_reps(monkeypatch):
    clock = [0.0]  # a fake clock: each call takes exactly 1 s, whatever the machine's load
    monkeypatch.setattr("distill.train.speed.time.perf_counter", lambda: clock[0])

    def call() -> None:
        clock[0] += 1.0

    # warm-up stops past a quarter of the budget (2.5 s: after 3 calls); timing past 10 s (11 calls)
    times, warm = time_calls(call, warmup=5, reps=10_000, max_seconds=10.0, min_reps=5)
    assert warm == 3 and times == [1.0] * 11
    # a budget smaller than min_reps calls still times min_reps calls
    times, warm = time_calls(call, warmup=5, reps=10_000, max_seconds=2.0, min_reps=5)
    assert warm == 1 and times == [1.0] * 5


def test_macro_f1_over_labels_seen_in_gold_or_predictions():
    assert accuracy_f1([0, 0, 1, 1], [0, 0, 1, 1]) == {"accuracy": 1.0, "f1": 1.0}
    # label 0: tp 1, predicted 1, actual 2 -> 2/3; label 1: tp 2, predicted 3, actual 2 -> 0.8
    assert accuracy_f1([0, 1, 1, 1], [0, 0, 1, 1])["f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    # 3-label task, label 2 never occurs: left out (scikit-learn), not averaged in as 0
    assert accuracy_f1([0, 1, 1, 1], [0, 0, 1, 1], num_labels=3)["f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    # a label predicted but never gold counts with F1 0
    assert accuracy_f1([2, 1], [0, 1])["f1"] == pytest.approx((0 + 1 + 0) / 3)


def test_gpu_asked_for_without_one_is_a_one_line_error(monkeypatch, tiny_bert):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        require_device("cuda")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        run_benchmark([Source("s", path=str(tiny_bert))], ["torch-fp16"], BenchSettings(devices=["cuda"]))


def test_unknown_kind_and_wrong_device_are_refused(tiny_bert):
    with pytest.raises(ConfigError, match="unknown"):
        run_benchmark([Source("s", path=str(tiny_bert))], ["torch-fp128"], FAST)
    with pytest.raises(ConfigError, match="exactly one of path or shape"):
        Source("s")

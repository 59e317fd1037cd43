"""experiments/gpu_report.py's parts on any CPU: phases under a time limit, the budget, the FP16
target, the GPU page, and (slow) the recipe phases on a tiny MPNet. The CPU smoke run itself, in a
python without the project's other dependencies, is in tests/test_experiment_scripts.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gpu_report_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    import gpu_report
    from gpureport import phases, recipe

    return gpu_report, phases, recipe


def test_a_phase_records_failures_and_stops_at_its_limit(monkeypatch, capsys):
    _, phases, _ = _gpu_report_modules(monkeypatch)
    row = {"throughput_seq_s": 1.0, "latency_ms": {"p50": 1.0}}

    def boom():
        raise ValueError("no such engine\nsecond line")

    items = [("ok", lambda: row), ("boom", boom), ("slow", lambda: time.sleep(30)), ("after", lambda: row)]
    rows: list = []
    p = phases.run_phase(2, "compile", 0.5, items, rows)
    assert [(i["label"], i["status"], i["reason"]) for i in p["items"]] == [
        ("ok", "ran", None),
        ("boom", "failed", "failed: ValueError: no such engine"),
        ("slow", "skipped", "skipped: the phase's time limit of 0.5 s was reached"),
        ("after", "skipped", "skipped: the phase's time limit of 0.5 s was reached"),
    ]
    assert rows == [row] and p["seconds"] < 5
    out = capsys.readouterr().out
    assert "[phase 2/5] slow ...\n  skipped: the phase's time limit of 0.5 s was reached" in out


def test_phases_that_cannot_run_give_their_seconds_to_the_others(monkeypatch):
    gpu_report, phases, _ = _gpu_report_modules(monkeypatch)
    shares = gpu_report.GPU.limits  # torch, compile, ort, recipe, bench
    assert sum(shares.values()) <= gpu_report.TOTAL_LIMIT_S
    everything = phases.Budget(sum(shares.values()), shares, set())
    assert abs(everything.limit("bench") - sum(shares.values())) < 1  # the last phase: all that is left
    assert abs(everything.limit("torch") - shares["torch"]) < 1
    gpu_only = phases.Budget(sum(shares.values()), shares, {"ort", "recipe", "bench"})
    assert abs(gpu_only.limit("torch") - (sum(shares.values()) - shares["compile"])) < 1


def _bench(fp32_acc, fp16_acc, fp32_tp, fp16_tp):
    def variant(kind, acc, tp):
        timings = [
            {"seq_len": 128, "batch": b, "throughput_seq_s": t} for b, t in zip((1, 32, 256), tp, strict=True)
        ]
        return {"role": "student", "kind": kind, "device": "cuda", "accuracy": acc, "timings": timings}

    return {"variants": [variant("torch-fp32", fp32_acc, fp32_tp), variant("torch-fp16", fp16_acc, fp16_tp)]}


def test_the_fp16_target_needs_the_speed_up_and_the_accuracy(monkeypatch):
    _, _, recipe = _gpu_report_modules(monkeypatch)
    met = recipe.fp16_target(_bench(0.850, 0.851, (100, 1000, 2000), (150, 2500, 6400)))
    assert met["passed"] is True
    assert met["batches"] == [
        {"batch": 32, "speedup": 2.5, "accuracy_delta": 0.1, "met": False},
        {"batch": 256, "speedup": 3.2, "accuracy_delta": 0.1, "met": True},
    ]
    drift = recipe.fp16_target(_bench(0.850, 0.848, (100, 1000, 2000), (150, 4000, 8000)))
    assert drift["passed"] is False and {b["accuracy_delta"] for b in drift["batches"]} == {-0.2}
    none = recipe.fp16_target({"variants": []})
    assert (
        none["passed"] is None
        and none["reason"] == "the bench has no torch-fp16 and torch-fp32 student rows on cuda"
    )


@pytest.mark.slow
def test_gpu_report_tiny_runs_the_recipe_on_a_tiny_mpnet(tmp_path, monkeypatch):
    """Phases 4-5 end to end on the CPU: the tinybert-mpnet recipe (its steps and configs) with a tiny
    random MPNet and 64 toy rows in place of all-mpnet-base-v2 and the tweets, then its bench step."""
    from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv
    from tests.mpnet_helpers import save_tiny_mpnet

    gpu_report, _, _ = _gpu_report_modules(monkeypatch)
    mpnet = save_tiny_mpnet(tmp_path / "mpnet", num_hidden_layers=4)  # TinyBERT-4 maps a layer to each
    teacher = tmp_path / "teacher.yaml"
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher.write_text(TINY_TEACHER_YAML.format(name="tiny", model="replaced", data=data, cache=tmp_path))
    argv = ["--tiny", "--out", str(tmp_path / "out"), "--mpnet", str(mpnet), "--teacher", str(teacher)]
    assert gpu_report.main([*argv, "--work", str(tmp_path / "work")]) == 0
    page = tmp_path / "out" / "cpu-tiny"
    r = json.loads((page / "report.json").read_text())
    recipe, bench = r["phases"][3], r["phases"][4]
    assert [i["status"] for i in recipe["items"] + bench["items"]] == ["ran", "ran"], (recipe, bench)
    s = r["student"]
    assert [x["step"] for x in s["steps"]] == ["data", "teacher", "augment", "distill", "export", "bench"]
    assert s["steps"][2]["info"]["augmented"]["rows_out"] > s["steps"][2]["info"]["augmented"]["rows_in"]
    assert {v["name"] for v in s["bench"]["variants"]} == {"distill/torch-fp32", "distill/ort-fp32"}
    assert (page / "student-pareto.png").is_file()
    assert s["target"]["passed"] is None  # no torch-fp16 on a CPU
    md = (page / "report.md").read_text()
    assert "| distill | distill |" in md and "`distill/ort-fp32`" in md


def _gpu_result(recipe, anchor: dict) -> dict:
    """A GPU run's result as gpu_report.main builds it: BERT-large measured, TinyBERT-4 not, a student."""

    def row(variant, dtype, batch, seq_s, tflops, peak):
        return {
            "shape": "bert-large",
            "variant": variant,
            "dtype": dtype,
            "batch": batch,
            "seq_len": 128,
            "warmup": 5,
            "reps": 10,
            "latency_ms": {"p50": 2.0, "p90": 2.5},
            "throughput_seq_s": seq_s,
            "tflops_achieved": tflops,
            "tflops_peak": peak,
            "share_of_peak": round(tflops / peak, 4),
        }

    def variant(kind, acc, seq_s):
        timings = [
            {
                "seq_len": 128,
                "batch": b,
                "throughput_seq_s": t,
                "latency_ms": {"p50": 1.0},
                "tflops_achieved": t / 100,
                "tflops_peak": 989.5 if "16" in kind else 67.0,
            }
            for b, t in zip((1, 32, 256), seq_s, strict=True)
        ]
        speedup = [{"seq_len": 128, "batch": t["batch"], "vs_student": None} for t in timings]
        return {
            "name": f"distill/{kind}",
            "kind": kind,
            "role": "student",
            "device": "cuda",
            "accuracy": acc,
            "accuracy_delta_vs_student": None,
            "agreement_with_fp32": 1.0,
            "timings": timings,
            "speedup": speedup,
        }

    bench = {
        "settings": {"batch_sizes": [1, 32, 256]},
        "variants": [
            variant("torch-fp32", 0.85, (500, 4000, 6000)),
            variant("torch-fp16", 0.85, (600, 13000, 24000)),
        ],
        "skipped": [],
    }
    steps = [
        {
            "step": "data",
            "kind": "data",
            "seconds": 0.1,
            "info": {"rows": {"train": 6000, "dev": 2000, "test": 2000}},
        },
        {
            "step": "distill",
            "kind": "distill",
            "seconds": 90.0,
            "info": {
                "dev_accuracy": 0.86,
                "test_accuracy": 0.85,
                "teacher_dev_accuracy": 0.89,
                "params": 14353058,
            },
        },
    ]
    return {
        "mode": "gpu",
        "command": "python3 experiments/gpu_report.py --out /out",
        "seconds": 400.0,
        "machine": {
            "cpu": "Intel Xeon",
            "cpu_flags": ["avx512f"],
            "cores": 16,
            "threads": 16,
            "torch": "2.11",
            "python": "3.12",
            "transformers": "5.17",
            "onnxruntime": "1.30",
            "ort_providers": ["CPUExecutionProvider"],
            "gpu": {
                "name": "NVIDIA H200",
                "memory_gib": 139.8,
                "capability": "9.0",
                "driver": "580",
                "cuda": "13.0",
            },
        },
        "tf32_matmul": False,
        "settings": {
            "batches": [1, 32, 256],
            "seq": 128,
            "warmup": 5,
            "reps": 50,
            "max_seconds": 0.8,
            "min_reps": 3,
        },
        "total_limit_s": 470,
        "anchor": anchor,
        "shapes": {
            "tinybert-4": {"layers": 4, "hidden": 312, "heads": 12, "ffn": 1200},
            "bert-large": {"layers": 24, "hidden": 1024, "heads": 16, "ffn": 4096},
        },
        "rows": [
            row("torch-fp32", "fp32", 1, 100.0, 2.0, 67.0),
            row("torch-fp32", "fp32", 256, 1000.0, 40.0, 67.0),
            row("torch-fp16", "fp16", 1, 300.0, 6.0, 989.5),
            row("torch-fp16", "fp16", 256, 9000.0, 395.8, 989.5),
        ],
        "phases": [
            {
                "number": 1,
                "key": "torch",
                "title": "torch eager",
                "limit_s": 360.0,
                "seconds": 60.0,
                "reason": None,
                "items": [
                    {
                        "label": "torch fp16 tinybert-4 b1",
                        "status": "failed",
                        "reason": "failed: RuntimeError: CUDA error",
                        "seconds": 0.1,
                    }
                ],
            }
        ],
        "student": {
            "recipe": "experiments/recipes/tinybert-mpnet.yaml",
            "sets": ["bench.devices=[cuda]"],
            "steps": steps,
            "bench": bench,
            "pareto": None,
            "target": recipe.fp16_target(bench),
        },
    }


def test_the_gpu_page_reports_share_of_peak_anchor_and_targets(tmp_path, monkeypatch):
    gpu_report, _, recipe = _gpu_report_modules(monkeypatch)
    from gpureport import page

    from distill.compress.flops import bert_flops

    r = _gpu_result(recipe, gpu_report.MLPERF_ANCHOR)
    page.write_report(r, tmp_path / "nvidia-h200")
    assert sorted(p.name for p in (tmp_path / "nvidia-h200").iterdir()) == sorted(page.FILES)
    md = (tmp_path / "nvidia-h200" / "report.md").read_text()
    assert "**could not be written**" not in md
    assert "datasheet model: H200 SXM" in md and "TF32 matmuls: off" in md
    assert "- phase 1, torch fp16 tinybert-4 b1: failed: RuntimeError: CUDA error" in md
    assert "- bert-large: `torch-fp32` 59.7% (40.0 of 67), `torch-fp16` 40.0% (395.8 of 989.5)" in md
    assert "| `torch-fp16` | 2.00 | 2.50 |  | 9000.0 | 395.80 | 40.0 |  |" in md
    cfg = SimpleNamespace(num_hidden_layers=24, hidden_size=1024, intermediate_size=4096)
    at_384 = 9000.0 * bert_flops(cfg, 1, 128) / bert_flops(cfg, 1, 384)
    assert f"by FLOP count {at_384:,.0f} sequences of 384 tokens per second" in md
    assert "**9,102 samples/s**" in md
    assert (
        "- **met**: the torch-fp16 student >= 3x its torch-fp32 throughput at a batch >= 32, accuracy" in md
    )
    assert "batch 32: 3.25x, Δacc +0.00 pt; batch 256: 4.00x, Δacc +0.00 pt" in md
    assert "- **not met**: no share of peak for tinybert-4 (1 of 2 shapes have one)" in md
    assert (
        "| distill | distill | 90.0 | dev acc 86.00%, test acc 85.00% (teacher dev 89.00%), 14.35M params |"
        in md
    )

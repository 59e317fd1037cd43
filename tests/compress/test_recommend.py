"""recommend.py: the fastest kind that keeps the accuracy bound, on hand-made report dicts and on a
bench run of a tiny model (report.json's ``recommended``, report.md's and the CLI's line)."""

from __future__ import annotations

import json

import pytest

from distill.cli import main
from distill.compress.recommend import pick, recommend, recommendations, summary_line


def _v(
    kind: str, speed: float, acc: float | None, device: str = "cpu", source: str = "s", role: str = "student"
):
    return {
        "name": f"{source}/{kind}",
        "source": source,
        "kind": kind,
        "device": device,
        "role": role,
        "accuracy": acc,
        "timings": [
            {"batch": 1, "seq_len": 64, "throughput_seq_s": speed / 10},
            {"batch": 32, "seq_len": 64, "throughput_seq_s": speed},
        ],
    }


def _report(*variants, devices=("cpu",)) -> dict:
    return {"settings": {"batch_sizes": [1, 32], "devices": list(devices)}, "variants": list(variants)}


def test_the_fastest_within_the_bound_wins():
    r = _report(
        _v("torch-fp32", 100, 0.900),
        _v("torch-bf16", 400, 0.898),  # -0.2 points: kept
        _v("ort-int8-cls", 500, 0.890),  # -1.0 point: over the bound
        _v("torch-int8", 300, 0.900),
    )
    best, why = recommend(r, max_drop=0.3)
    assert best["kind"] == "torch-bf16"
    assert why == (
        "fastest of 4 cpu variants within 0.3 points of torch-fp32's accuracy "
        "(400 seq/s at batch 32, -0.20 points vs torch-fp32)"
    )
    assert recommend(r, max_drop=1.0)[0]["kind"] == "ort-int8-cls"  # a looser bound keeps it


def test_a_regression_kind_must_also_agree_with_fp32():
    """Pearson's r does not see a kind that shifts every score: the fastest that keeps r and
    agrees with FP32 on >= 97% of scores (as export requires of an INT8 graph) wins."""
    shifted = {**_v("ort-int8-dynamic", 900, 0.75), "agreement_with_fp32": 0.28}  # r kept, scores moved
    r = _report(
        {**_v("torch-fp32", 100, 0.75), "agreement_with_fp32": 1.0},
        shifted,
        {**_v("ort-int8-static", 600, 0.749), "agreement_with_fp32": 0.99},
    )
    r["metric"] = "pearson"
    for v in r["variants"]:
        v["score"], v["accuracy"] = v["accuracy"], None
    best, why = recommend(r, max_drop=0.3)
    assert best["kind"] == "ort-int8-static"
    assert why == (
        "fastest of 3 cpu variants within 0.3 points of torch-fp32's Pearson r, its scores agreeing on "
        ">= 97% of inputs (600 seq/s at batch 32, -0.10 points vs torch-fp32)"
    )
    del r["metric"]  # the same figures as a classifier's accuracy: agreement is not part of the bound
    assert recommend(r, max_drop=0.3)[0]["kind"] == "ort-int8-dynamic"


def test_when_none_keeps_the_bound_the_most_accurate():
    r = _report(_v("torch-fp32", 100, None), _v("torch-bf16", 400, 0.8))
    r["variants"][0]["accuracy"] = 0.9
    r["variants"].append(_v("torch-int8", 500, 0.7))
    r["variants"][0]["timings"] = []  # the reference was not timed: only two candidates
    best, why = recommend(r, max_drop=0.3)
    assert best["kind"] == "torch-bf16"
    assert why == (
        "no cpu variant keeps accuracy within 0.3 points of torch-fp32: the most accurate "
        "(400 seq/s at batch 32, -10.00 points vs torch-fp32)"
    )


def test_ties_go_to_the_more_accurate_then_to_the_first_measured():
    r = _report(_v("torch-fp32", 100, 0.9), _v("torch-bf16", 400, 0.899), _v("torch-compile-bf16", 400, 0.9))
    assert recommend(r, 0.3)[0]["kind"] == "torch-compile-bf16"
    r = _report(_v("torch-fp32", 400, 0.9), _v("torch-bf16", 400, 0.9))
    assert recommend(r, 0.3)[0]["kind"] == "torch-fp32"
    assert pick([], len, bool, len) == (None, False)


def test_cuda_variants_are_not_recommended_on_the_cpu_and_the_teacher_never():
    r = _report(
        _v("torch-fp32", 100, 0.9),
        _v("torch-fp16", 9000, 0.9, device="cuda"),
        _v("torch-fp32", 100, 0.9, device="cuda"),
        _v("torch-bf16", 50000, 0.95, source="t", role="teacher"),
        devices=("cpu", "cuda"),
    )
    best, _ = recommend(r, 0.3)
    assert (best["kind"], best["device"]) == ("torch-fp32", "cpu")
    assert [(x["device"], x["kind"]) for x in recommendations(r, 0.3)] == [
        ("cpu", "torch-fp32"),
        ("cuda", "torch-fp16"),
    ]
    assert recommend(r, 0.3, device="cpu", source="nope") == (
        None,
        "no variant of nope was measured on cpu at batch 32",
    )


def test_random_weights_are_judged_on_speed_alone():
    r = _report(
        _v("torch-fp32", 100, None, source="bert-base", role="other"),
        _v("torch-bf16", 400, None, source="bert-base", role="other"),
    )
    best, why = recommend(r)
    assert best["kind"] == "torch-bf16"
    assert why == "fastest of 2 cpu variants (400 seq/s at batch 32); accuracy not measured, speed only"
    (rec,) = recommendations(r)
    assert summary_line(rec) == f"recommended on this machine for bert-base (cpu): torch-bf16 ({why})"


@pytest.mark.parametrize("drop", [None, "50"])
def test_bench_writes_the_recommendation(tiny_bert, eval_csv, tmp_path, capsys, drop):
    """A bench run of the new CPU kinds: accuracy change, agreement, size and the recommendation."""
    out = tmp_path / "bench"
    argv = ["bench", "--model", str(tiny_bert), "--kinds", "torch-fp32", "torch-bf16", "torch-bf16-autocast"]
    argv += ["torch-int8-x86", "--batch-sizes", "1", "4", "--seq-lens", "8", "--warmup", "1", "--reps", "2"]
    argv += [
        "--max-seconds",
        "1",
        "--eval-data",
        str(eval_csv),
        "--eval-label-column",
        "label",
        "--out",
        str(out),
    ]
    argv += ["--max-accuracy-drop", drop] if drop else []
    assert main(argv) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["settings"]["max_accuracy_drop"] == (50.0 if drop else 0.3)
    for v in data["variants"]:
        assert v["accuracy_delta_vs_student"] is not None and v["agreement_with_fp32"] is not None
        assert v["size_mb"] > 0
    (rec,) = data["recommended"]
    best, why = recommend(data, data["settings"]["max_accuracy_drop"])
    assert rec == {
        "source": tiny_bert.name,
        "device": "cpu",
        "variant": best["name"],
        "kind": best["kind"],
        "why": why,
    }
    line = summary_line(rec)
    assert line in capsys.readouterr().out.splitlines()
    assert f"- {line}" in (out / "report.md").read_text().splitlines()


def test_kinds_here_leave_out_other_devices_other_model_types_and_compile_without_a_compiler():
    from distill.compress import kinds
    from distill.compress.recommend import export_hint, kinds_here

    cpu = kinds_here("distill-bilstm", ["cpu"], compiler=True)
    assert cpu == [k for k in kinds.kinds_for("distill-bilstm") if "cpu" in kinds.get(k).devices]
    assert "torch-compile-fp32" in cpu and "torch-fp16" not in cpu and "ort-opt" not in cpu
    bare = kinds_here("distill-bilstm", ["cpu"], compiler=False)
    assert bare == [k for k in cpu if not kinds.get(k).compiled]
    assert "torch-compile-fp16" in kinds_here("bert", ["cpu", "cuda"], compiler=True)
    lines = export_hint("m", "distill-bilstm", ["cpu"], compiler=False)
    assert lines[1] == "(torch.compile kinds left out: no C++ compiler found for inductor)"


def test_a_negative_accuracy_bound_is_refused_in_one_line():
    from distill.compress.benchconfig import parse_bench_config
    from distill.core.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_bench_config(
            {"sources": [{"name": "s", "shape": "tinybert-4"}], "max_accuracy_drop": -1}, "b.yaml"
        )
    assert "b.yaml" in str(e.value) and "max_accuracy_drop" in str(e.value) and "\n" not in str(e.value)

"""`distill bench` on a classifier of every encoder family: the kinds that apply are timed and scored,
the others are skipped with the family adapter's reason (kinds.LACKS, derived from the adapters)."""

from __future__ import annotations

import pytest

from distill.compress import kinds
from distill.models.adapters import adapter_for
from tests.compress.conftest import run_fast_bench
from tests.family_helpers import CONFIGS, save_classifier

KINDS = [
    "torch-fp32",
    "torch-int8",
    "ort-fp32",
    "ort-opt",
    "ort-int8-dynamic",
    "ort-int8-fused",
    "ort-int8-cls",
]
# every other CPU kind but the calibrated one (static INT8 needs a calibration set, tested in test_bench)
SLOW_KINDS = [
    k
    for k in kinds.names()
    if "cpu" in kinds.get(k).devices and k not in KINDS and not kinds.get(k).calibrated
]


def _check(rep: dict, mt: str, asked: list[str]) -> None:
    applies = [k for k in asked if kinds.refusal(k, mt) is None]
    assert [v["name"] for v in rep["variants"]] == [f"m/{k}" for k in applies]
    assert all(v["accuracy"] is not None and v["timings"][0]["throughput_seq_s"] > 0 for v in rep["variants"])
    assert {s["kind"]: s["skipped"] for s in rep["skipped"]} == {
        k: f"does not apply to model_type {mt}: {kinds.refusal(k, mt)}" for k in asked if k not in applies
    }


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_bench_times_what_applies_and_skips_the_rest_with_the_reason(family, eval_csv, tmp_path):
    folder = save_classifier(family, tmp_path / family)
    mt = CONFIGS[family]().model_type
    assert kinds.refusal("ort-opt", mt) == (
        None if adapter_for(mt).ort_optimizer.ok else adapter_for(mt).ort_optimizer.why
    )
    _check(run_fast_bench(tmp_path, [("m", folder, "student")], KINDS, eval_csv), mt, KINDS)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_bench_every_cpu_kind(family, eval_csv, tmp_path):
    folder = save_classifier(family, tmp_path / family)
    mt = CONFIGS[family]().model_type
    _check(run_fast_bench(tmp_path, [("m", folder, "student")], SLOW_KINDS, eval_csv), mt, SLOW_KINDS)

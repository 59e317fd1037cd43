"""Running a plan: each step in order, skipped when finished, written atomically with done.json.

A step writes into a temporary folder beside its final one (:func:`distill.core.atomic.atomic_dir`);
``done.json`` is the last file written, and the rename makes the whole folder appear at once. A
crash or Ctrl-C leaves no ``<name>-<key>/``, so the next invocation runs that step again and skips
every step before it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from distill.core.atomic import atomic_dir
from distill.core.metrics import METRIC_NAMES, shown
from distill.core.schema import load_yaml
from distill.pipeline.context import DONE, Done, Result, StepContext
from distill.pipeline.data_steps import run_augment, run_data, run_teacher
from distill.pipeline.keys import toolkit_version
from distill.pipeline.model_steps import (
    run_bench,
    run_compress,
    run_deploy,
    run_distill,
    run_export,
    run_general,
)
from distill.pipeline.plan import Planned, make_plan, plan_table
from distill.pipeline.recipe import Recipe

log = logging.getLogger("distill")

EXECUTORS: dict[str, Callable[[StepContext], Result]] = {
    "data": run_data,
    "teacher": run_teacher,
    "augment": run_augment,
    "general": run_general,
    "distill": run_distill,
    "compress": run_compress,
    "export": run_export,
    "bench": run_bench,
    "deploy": run_deploy,
}


def _relative(path: Path, tmp: Path, final: Path, root: Path) -> str:
    """``path`` relative to the recipe output, as it will be once ``tmp`` is renamed to ``final``."""
    if path.is_relative_to(tmp):
        path = final / path.relative_to(tmp)
    return path.resolve().relative_to(root.resolve()).as_posix()


def _execute(recipe: Recipe, p: Planned, done: dict[str, Done], teacher_raw: dict) -> Done:
    inputs = {
        slot: [done[r] for r in ref] if isinstance(ref, list) else done[ref]
        for slot, ref in p.step.inputs.items()
    }
    start = time.perf_counter()
    with atomic_dir(p.dir) as tmp:
        ctx = StepContext(recipe, p.step, tmp, p.dir, inputs, teacher_raw)
        result = EXECUTORS[p.step.kind](ctx)
        record = {
            "step": p.step.name,
            "kind": p.step.kind,
            "key": p.key,
            "parts": p.parts,
            "outputs": {k: _relative(v, tmp, p.dir, recipe.output) for k, v in result.outputs.items()},
            "info": result.info,
            "seconds": round(time.perf_counter() - start, 3),
            "toolkit": toolkit_version(),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (tmp / DONE).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return Done.read(p.dir, recipe.output)


def run_pipeline(recipe: Recipe, dry_run: bool = False, echo: Callable[[str], None] = print) -> list[Planned]:
    """Plan, print the plan, and (unless ``dry_run``) run the steps that are not finished."""
    plan = make_plan(recipe)
    echo(plan_table(plan))
    if dry_run:
        return plan
    teacher_raw = load_yaml(recipe.teacher)
    recipe.output.mkdir(parents=True, exist_ok=True)
    done: dict[str, Done] = {}
    for i, p in enumerate(plan, 1):
        if p.action == "skip":
            done[p.step.name] = Done.read(p.dir, recipe.output)
            continue
        log.info("pipeline: step %d/%d %s (%s) -> %s", i, len(plan), p.step.name, p.step.kind, p.dir)
        done[p.step.name] = _execute(recipe, p, done, teacher_raw)
    echo(summary(plan, done))
    return plan


def summary(plan: list[Planned], done: dict[str, Done]) -> str:
    lines = [
        "",
        "pipeline finished: " + ", ".join(f"{a} {sum(p.action == a for p in plan)}" for a in ("run", "skip")),
    ]
    for p in plan:
        d = done[p.step.name]
        main = next(iter(d.outputs.values()), d.dir)
        if p.step.kind in ("data", "augment"):
            main = d.outputs["train"]
        note = ""
        if p.step.kind == "distill":
            m = d.info.get("metric", "accuracy")
            note = f"  (dev {METRIC_NAMES[m]} {shown(m, d.info[f'dev_{m}'])}, teacher {shown(m, d.info[f'teacher_dev_{m}'])})"
        lines.append(f"  {p.step.name:<12} {p.action:<4} {main}{note}")
    reports = [d.outputs["report"] for d in done.values() if "report" in d.outputs]
    lines += [f"bench report: {r}" for r in reports]
    return "\n".join(lines)

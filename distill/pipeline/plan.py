"""The plan of a recipe: every step's config checked, its key computed, and run or skip decided.

Nothing is loaded but configs (no model, no hub access), so ``--dry-run`` works for a hub recipe on
a machine without the hub. A step is skipped when ``<output>/<name>-<key>/done.json`` exists;
otherwise the plan says why it runs: never run, or what changed since its last finished run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.config import load_student_config, load_teacher_config
from distill.core.errors import ConfigError
from distill.core.schema import load_yaml
from distill.pipeline.context import DONE
from distill.pipeline.keys import (
    Missing,
    config_content,
    data_source_files,
    files_digest,
    step_key,
    toolkit_version,
)
from distill.pipeline.recipe import UNKEYED, Recipe, Step
from students.family import StudentFamily

STUDENT_FILES = ("augment", "transfer")  # student.yaml keys that name a file the run reads


@dataclass
class Planned:
    step: Step
    key: str
    parts: dict[str, str]  # part name -> its hash
    dir: Path
    action: str  # run | skip
    reason: str


def _check_config(recipe: Recipe, step: Step, families: dict[str, StudentFamily]) -> None:
    """Validate the step's own config file with its loader (its errors name that file)."""
    where = f"{recipe.path}: steps.{step.index}"
    if step.kind in ("general", "distill"):
        family = load_student_config(step.config).architecture.student_family
        families[step.name] = family
        if step.kind == "general" and not family.general:
            raise ConfigError(
                f"{where}.config: general distillation needs a Transformer student; {step.config} is a {family.name}"
            )
    elif step.kind == "augment":
        from augment.config import load_config

        load_config(step.config)
    elif step.kind in ("compress", "export", "bench"):
        for slot in ("model", "student", "teacher", "models"):
            refs = step.inputs.get(slot, [])
            for ref in refs if isinstance(refs, list) else [refs]:
                family = families.get(ref)
                if family is not None and not family.is_transformer:
                    _check_student_input(step, f"{where}.inputs.{slot}", ref, family)


def _check_student_input(step: Step, where: str, ref: str, family: StudentFamily) -> None:
    """What compress/export/bench can do with a non-Transformer student (the BiLSTM), refused here rather
    than after training it: no pruning; export without the BERT-only INT8 recipes; bench with at least
    one kind that applies."""
    from distill.compress import kinds

    mt, o, title = family.model_type, step.options, family.title
    if step.kind == "compress":
        raise ConfigError(
            f"{where}: step {ref!r} makes a {title} student; compress (pruning) supports BERT-family models only"
        )
    reason = kinds.refusal(kinds.int8_kind(o.int8).name, mt) if step.kind == "export" and o.int8 else None
    if reason:
        raise ConfigError(
            f"{where}: step {ref!r} makes a {title} student; options.int8 {o.int8!r} does not apply to it "
            f"({reason}); int8 for a {title}: {', '.join(kinds.int8_for(mt))}"
        )
    if step.kind == "bench" and all(kinds.refusal(k, mt) for k in o.kinds):
        raise ConfigError(
            f"{where}: step {ref!r} makes a {title} student; none of options.kinds {o.kinds} apply to it; "
            f"kinds for a {title}: {', '.join(kinds.kinds_for(mt))}"
        )


def _parts(
    recipe: Recipe, step: Step, teacher_raw: dict[str, Any], keys: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """What the step's result depends on; also a note when a file it reads is missing."""
    options = step.options.model_dump(exclude=UNKEYED)
    parts: dict[str, Any] = {"toolkit": toolkit_version(), "kind": step.kind, "options": options}
    for slot, ref in step.inputs.items():  # one part per input, so a message can name the one that changed
        parts[f"input {slot}"] = [keys[r] for r in ref] if isinstance(ref, list) else keys[ref]
    teacher_rest = {k: v for k, v in teacher_raw.items() if k != "data"}
    files: list[Path] = []
    if step.kind == "data":
        parts["teacher.data"] = teacher_raw["data"]
        try:
            files = data_source_files(teacher_raw["data"])
        except Missing as e:
            return {**parts, "files": f"missing: {e}"}, f"data source missing: {e}"
    if step.kind in ("teacher", "general", "distill"):
        parts["teacher"] = teacher_rest
    if step.config is not None:
        parts["config"] = config_content(step.config)
    if step.kind == "general" and step.options.corpus:
        files = [Path(step.options.corpus)]
    if step.kind == "distill":  # the files its student.yaml names: another file, another student
        files = [Path(parts["config"][k]) for k in STUDENT_FILES if parts["config"].get(k)]
    if files:
        try:
            parts["files"] = files_digest(files)
        except Missing as e:
            what = {"data": "data source", "general": "corpus"}.get(
                step.kind, "student.yaml's augment or transfer file"
            )
            return {**parts, "files": f"missing: {e}"}, f"{what} missing: {e}"
    return parts, None


def _previous(root: Path, name: str) -> dict | None:
    """The most recently finished run of step ``name`` (any key), from its done.json."""
    done = sorted(root.glob(f"{name}-*/{DONE}"), key=lambda p: p.stat().st_mtime)
    return json.loads(done[-1].read_text(encoding="utf-8")) if done else None


def _why(root: Path, name: str, parts: dict[str, str]) -> str:
    prev = _previous(root, name)
    if prev is None:
        return "not run yet"
    old = prev.get("parts", {})
    changed = [k for k in parts if old.get(k) != parts[k]]
    return (
        f"changed since {prev['step']}-{prev['key']}: {', '.join(changed)}" if changed else "output missing"
    )


def make_plan(recipe: Recipe) -> list[Planned]:
    """Check every config and compute every key; decide run or skip for each step."""
    teacher_raw = load_yaml(recipe.teacher)
    load_teacher_config(recipe.teacher)  # a bad teacher.yaml fails here, naming its key
    keys: dict[str, str] = {}
    families: dict[str, StudentFamily] = {}
    plan = []
    for step in recipe.steps:
        _check_config(recipe, step, families)
        parts, missing = _parts(recipe, step, teacher_raw, keys)
        key, hashed = step_key(parts)
        keys[step.name] = key
        out = recipe.output / f"{step.name}-{key}"
        if (out / DONE).is_file():
            plan.append(Planned(step, key, hashed, out, "skip", "done"))
        else:
            reason = missing or _why(recipe.output, step.name, hashed)
            plan.append(Planned(step, key, hashed, out, "run", reason))
    return plan


def plan_table(plan: list[Planned]) -> str:
    rows = [("step", "kind", "key", "action", "reason")]
    rows += [(p.step.name, p.step.kind, p.key, p.action, p.reason) for p in plan]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)), r[4]]) for r in rows
    )

"""What a step executor gets (its inputs' finished outputs, a temporary folder) and gives back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.pipeline.recipe import Recipe, Step

DONE = "done.json"


@dataclass
class Done:
    """A finished step, read from its ``done.json``: artifact name -> absolute path, and facts."""

    name: str
    kind: str
    key: str
    dir: Path
    outputs: dict[str, Path]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, step_dir: Path, root: Path) -> Done:
        d = json.loads((step_dir / DONE).read_text(encoding="utf-8"))
        outputs = {k: root / v for k, v in d["outputs"].items()}
        return cls(d["step"], d["kind"], d["key"], step_dir, outputs, d.get("info", {}))


@dataclass
class StepContext:
    recipe: Recipe
    step: Step
    tmp: Path  # the step writes here; renamed to `final` when it returns
    final: Path
    inputs: dict[str, Done | list[Done]]
    teacher_raw: dict[str, Any]  # teacher.yaml as parsed

    def one(self, slot: str) -> Done | None:
        value = self.inputs.get(slot)
        assert not isinstance(value, list)
        return value

    def final_path(self, path: Path) -> Path:
        """Where ``path`` (inside ``tmp``) will be once the step is finished."""
        return self.final / path.relative_to(self.tmp)


@dataclass
class Result:
    """An executor's result: artifact name -> path (inside ``tmp`` or an input's), and facts."""

    outputs: dict[str, Path]
    info: dict[str, Any] = field(default_factory=dict)

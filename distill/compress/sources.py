"""The sources of one benchmark: which is the teacher, and what they must share to be scored on one
eval set (the label order, the task)."""

from __future__ import annotations

import json
from pathlib import Path

from distill.compress.variants import Source
from distill.core.errors import ConfigError


def label2id_of(model_dir: str | Path) -> dict | None:
    """A saved model's label name -> id (None where its config.json has none)."""
    from distill.compress.models import label2id

    return label2id(json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")))


def one_task(sources: list[Source], where: str) -> str:
    """The task every trained source shares (distill.compress.scoring): one eval label column cannot
    be class ids for one model and scores for another. Refused before anything loads."""
    from distill.compress.scoring import task_of_model

    tasks = {s.name: task_of_model(s.path).name for s in sources if s.path}
    if len(set(tasks.values())) > 1:
        listed = ", ".join(f"{name!r} {task}" for name, task in tasks.items())
        raise ConfigError(f"{where}: the sources are models of different tasks ({listed}): bench them apart")
    return next(iter(tasks.values()), "classification")


def one_label_order(sources: list[Source], where: str) -> dict | None:
    """The label name -> id every saved source shares: one eval label column is scored against all
    of them, so a teacher whose ids name other classes (or in another order) would get a wrong
    accuracy. Refused before anything loads."""
    maps = [(s, label2id_of(s.path)) for s in sources if s.path]
    maps = [(s, m) for s, m in maps if m]
    for s, m in maps[1:]:
        if m != maps[0][1]:
            first, ref = maps[0]
            raise ConfigError(
                f"{where}: source {s.name!r} ({s.path}) labels its classes {sorted(m, key=m.get)}, but "
                f"{first.name!r} labels them {sorted(ref, key=ref.get)}: one eval set cannot score both; "
                "save the models with the same id2label (distill's teacher step aligns the teacher's)"
            )
    return maps[0][1] if maps else None


def mark_teacher(sources: list[dict], teacher: str) -> None:
    """``--teacher DIR``: the source at DIR (added when no --model names it) gets role teacher, the
    reference of the report's vs-teacher columns."""
    same = next(
        (
            s
            for s in sources
            if isinstance(s, dict)
            and isinstance(s.get("path"), str)
            and Path(s["path"]).resolve() == Path(teacher).resolve()
        ),
        None,
    )
    if same is not None:
        same["role"] = "teacher"
    else:
        sources.append({"name": Path(teacher).name, "path": str(teacher), "role": "teacher"})

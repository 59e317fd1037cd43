"""An objectives mapping (``{pred: {weight: 1, temperature: 2}, hidden: {}}``) as YAML gives it:
validated against the registry, then built for a student and a teacher.

A student.yaml stage, `distill compress --recover-objectives` and a pipeline's compress step all take
this mapping, so all three accept the same names and parameters and report a mistake the same way,
one line naming the source and the key path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from distill.core.errors import ConfigError
from distill.core.schema import validate
from distill.objectives.base import OBJECTIVES, ModelDims, Objective


def _key(source: str, prefix: tuple) -> str:
    return f"{source}: {'.'.join(map(str, prefix))}" if prefix else source


def parse_objectives(raw: Any, source: str, prefix: tuple = ()) -> dict[str, BaseModel]:
    """Objective name -> its validated ``Params``; unknown names and bad parameters are ConfigErrors.

    ``prefix`` is the mapping's key path inside ``source`` (``("stages", 0, "objectives")``).
    An objective given no value (``emb:``) takes its defaults.
    """
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{_key(source, prefix)}: expected a mapping of objective name -> parameters, "
            f"e.g. {{pred: {{temperature: 2}}}}, got {raw!r}"
        )
    if not raw:
        raise ConfigError(
            f"{_key(source, prefix)}: needs at least one objective; allowed: {', '.join(OBJECTIVES.names())}"
        )
    parsed: dict[str, BaseModel] = {}
    for name, params in raw.items():
        loc = (*prefix, name)
        entry = OBJECTIVES.get(name)
        if entry is None:
            raise ConfigError(f"{_key(source, loc)}: unknown objective; {OBJECTIVES.suggest(str(name))}")
        # `emb:` with no value means defaults; '', 0 or [] are mistakes, reported as such.
        parsed[name] = validate(entry.Params, {} if params is None else params, source, prefix=loc)
    return parsed


def build_objectives(
    spec: dict[str, BaseModel], student: ModelDims, teacher: ModelDims, source: str, prefix: tuple = ()
) -> list[Objective]:
    """The objective modules for these model sizes; a shape conflict is a ConfigError naming the key."""
    built = []
    for name, params in spec.items():
        try:
            built.append(OBJECTIVES.get(name)(params, student, teacher))
        except ValueError as e:
            raise ConfigError(f"{_key(source, (*prefix, name))}: {e}") from None
    return built


def check_task(
    spec: dict[str, BaseModel],
    task: str,
    source: str,
    prefix: tuple = (),
    why: str = "",
    origin: str = "data.task",
) -> None:
    """Refuse an objective that means nothing for ``task``, naming those that do; ``origin``: where
    the task is set (data.task; a saved model's config.json), ``why``: how it was decided there
    (declared, or what the labels hold)."""
    for name in spec:
        if task not in OBJECTIVES.get(name).tasks:
            fits = [n for n in OBJECTIVES.names() if task in OBJECTIVES.get(n).tasks]
            raise ConfigError(
                f"{_key(source, (*prefix, name))}: does not apply to a {task} task ({origin}"
                f"{': ' + why if why else ''}); objectives for {task}: {', '.join(fits)}"
            )

"""``recipe.yaml`` for ``distill pipeline``: typed steps, their options and their input references.

A recipe names one teacher.yaml and a list of steps. Each step has a ``kind`` (what it runs), a
``config`` file where the kind takes one, typed ``options`` and ``inputs`` naming *earlier* steps,
so the steps form a chain (no cycles are possible). Everything is checked on load, before anything
runs, with one line naming the recipe file and key::

    recipe.yaml: steps.3.inputs.teacher: unknown step 'teachr'; did you mean 'teacher'?
    recipe.yaml: steps.1.inputs.data: step 'augment' comes later (steps.2); a step can only use earlier steps

Paths (``teacher``, ``config``, ``output``, ``options.corpus``) are relative to the current
directory, as in every other config of this project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from distill.compress.kinds import INT8_EXPORTS
from distill.core.errors import ConfigError
from distill.core.schema import (
    NonNegInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    did_you_mean,
    load_yaml,
    validate,
)

Kind = Literal["data", "teacher", "augment", "general", "distill", "compress", "export", "bench", "deploy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


# ---------------------------------------------------------------------------------------------
# Options of each kind. Keys listed in ``UNKEYED`` do not change a step's result (worker count),
# so they are left out of its key: changing them does not re-run the step.


class DataOptions(_Strict):
    """Caps that override teacher.yaml's ``data.max_*_examples`` (e.g. a reduced trial run)."""

    max_train_examples: PositiveInt | None = None
    max_eval_examples: PositiveInt | None = None


class NoOptions(_Strict):
    pass


class AugmentOptions(_Strict):
    n_iter: PositiveInt | None = Field(None, description="overrides augment.yaml n_iter / N")
    workers: PositiveInt = 1


class GeneralOptions(_Strict):
    corpus: str | None = Field(
        None, description="unlabeled .txt/.jsonl; default: the data input's train texts"
    )
    epochs: PositiveFloat = 1.0
    lr: PositiveFloat = 1e-4
    batch_size: PositiveInt = 32
    max_length: PositiveInt | None = None


class CompressOptions(_Strict):
    prune_heads: Probability = 0.0
    prune_ffn: Probability = 0.0
    importance: Literal["magnitude", "taylor"] = "magnitude"
    recover_epochs: NonNegInt = 0
    recover_lr: PositiveFloat = 5e-5
    # objective name -> parameters, as in a student.yaml stage; None: `distill compress`'s default
    recover_objectives: dict[str, Any] | None = None
    max_len: PositiveInt = 128
    train_limit: PositiveInt = 1000


class ExportOptions(_Strict):
    opset: PositiveInt = 17
    optimize: bool = True
    int8: Literal[INT8_EXPORTS] | None = None
    min_agreement: Probability = 0.99
    min_agreement_int8: Probability = 0.97
    verify_limit: PositiveInt = 1000
    calibration_limit: PositiveInt = 256


class BenchOptions(_Strict):
    """bench.yaml's keys (see `distill bench`); sources and data come from the step's inputs."""

    kinds: list[str] = Field(
        default_factory=lambda: ["torch-fp32", "torch-int8", "ort-opt", "ort-int8-dynamic", "ort-int8-fused"]
    )
    devices: list[Literal["cpu", "cuda"]] = Field(default_factory=lambda: ["cpu"])
    batch_sizes: list[PositiveInt] = Field(default_factory=lambda: [1, 32, 128], min_length=1)
    seq_lens: list[PositiveInt] = Field(default_factory=lambda: [64], min_length=1)
    warmup: PositiveInt = 10
    reps: PositiveInt = 100
    max_seconds: PositiveFloat = 10.0
    min_reps: PositiveInt = 3
    threads: PositiveInt = 1
    eval_split: Literal["dev", "test"] = "test"
    eval_limit: PositiveInt = 1000
    calibration_limit: PositiveInt = 256


class DeployOptions(_Strict):
    """The kind deployed is the bench step's recommendation for the model input on ``device`` (the
    fastest that keeps its ``max_accuracy_drop``); the rest are `distill export`'s, for an ONNX kind."""

    device: Literal["cpu", "cuda"] = "cpu"
    opset: PositiveInt = 17
    min_agreement: Probability = 0.99
    min_agreement_int8: Probability = 0.97
    verify_limit: PositiveInt = 1000
    calibration_limit: PositiveInt = 256


UNKEYED = {"workers"}


@dataclass(frozen=True)
class Input:
    """One input slot of a kind: which kinds of step may fill it, and whether it takes a list."""

    kinds: tuple[str, ...]
    required: bool = True
    many: bool = False


MODEL_KINDS = ("teacher", "distill", "compress")
DATA_KINDS = ("data", "augment")


@dataclass(frozen=True)
class KindSpec:
    config: str | None  # what the config file is ("student.yaml"), or None: the kind takes none
    options: type[BaseModel]
    inputs: dict[str, Input]


KINDS: dict[str, KindSpec] = {
    "data": KindSpec(None, DataOptions, {}),
    "teacher": KindSpec(None, NoOptions, {"data": Input(DATA_KINDS)}),
    "augment": KindSpec("augment.yaml", AugmentOptions, {"data": Input(DATA_KINDS)}),
    "general": KindSpec("student.yaml", GeneralOptions, {"data": Input(DATA_KINDS, required=False)}),
    "distill": KindSpec(
        "student.yaml",
        NoOptions,
        {
            "teacher": Input(("teacher",)),
            "data": Input(DATA_KINDS),
            "general": Input(("general",), required=False),
        },
    ),
    "compress": KindSpec(
        None, CompressOptions, {"model": Input(MODEL_KINDS), "data": Input(DATA_KINDS, required=False)}
    ),
    "export": KindSpec(
        None, ExportOptions, {"model": Input(MODEL_KINDS), "data": Input(DATA_KINDS, required=False)}
    ),
    "bench": KindSpec(
        None,
        BenchOptions,
        {
            "student": Input(MODEL_KINDS),
            "teacher": Input(MODEL_KINDS, required=False),
            "models": Input(MODEL_KINDS, required=False, many=True),
            "data": Input(DATA_KINDS, required=False),
        },
    ),
    "deploy": KindSpec(
        None,
        DeployOptions,
        {"bench": Input(("bench",)), "model": Input(MODEL_KINDS), "data": Input(DATA_KINDS, required=False)},
    ),
}


class StepConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    kind: Kind
    config: str | None = None
    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class RecipeConfig(_Strict):
    name: str
    teacher: str = Field(description="teacher.yaml: the teacher model, its data and fine-tuning")
    output: str | None = Field(None, description="default: outputs/pipelines/<name>")
    steps: list[StepConfig] = Field(min_length=1)


@dataclass
class Step:
    """A validated step: its options model and its inputs as step names (one or a list)."""

    index: int
    name: str
    kind: str
    config: Path | None
    options: BaseModel
    inputs: dict[str, str | list[str]]


@dataclass
class Recipe:
    path: Path
    name: str
    teacher: Path
    output: Path
    steps: list[Step]

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def _parse_set(items: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
    """``--set STEP.KEY=VALUE`` (VALUE read as YAML) -> {step: {key: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        step, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise ConfigError(f"--set {item}: expected STEP.KEY=VALUE, e.g. data.max_train_examples=500")
        if step not in names:
            close = did_you_mean(step, names)
            raise ConfigError(
                f"--set {item}: unknown step {step!r}; "
                + (f"did you mean {close!r}?" if close else f"steps: {', '.join(names)}")
            )
        try:
            out.setdefault(step, {})[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value is not valid YAML") from None
    return out


def _check_inputs(
    step: StepConfig,
    i: int,
    spec: KindSpec,
    earlier: dict[str, int],
    later: dict[str, int],
    kinds: dict[str, str],
    where: str,
) -> None:
    for slot, ref in step.inputs.items():
        key = f"{where}: steps.{i}.inputs.{slot}"
        if slot not in spec.inputs:
            allowed = ", ".join(spec.inputs) or "none"
            raise ConfigError(f"{key}: unknown input for {_a(step.kind)} step; allowed inputs: {allowed}")
        want = spec.inputs[slot]
        if isinstance(ref, list) and not want.many:
            raise ConfigError(f"{key}: expected one step name, got a list")
        for name in ref if isinstance(ref, list) else [ref]:
            if name in later:
                raise ConfigError(
                    f"{key}: step {name!r} comes later (steps.{later[name]}); a step can only use earlier steps"
                )
            if name not in earlier:
                close = did_you_mean(name, list(earlier))
                hint = (
                    f"did you mean {close!r}?" if close else f"earlier steps: {', '.join(earlier) or 'none'}"
                )
                raise ConfigError(f"{key}: unknown step {name!r}; {hint}")
            if kinds[name] not in want.kinds:
                raise ConfigError(
                    f"{key}: step {name!r} is {_a(kinds[name])} step; expected a step of kind {' or '.join(want.kinds)}"
                )
    for slot, want in spec.inputs.items():
        if want.required and slot not in step.inputs:
            raise ConfigError(
                f"{where}: steps.{i}.inputs.{slot}: missing required input ({_a(' or '.join(want.kinds))} step)"
            )


def _check_recover_objectives(options: CompressOptions, where: str, prefix: tuple) -> None:
    """Validate ``recover_objectives`` like a student.yaml stage's objectives, and store them with
    every default filled in: two spellings of the same objectives give the step the same key."""
    from distill.objectives.spec import parse_objectives

    if not options.recover_epochs:
        raise ConfigError(
            f"{where}: {'.'.join(map(str, prefix))}.recover_objectives: needs recover_epochs >= 1 "
            "(without recovery it would do nothing)"
        )
    spec = parse_objectives(options.recover_objectives, where, (*prefix, "recover_objectives"))
    options.recover_objectives = {name: params.model_dump() for name, params in spec.items()}


def _check_deploy(step: Step, steps: dict[str, Step], where: str) -> None:
    """A deploy step deploys what its bench step measured: its model among the bench's student and
    models, its device among the bench's devices."""
    bench = steps[step.inputs["bench"]]
    measured = [bench.inputs["student"], *bench.inputs.get("models", [])]
    if step.inputs["model"] not in measured:
        raise ConfigError(
            f"{where}.inputs.model: step {step.inputs['model']!r} is not measured by bench step {bench.name!r} "
            f"(its student and models: {', '.join(measured)}); deploy deploys what bench measured"
        )
    if step.options.device not in bench.options.devices:
        raise ConfigError(
            f"{where}.options.device: {step.options.device}: bench step {bench.name!r} measures "
            f"{', '.join(bench.options.devices)} only"
        )


def parse_recipe(data: dict[str, Any], where: str, overrides: list[str] | None = None) -> Recipe:
    """Validate a recipe mapping: step kinds, names, options, configs' presence and input references."""
    cfg = validate(RecipeConfig, data, where)
    names = [s.name for s in cfg.steps]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"{where}: steps: the name {dup!r} is used twice; step names must be unique")
    sets = _parse_set(overrides or [], names)
    steps: list[Step] = []
    kinds = {s.name: s.kind for s in cfg.steps}
    for i, s in enumerate(cfg.steps):
        spec = KINDS[s.kind]
        if spec.config and not s.config:
            raise ConfigError(
                f"{where}: steps.{i}.config: missing required key ({_a(s.kind)} step needs its {spec.config})"
            )
        if not spec.config and s.config:
            raise ConfigError(
                f"{where}: steps.{i}.config: {_a(s.kind)} step takes no config file; use options"
            )
        earlier = {n: j for j, n in enumerate(names[:i])}
        later = {n: j for j, n in enumerate(names) if j >= i}
        _check_inputs(s, i, spec, earlier, later, kinds, where)
        options = validate(
            spec.options, {**s.options, **sets.get(s.name, {})}, where, prefix=("steps", i, "options")
        )
        if isinstance(options, BenchOptions):
            from distill.compress import kinds as bench_kinds

            bad = bench_kinds.unknown(options.kinds)
            if bad:
                raise ConfigError(
                    f"{where}: steps.{i}.options.kinds: unknown kinds {bad}; "
                    f"known: {', '.join(bench_kinds.names())}"
                )
        if isinstance(options, CompressOptions) and options.recover_objectives is not None:
            _check_recover_objectives(options, where, ("steps", i, "options"))
        if s.kind == "general" and options.corpus is None and "data" not in s.inputs:
            raise ConfigError(
                f"{where}: steps.{i}: a general step needs options.corpus or inputs.data (its train texts)"
            )
        steps.append(Step(i, s.name, s.kind, Path(s.config) if s.config else None, options, dict(s.inputs)))
        if s.kind == "deploy":
            _check_deploy(steps[-1], {t.name: t for t in steps}, f"{where}: steps.{i}")
    output = Path(cfg.output) if cfg.output else Path("outputs") / "pipelines" / cfg.name
    return Recipe(Path(where), cfg.name, Path(cfg.teacher), output, steps)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read and validate recipe.yaml (``overrides``: ``--set STEP.KEY=VALUE`` items)."""
    return parse_recipe(load_yaml(path), str(path), overrides)

"""Recipe validation (exact one-line errors) and the committed recipes (planned offline, not run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.cli import main
from distill.core.errors import ConfigError
from distill.pipeline import load_recipe, parse_recipe
from distill.pipeline.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "experiments" / "recipes").glob("*.yaml"))

BASE = [
    {"name": "data", "kind": "data"},
    {"name": "teacher", "kind": "teacher", "inputs": {"data": "data"}},
    {"name": "augment", "kind": "augment", "config": "a.yaml", "inputs": {"data": "data"}},
    {
        "name": "distill",
        "kind": "distill",
        "config": "s.yaml",
        "inputs": {"teacher": "teacher", "data": "augment"},
    },
]


def recipe(steps: list[dict], **top) -> dict:
    return {"name": "r", "teacher": "t.yaml", "steps": steps, **top}


def error(steps: list[dict], overrides: list[str] | None = None, **top) -> str:
    with pytest.raises(ConfigError) as e:
        parse_recipe(recipe(steps, **top), "recipe.yaml", overrides)
    return str(e.value)


def test_a_valid_recipe_parses_with_defaults():
    r = parse_recipe(
        recipe([*BASE, {"name": "export", "kind": "export", "inputs": {"model": "distill"}}]), "recipe.yaml"
    )
    assert [s.kind for s in r.steps] == ["data", "teacher", "augment", "distill", "export"]
    assert r.output == Path("outputs/pipelines/r")
    assert r.step("export").options.opset == 17 and r.step("export").options.int8 is None
    assert r.step("distill").inputs == {"teacher": "teacher", "data": "augment"}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [{"name": "x", "kind": "distil"}],
            "recipe.yaml: steps.0.kind: expected one of 'data', 'teacher', 'augment', 'general', 'distill', 'compress', "
            "'export', 'bench', 'deploy', got \"distil\"",
        ),
        (
            [BASE[0], {"name": "teacher", "kind": "teacher", "inputs": {"data": "dta"}}],
            "recipe.yaml: steps.1.inputs.data: unknown step 'dta'; did you mean 'data'?",
        ),
        (
            [{"name": "teacher", "kind": "teacher", "inputs": {"data": "data"}}, BASE[0]],
            "recipe.yaml: steps.0.inputs.data: step 'data' comes later (steps.1); a step can only use earlier steps",
        ),
        (
            [BASE[0], {"name": "teacher", "kind": "teacher", "inputs": {"data": "teacher"}}],
            "recipe.yaml: steps.1.inputs.data: step 'teacher' comes later (steps.1); a step can only use earlier steps",
        ),
        (
            [
                *BASE[:3],
                {
                    "name": "distill",
                    "kind": "distill",
                    "config": "s.yaml",
                    "inputs": {"teacher": "augment", "data": "data"},
                },
            ],
            "recipe.yaml: steps.3.inputs.teacher: step 'augment' is an augment step; expected a step of kind teacher",
        ),
        (
            [
                *BASE[:3],
                {"name": "distill", "kind": "distill", "config": "s.yaml", "inputs": {"data": "data"}},
            ],
            "recipe.yaml: steps.3.inputs.teacher: missing required input (a teacher step)",
        ),
        (
            [BASE[0], {"name": "teacher", "kind": "teacher", "inputs": {"data": "data", "student": "data"}}],
            "recipe.yaml: steps.1.inputs.student: unknown input for a teacher step; allowed inputs: data",
        ),
        (
            [BASE[0], {"name": "augment", "kind": "augment", "inputs": {"data": "data"}}],
            "recipe.yaml: steps.1.config: missing required key (an augment step needs its augment.yaml)",
        ),
        (
            [{"name": "data", "kind": "data", "config": "x.yaml"}],
            "recipe.yaml: steps.0.config: a data step takes no config file; use options",
        ),
        ([BASE[0], BASE[0]], "recipe.yaml: steps: the name 'data' is used twice; step names must be unique"),
        (
            [{"name": "data", "kind": "data", "options": {"max_train_exampels": 5}}],
            "recipe.yaml: steps.0.options.max_train_exampels: unknown key; did you mean 'max_train_examples'?",
        ),
        (
            [
                *BASE,
                {
                    "name": "export",
                    "kind": "export",
                    "inputs": {"model": "distill"},
                    "options": {"int8": "int4"},
                },
            ],
            "recipe.yaml: steps.4.options.int8: expected one of 'dynamic', 'fused', 'u8u8', 'cls', 'static', got \"int4\"",
        ),
        (
            [*BASE, {"name": "bench", "kind": "bench", "inputs": {"student": ["distill"]}}],
            "recipe.yaml: steps.4.inputs.student: expected one step name, got a list",
        ),
        (
            [
                *BASE,
                {"name": "bench", "kind": "bench", "inputs": {"student": "distill"}},
                {"name": "deploy", "kind": "deploy", "inputs": {"bench": "bench", "model": "teacher"}},
            ],
            "recipe.yaml: steps.5.inputs.model: step 'teacher' is not measured by bench step 'bench' (its student "
            "and models: distill); deploy deploys what bench measured",
        ),
        (
            [
                *BASE,
                {"name": "bench", "kind": "bench", "inputs": {"student": "distill"}},
                {
                    "name": "deploy",
                    "kind": "deploy",
                    "inputs": {"bench": "bench", "model": "distill"},
                    "options": {"device": "cuda"},
                },
            ],
            "recipe.yaml: steps.5.options.device: cuda: bench step 'bench' measures cpu only",
        ),
        (
            [{"name": "g", "kind": "general", "config": "s.yaml"}],
            "recipe.yaml: steps.0: a general step needs options.corpus or inputs.data (its train texts)",
        ),
    ],
)
def test_bad_recipes_fail_with_one_line_naming_the_key(steps, message):
    assert error(steps) == message


def test_bad_bench_kind_and_set_overrides():
    bench = {
        "name": "bench",
        "kind": "bench",
        "inputs": {"student": "distill"},
        "options": {"kinds": ["ort-int4"]},
    }
    assert error([*BASE, bench]).startswith(
        "recipe.yaml: steps.4.options.kinds: unknown kinds ['ort-int4']; known: torch-fp32, "
    )
    assert (
        error(BASE, ["dat.max_train_examples=5"])
        == "--set dat.max_train_examples=5: unknown step 'dat'; did you mean 'data'?"
    )
    assert (
        error(BASE, ["data=5"]) == "--set data=5: expected STEP.KEY=VALUE, e.g. data.max_train_examples=500"
    )
    assert error(BASE, ["data.max_train_examples=-1"]) == (
        "recipe.yaml: steps.0.options.max_train_examples: expected an integer >= 1, got -1"
    )
    r = parse_recipe(recipe(BASE), "recipe.yaml", ["data.max_train_examples=500", "augment.n_iter=3"])
    assert r.step("data").options.max_train_examples == 500 and r.step("augment").options.n_iter == 3


def test_cli_prints_config_errors_as_one_line(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text("name: r\nteacher: t.yaml\nsteps:\n  - {name: data, kind: data, inputs: {data: x}}\n")
    assert main(["pipeline", str(path), "--dry-run"]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {path}: steps.0.inputs.data: unknown input for a data step; allowed inputs: none\n"
    )


def test_step_configs_are_validated_by_their_own_loaders(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = load_recipe(ROOT / "experiments" / "recipes" / "tang.yaml")
    r.output = tmp_path
    r.step("augment").config = tmp_path / "augment.yaml"
    (tmp_path / "augment.yaml").write_text("strategies: [{name: masking, p_mask: 1.5}]\n")
    with pytest.raises(
        ConfigError, match=r"augment.yaml: strategies.0.p_mask: expected a number in \[0, 1\], got 1.5"
    ):
        make_plan(r)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"kind": "compress", "inputs": {"model": "distill"}},
            "steps.6.inputs.model: step 'distill' makes a BiLSTM student; compress (pruning) supports BERT-family models only",
        ),
        (
            {"kind": "export", "inputs": {"model": "distill"}, "options": {"int8": "fused"}},
            "steps.6.inputs.model: step 'distill' makes a BiLSTM student; options.int8 'fused' does not apply to it (it "
            "quantises the graph of ORT's BERT optimiser, which does not apply to this model type); int8 for a BiLSTM: dynamic",
        ),
        (
            {
                "kind": "bench",
                "inputs": {"student": "teacher", "models": ["distill"]},
                "options": {"kinds": ["ort-opt"]},
            },
            "steps.6.inputs.models: step 'distill' makes a BiLSTM student; none of options.kinds ['ort-opt'] apply to it; "
            "kinds for a BiLSTM: torch-fp32, torch-int8, torch-int8-x86, torch-int8-onednn, torch-fp16, torch-bf16, torch-bf16-autocast, torch-compile-fp32, torch-compile-bf16, torch-compile-bf16-frozen, torch-compile-fp16, ort-fp32, ort-int8-dynamic",
        ),
    ],
)
def test_what_a_bilstm_step_cannot_do_is_refused_by_the_plan(tmp_path, monkeypatch, step, message):
    """tang.yaml's BiLSTM goes through export (int8 dynamic) and bench; pruning, the BERT-only INT8
    recipes, or a bench with no kind that applies to it are refused before anything runs."""
    monkeypatch.chdir(ROOT)
    r = load_recipe(ROOT / "experiments" / "recipes" / "tang.yaml")
    assert [s.kind for s in r.steps][-2:] == ["export", "bench"] and r.step(
        "export"
    ).options.int8 == "dynamic"
    r.steps.append(parse_recipe(recipe([*BASE, {"name": "x", **step}]), "recipe.yaml").steps[-1])
    r.steps[-1].index = len(r.steps) - 1
    r.output = tmp_path
    with pytest.raises(ConfigError) as e:
        make_plan(r)
    assert str(e.value) == f"{r.path}: {message}"


def test_committed_recipes_exist():
    names = {p.name for p in RECIPES}
    for base in ("tinybert", "tang", "distilbert"):
        assert {f"{base}.yaml", f"{base}-bert-large-sst2.yaml"} <= names


GLUE = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli")


@pytest.mark.parametrize("task", GLUE)
def test_a_recipe_for_every_glue_task(task):
    """BERT-large teacher, TinyBERT-4 student, every step through export, bench and deploy; STS-B (a
    regression) with the student whose prediction loss applies to one output, exported static INT8."""
    from distill.config import load_student_config, load_teacher_config

    r = load_recipe(ROOT / "experiments" / "recipes" / f"glue-{task}.yaml")
    teacher = load_teacher_config(r.teacher)
    assert teacher.model == "bert-large-uncased" and teacher.data.glue_task == task
    student = load_student_config(r.step("distill").config)
    assert student.architecture.preset == "tinybert4"
    kinds = [s.kind for s in r.steps]
    objectives = set(student.stages[-1].objectives)
    assert kinds[-3:] == ["export", "bench", "deploy"]  # the kind bench recommends on the GPU, deployed
    if task == "stsb":
        assert teacher.data.task == "regression" and kinds == [
            "data",
            "teacher",
            "augment",
            "distill",
            "export",
            "bench",
            "deploy",
        ]
        assert objectives == {"logit_mse", "mse"} and r.step("export").options.int8 == "static"
    else:
        assert objectives == {"pred", "ce"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_committed_recipes_plan_offline(path, tmp_path, monkeypatch, capsys):
    """Every committed recipe and the configs it names validate, and the dry run needs no hub."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["pipeline", str(path.relative_to(ROOT)), "--dry-run", "--output", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["step", "kind", "key", "action", "reason"]
    r = load_recipe(path.relative_to(ROOT))
    assert [line.split()[0] for line in table[1:]] == [s.name for s in r.steps]
    assert all(line.split()[3] == "run" for line in table[1:])  # fresh output folder: nothing is done
    assert list(tmp_path.iterdir()) == []  # the dry run wrote nothing
    if "bert-large" in path.stem and not (ROOT / "glue_data" / "SST-2").exists():
        assert table[1].endswith("data source missing: glue_data/SST-2")

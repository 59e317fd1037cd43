"""Fuzzing the configs: seeded random mutations of valid teacher.yaml, student.yaml, augment.yaml
and bench.yaml (a required key deleted, an unknown key added at some depth, a value replaced by one
of a wrong type or out of range, a broken file). Every mutant must fail with exit code 2 and one
stderr line naming the file and the key, before any model is trained, leaving no file behind.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import pytest
import torch
import yaml
from transformers import BertModel

from augment.cli import main as augment_main
from distill.cli import main as distill_main
from tests.conftest import TINY_TEACHER_YAML, tiny_config, tiny_tokenizer, toy_rows, write_csv
from tests.fuzz_helpers import assert_clean_failure

HUGE = 10**30
# Wrong values per kind of key. YAML round-trips them: "nan" stays a string, float("nan") is `.nan`.
BAD = {
    "str": [[1, 2], {"a": 1}, None, 5, 1.5, True],
    "name": [[1, 2], {"a": 1}, None, 5, "", "  "],  # names become folders: non-empty
    "prob": ["high", [0.1], {"a": 1}, None, -0.1, 1.5, HUGE, "nan", float("nan"), float("inf"), True],
    "posint": ["x", 1.5, 0, -1, None, [1], {"a": 1}, True, HUGE, 2**31, "1e999", float("nan")],
    "posint?": ["x", 1.5, 0, -1, [1], {"a": 1}, True, HUGE, 2**31],  # None means "default" here
    "posfloat": ["x", 0, -1e-5, None, [1], {}, True, "nan", float("nan"), float("inf"), "1e999"],
    # epochs: also finite sizes whose schedule (epochs x steps per epoch) is beyond 10^8 optimizer steps
    "epochs": [
        "x",
        0,
        -1e-5,
        None,
        [1],
        True,
        float("nan"),
        float("inf"),
        "1e999",
        HUGE,
        1e40,
        "1e40",
        10**8,
    ],
    "fail_below": ["majorty", "Majority", 1.5, 0, -0.5, "nan", float("nan"), True, [0.9], {"a": 1}, ""],
    "nonnegfloat": ["x", -1, None, [1], {}, "NaN", float("nan"), float("-inf")],
    "nonnegint": ["x", -1, 1.5, None, [0], HUGE],
    "seed": ["x", -1, 1.5, 2**32, HUGE, None, [0], True],
    "bool": ["maybe", 2, [True], {"a": 1}, None],
    "device": ["gpu", 1, None, ["cpu"]],
    "mapping": ["x", 5, [1, 2], True, ""],
    "objective": ["x", 5, [1, 2], True, "", 0, []],  # `emb:` (null) means defaults; these do not
    "init": [5, ["teacher"], "no/such/folder", "glove", "general:no/such/folder", "general:"],
    "maxlen": ["x", 0, -1, 1.5, None, HUGE, 65],  # the tiny teacher has 64 positions
}

TEACHER_KEYS = {
    "name": "name",
    "model": "str",
    "max_length": "maxlen",
    "data": "mapping",
    "data.source": "name",
    "data.split": "mapping",
    "data.split.dev": "prob",
    "data.split.test": "prob",
    "data.split.seed": "seed",
    "finetune": "mapping",
    "finetune.epochs": "epochs",
    "finetune.batch_size": "posint",
    "finetune.lr": "posfloat",
    "finetune.warmup_ratio": "prob",
    "finetune.seed": "seed",
    "cache_dir": "str",
    "device": "device",
}
STUDENT_KEYS = {
    "name": "name",
    "architecture": "mapping",
    "architecture.num_layers": "posint?",
    "architecture.hidden_size": "posint?",
    "architecture.num_heads": "posint?",
    "architecture.intermediate_size": "posint?",
    "init": "init",
    "batch_size": "posint",
    "eval_batch_size": "posint",
    "seed": "seed",
    "device": "device",
    "speed": "mapping",
    "speed.latency_runs": "posint",
    "speed.latency_warmup": "posint",
    "speed.throughput_batches": "posint",
    "speed.throughput_batch_size": "posint",
    "stages.0": "mapping",
    "stages.0.name": "name",
    "stages.0.epochs": "epochs",
    "stages.0.lr": "posfloat",
    "stages.0.eval": "bool",
    "stages.0.objectives": "mapping",
    "stages.0.objectives.emb": "objective",
    "stages.0.objectives.attn.weight": "nonnegfloat",
    "stages.1.objectives.pred.temperature": "posfloat",
    "stages.1.objectives.ce.weight": "nonnegfloat",
    "stages.1.lr": "posfloat",
    "fail_below": "fail_below",
}
TEACHER_REQUIRED = ["name", "model", "data", "data.source"]
STUDENT_REQUIRED = ["name", "architecture", "stages", "stages.0.name", "stages.1.objectives"]
TEACHER_MAPPINGS = ["", "data", "data.split", "finetune"]
STUDENT_MAPPINGS = [
    "",
    "architecture",
    "speed",
    "stages.0",
    "stages.1",
    "stages.0.objectives.attn",
    "stages.0.objectives",
]

STUDENT_YAML = """
name: tiny-student
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: teacher
batch_size: 8
eval_batch_size: 16
seed: 0
device: cpu
speed: {latency_runs: 5, latency_warmup: 1, throughput_batches: 2, throughput_batch_size: 8}
stages:
  - name: intermediate
    epochs: 1
    lr: 1.0e-3
    eval: false
    objectives: {emb: {weight: 1.0}, attn: {weight: 1.0}}
  - name: prediction
    lr: 1.0e-3
    objectives: {pred: {temperature: 2.0}, ce: {weight: 0.5}}
"""


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """A mutant must never reach for the model hub (and wait on its retries)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, Any]:
    """The two valid configs (as dicts) for a tiny 4-layer encoder and a toy CSV."""
    root = tmp_path_factory.mktemp("fuzz-configs")
    torch.manual_seed(0)
    encoder = root / "encoder"
    BertModel(tiny_config()).save_pretrained(encoder)
    tiny_tokenizer(encoder).save_pretrained(encoder)
    data = write_csv(root / "toy.csv", toy_rows(40))
    teacher = yaml.safe_load(
        TINY_TEACHER_YAML.format(name="tiny-teacher", model=encoder, data=data, cache=root / "cache")
    )
    teacher["device"] = "cpu"
    return {"teacher": teacher, "student": yaml.safe_load(STUDENT_YAML)}


def _parent(config: dict, key: str) -> tuple[Any, str | int]:
    parts = [int(p) if p.isdigit() else p for p in key.split(".")]
    node = config
    for p in parts[:-1]:
        node = node[p]
    return node, parts[-1]


def mutants(valid: dict, which: str, rng: random.Random, n: int) -> list[tuple[str, dict, str]]:
    """``n`` (description, mutated config, text the error must contain) of ``valid[which]``."""
    keys = TEACHER_KEYS if which == "teacher" else STUDENT_KEYS
    required = TEACHER_REQUIRED if which == "teacher" else STUDENT_REQUIRED
    mappings = TEACHER_MAPPINGS if which == "teacher" else STUDENT_MAPPINGS
    out = []
    for _ in range(n):
        config = copy.deepcopy(valid[which])
        op = rng.choice(["delete", "unknown", "value", "value", "value"])
        if op == "delete":
            key = rng.choice(required)
            parent, last = _parent(config, key)
            del parent[last]
            out.append((f"delete {key}", config, f"{key}: missing required key"))
        elif op == "unknown":
            where = rng.choice(mappings)
            name = rng.choice(["bogus", "lr_rate", "Name", "x" * 40])
            (_parent(config, where + ".x")[0] if where else config)[name] = rng.choice([1, "x", None, [1]])
            key = f"{where}.{name}" if where else name
            out.append((f"unknown {key}", config, f"{key}: unknown"))
        else:
            key = rng.choice(sorted(keys))
            value = rng.choice(BAD[keys[key]])
            parent, last = _parent(config, key)
            parent[last] = value
            out.append((f"{key} = {value!r}", config, f"{key}: "))
    return out


def write_pair(folder: Path, valid: dict, which: str, mutant: dict) -> tuple[Path, Path]:
    teacher, student = folder / "teacher.yaml", folder / "student.yaml"
    teacher.write_text(yaml.safe_dump(mutant if which == "teacher" else valid["teacher"]))
    student.write_text(yaml.safe_dump(mutant if which == "student" else valid["student"]))
    return teacher, student


def test_the_unmutated_configs_are_valid(tmp_path, valid, capsys):
    teacher, student = write_pair(tmp_path, valid, "teacher", valid["teacher"])
    assert distill_main(["validate", str(teacher), str(student)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


@pytest.mark.parametrize("which", ["teacher", "student"])
def test_random_mutants_fail_validate_and_run_cleanly(tmp_path, valid, capsys, which):
    rng = random.Random(f"fuzz-{which}")
    work = tmp_path / "work"
    work.mkdir()
    for i, (what, mutant, expected) in enumerate(mutants(valid, which, rng, 70)):
        teacher, student = write_pair(work, valid, which, mutant)
        path = teacher if which == "teacher" else student
        line = assert_clean_failure(
            distill_main, ["validate", str(teacher), str(student)], capsys, work, str(path), expected
        )
        assert line.startswith(f"error: {path}: "), what
        if i % 7 == 0:  # a representative subset also through `run`: it stops before writing anything
            run = ["run", str(teacher), str(student), "--output-dir", str(work / "out")]
            assert assert_clean_failure(distill_main, run, capsys, work, str(path), expected) == line


@pytest.mark.parametrize(
    ("which", "key", "kind"),
    [
        ("teacher", "finetune.epochs", "epochs"),
        ("student", "stages.0.epochs", "epochs"),
        ("student", "fail_below", "fail_below"),
    ],
)
def test_every_bad_schedule_size_and_bar_fails_cleanly(tmp_path, valid, capsys, which, key, kind):
    """Each bad value of these kinds, not a random pick: huge epochs are refused by the step bound
    (validate and run alike, before the teacher is fine-tuned), bad bars at load."""
    work = tmp_path / "work"
    work.mkdir()
    for i, value in enumerate(BAD[kind]):
        config = copy.deepcopy(valid[which])
        parent, last = _parent(config, key)
        parent[last] = value
        teacher, student = write_pair(work, valid, which, config)
        path = teacher if which == "teacher" else student
        line = assert_clean_failure(
            distill_main, ["validate", str(teacher), str(student)], capsys, work, f"{path}: {key}: "
        )
        if kind == "epochs" and i >= len(BAD[kind]) - 4:  # the step bound, also through `run`
            assert "optimizer steps" in line and "more than the bound of 100,000,000" in line
            run = ["run", str(teacher), str(student), "--output-dir", str(work / "out")]
            assert assert_clean_failure(distill_main, run, capsys, work, str(path)) == line


BROKEN_FILES = {
    "bad YAML syntax": (b"name: s\nstages: [\n  - a: 1\n  b\n", "line "),
    "empty file": (b"", "file is empty"),
    "only a comment": (b"# nothing here\n", "file is empty"),
    "a YAML list": (b"- name: s\n- name: t\n", "expected a mapping of keys to values, got list"),
    "a scalar": (b"42\n", "expected a mapping of keys to values, got int"),
    "binary bytes": (bytes(random.Random(0).randrange(256) for _ in range(512)), ""),
    "non-UTF-8 text": ("name: caf\u00e9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 9)"),
    "UTF-16 text": ("name: s\n".encode("utf-16"), "not UTF-8 text"),
    "tab indentation": (b"name: s\narchitecture:\n\tnum_layers: 2\n", "invalid YAML"),
    "duplicate anchors gone wrong": (b"name: *missing\n", "invalid YAML"),
}


@pytest.mark.parametrize("which", ["teacher", "student"])
@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_broken_files_fail_cleanly(tmp_path, valid, capsys, which, case):
    content, expected = BROKEN_FILES[case]
    teacher, student = write_pair(tmp_path, valid, which, valid[which])
    path = teacher if which == "teacher" else student
    path.write_bytes(content)
    for argv in (
        ["validate", str(teacher), str(student)],
        ["run", str(teacher), str(student), "--output-dir", str(tmp_path / "out")],
    ):
        line = assert_clean_failure(distill_main, argv, capsys, tmp_path, expected)
        assert line.startswith(f"error: {path}: ")


# Every folder a run writes, pointed at places that cannot be written (tests run as root, so a
# chmod would not stop a write: a regular file on the path does).
UNWRITABLE = {
    "parent is a file": lambda root: root / "a-file" / "sub",
    "is a file": lambda root: root / "a-file",
    "deep under a file": lambda root: root / "a-file" / "x" / "y" / "z",
    "under a device": lambda root: Path("/dev/null/sub"),
}
LOCATIONS = {  # where -> (config and key, or the flag; the words the error names)
    "teacher cache_dir": ("teacher", "cache_dir"),
    "student teacher_cache.dir": ("student", "teacher_cache.dir"),
    "student output_dir": ("student", "output_dir"),
    "--output-dir": ("flag", "--output-dir"),
}


@pytest.mark.parametrize("where", sorted(LOCATIONS))
@pytest.mark.parametrize("kind", sorted(UNWRITABLE))
def test_every_write_location_is_checked_before_work(tmp_path, valid, capsys, where, kind):
    which, key = LOCATIONS[where]
    (tmp_path / "a-file").write_text("not a folder")
    bad = UNWRITABLE[kind](tmp_path)
    teacher_cfg, student_cfg = copy.deepcopy(valid["teacher"]), copy.deepcopy(valid["student"])
    if which != "flag":
        student_cfg.setdefault("teacher_cache", {})
        parent, last = _parent(teacher_cfg if which == "teacher" else student_cfg, key)
        parent[last] = str(bad)
    teacher, student = write_pair(
        tmp_path, {"teacher": teacher_cfg, "student": student_cfg}, "teacher", teacher_cfg
    )
    path = teacher if which == "teacher" else student
    flags = ["--output-dir", str(bad)] if which == "flag" else []
    named = f"error: {key}: " if which == "flag" else f"error: {path}: {key}: "
    lines = []
    for command in ("validate", "run"):
        line = assert_clean_failure(
            distill_main,
            [command, str(teacher), str(student), *flags],
            capsys,
            tmp_path,
            f"cannot write to {bad} (",
        )
        assert line.startswith(named), line
        lines.append(line)
    assert lines[0] == lines[1]  # the same check, the same line


def test_a_missing_config_file(tmp_path, valid, capsys):
    teacher, _ = write_pair(tmp_path, valid, "teacher", valid["teacher"])
    missing = tmp_path / "nope.yaml"
    line = assert_clean_failure(distill_main, ["run", str(teacher), str(missing)], capsys, tmp_path)
    assert line == f"error: {missing}: no such file"


# ---------------------------------------------------------------------------------------------
# augment.yaml through `augment run` and `augment text`

AUGMENT = {
    "seed": 3,
    "n_iter": 2,
    "keep_original": True,
    "dedup": True,
    "text_columns": ["sentence"],
    "pair_mode": "first",
    "format": "tsv",
    "encoding": "utf-8",
    "chunk_size": 8,
    "strategies": [
        {"name": "masking", "p_mask": 0.3, "mask_token": "[MASK]"},
        {"name": "pos", "p_pos": 0.2, "tagger": "textblob"},
        {"name": "ngram", "p_ng": 0.25, "max_n": 3},
    ],
}
AUGMENT_KEYS = {
    "seed": "nonnegint",
    "n_iter": "posint",
    "keep_original": "bool",
    "dedup": "bool",
    "chunk_size": "posint",
    "text_columns": "text_columns",
    "pair_mode": "pair_mode",
    "format": "format",
    "encoding": "encoding",
    "strategies": "strategies",
    "strategies.0": "mapping",
    "strategies.0.p_mask": "prob",
    "strategies.0.mask_token": "str",
    "strategies.1.p_pos": "prob",
    "strategies.1.tagger": "tagger",
    "strategies.2.p_ng": "prob",
    "strategies.2.max_n": "posint",
    "strategies.1.name": "strategy",
}
AUGMENT_BAD = {
    **BAD,
    "text_columns": ["sentence", [], [1], ["a", "b", "c"], None, {"a": 1}],
    "pair_mode": ["pairs", 1, None],
    "format": ["xlsx", 1, ["csv"]],
    "encoding": ["bogus", 5, None, "utf-16"],
    "strategies": [[], None, "masking", {"name": "masking"}],
    "tagger": ["nltk", 1, None],
    "strategy": ["mask", 1, None, [1, 2], {"a": 1}, ""],
}


@pytest.fixture
def augment_input(tmp_path) -> Path:
    rows = ["the flight was late and the food was cold .\t0", "i loved the friendly crew\t1"] * 3
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_augment_mutants_fail_cleanly_in_run_and_text(tmp_path, capsys, augment_input):
    rng = random.Random("fuzz-augment")
    config = tmp_path / "aug.yaml"
    config.write_text(yaml.safe_dump(AUGMENT))
    output = tmp_path / "out.tsv"
    argv = ["run", str(config), "--input", str(augment_input), "--output", str(output), "--no-progress"]
    assert augment_main(argv) == 0 and output.is_file()  # the unmutated config works
    output.unlink()
    capsys.readouterr()
    for _ in range(50):
        mutant = copy.deepcopy(AUGMENT)
        op = rng.choice(["unknown", "value", "value", "value"])
        if op == "unknown":
            where = rng.choice(["", "strategies.0", "strategies.2"])
            (_parent(mutant, where + ".x")[0] if where else mutant)["bogus"] = 1
            key = f"{where}.bogus" if where else "bogus"
        else:
            key = rng.choice(sorted(AUGMENT_KEYS))
            parent, last = _parent(mutant, key)
            parent[last] = rng.choice(AUGMENT_BAD[AUGMENT_KEYS[key]])
        config.write_text(yaml.safe_dump(mutant))
        names = (
            "aug.yaml: ",
            key.split(".", 2)[0] if key.startswith("strategies") and op == "value" else key,
        )
        command = rng.choice([argv, ["text", str(config), "the flight was late"]])
        assert_clean_failure(augment_main, command, capsys, tmp_path, *names, prefix="augment: error: ")


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"n_iter": 1, "N": 2}, "aug.yaml: "),
        ({"pair_mode": "both"}, "aug.yaml: pair_mode: 'both' needs two text_columns"),
        (
            {"strategies": [{"name": "ngram"}, {"name": "masking"}]},
            "strategies.1: 'masking' changes words in place",
        ),
        ({"strategies": [{"name": "masking"}, {"name": "masking"}]}, "strategies: 'masking' appears twice"),
        (
            {"strategies": [{"name": "glove", "vectors": "no/such.txt"}]},
            "strategies.0.vectors: no such vectors file",
        ),
        (
            {"strategies": [{"name": "masking", "p_mask": 0.7}, {"name": "pos", "p_pos": 0.7}]},
            "strategies.1.p_pos: p_mask + p_pos",
        ),
        ({"strategies": [{"name": "nlpaug", "augmenter": "NoSuchAug"}]}, "strategies.0.augmenter"),
    ],
)
def test_augment_config_conflicts(tmp_path, capsys, augment_input, extra, expected):
    config = tmp_path / "aug.yaml"
    config.write_text(yaml.safe_dump({**AUGMENT, **extra}))
    argv = [
        "run",
        str(config),
        "--input",
        str(augment_input),
        "--output",
        str(tmp_path / "o.tsv"),
        "--no-progress",
    ]
    assert_clean_failure(augment_main, argv, capsys, tmp_path, expected, prefix="augment: error: ")


@pytest.mark.parametrize("case", ["empty file", "a YAML list", "non-UTF-8 text", "bad YAML syntax"])
def test_augment_broken_config_files(tmp_path, capsys, augment_input, case):
    config = tmp_path / "aug.yaml"
    config.write_bytes(BROKEN_FILES[case][0])
    for argv in (
        ["run", str(config), "--input", str(augment_input), "--output", str(tmp_path / "o.tsv")],
        ["text", str(config), "a sentence"],
    ):
        assert_clean_failure(
            augment_main,
            argv,
            capsys,
            tmp_path,
            str(config),
            BROKEN_FILES[case][1],
            prefix="augment: error: ",
        )


# ---------------------------------------------------------------------------------------------
# `distill compress`, `export`, `bench`: model folders and bench.yaml


@pytest.fixture
def not_models(tmp_path) -> dict[str, tuple[Path, str]]:
    """Folders that are not usable models, and what the error says about each."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad-json").mkdir()
    (tmp_path / "bad-json" / "config.json").write_text("{")
    (tmp_path / "no-weights").mkdir()
    (tmp_path / "no-weights" / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text('{"model_type": "gpt2"}')
    (tmp_path / "a-file").write_text("x")
    return {
        "missing": (tmp_path / "missing", "no such model folder"),
        "empty": (tmp_path / "empty", "not a model folder (no config.json"),
        "bad-json": (tmp_path / "bad-json", "config.json: not valid JSON"),
        "no-weights": (tmp_path / "no-weights", "has config.json but no weights"),
        "gpt": (tmp_path / "gpt", "model_type 'gpt2' is not supported"),
        "a-file": (tmp_path / "a-file", "no such model folder"),
    }


def test_compress_export_bench_refuse_non_model_folders(tmp_path, capsys, not_models):
    for folder, expected in not_models.values():
        for argv in (
            ["compress", str(folder), "--out", str(tmp_path / "o")],
            ["export", str(folder), "--out", str(tmp_path / "o")],
            ["bench", "--model", str(folder), "--out", str(tmp_path / "o")],
        ):
            assert_clean_failure(distill_main, argv, capsys, tmp_path, str(folder), expected)


BENCH_CASES = {
    "sources: [{name: a, path: no/such/model}]\n": "sources.0: no/such/model: no such model folder",
    "sources: [{name: a}]\n": "sources.0: variant source 'a': give exactly one of path or shape",
    "sources: [{name: a, shape: bert-huge}]\n": "sources.0: variant source 'a': shape 'bert-huge' unknown",
    "sources: [{name: a, shape: tinybert-4, role: boss}]\n": "sources.0: variant source 'a': role 'boss'",
    "sources: []\n": "sources: list should have at least 1 item",
    "sources: {name: a}\n": "sources: expected a list",
    "kinds: [torch-fp32]\n": "sources: missing required key",
    "sources: [{name: a, shape: tinybert-4}]\nkinds: [fp128]\n": "kinds: unknown kinds ['fp128']",
    "sources: [{name: a, shape: tinybert-4}]\ndevices: [tpu]\n": "devices.0: expected one of 'cpu', 'cuda', got \"tpu\"",
    "sources: [{name: a, shape: tinybert-4}]\nbatch_sizes: [0, 1]\n": "batch_sizes: must be a non-empty list of positive integers",
    "sources: [{name: a, shape: tinybert-4}]\nwarmup: x\n": "warmup: ",
    "sources: [{name: a, shape: tinybert-4}]\nthreads: .nan\n": "threads: ",
    "sources: [{name: a, shape: tinybert-4}]\nmax_seconds: -1\n": "max_seconds: ",
    "sources: [{name: a, shape: tinybert-4}]\nbogus: 1\n": "bogus: unknown key",
    "sources: [{name: a, shape: tinybert-4}]\neval: {path: e.csv, encoding: klingon}\n": "eval.encoding: expected a Python codec name",
    "sources: [{name: a, shape: tinybert-4}]\neval: {path: e.csv, limit: 0}\n": "eval.limit: ",
    "sources: [{name: a, shape: tinybert-4}]\neval: {text_column: t}\n": "eval: give exactly one of `path` (a data file) or `teacher`",
}


@pytest.mark.parametrize("text", sorted(BENCH_CASES))
def test_bad_bench_yaml(tmp_path, capsys, text):
    config = tmp_path / "bench.yaml"
    config.write_text(text + f"out: {tmp_path / 'report'}\n")
    line = assert_clean_failure(distill_main, ["bench", str(config)], capsys, tmp_path, BENCH_CASES[text])
    assert line.startswith(f"error: {config}: ")


def test_bench_flags_are_validated_like_the_file(tmp_path, capsys):
    config = tmp_path / "bench.yaml"
    config.write_text(f"sources: [{{name: a, shape: tinybert-4}}]\nout: {tmp_path / 'report'}\n")
    line = assert_clean_failure(
        distill_main, ["bench", str(config), "--threads", "0"], capsys, tmp_path, "threads: "
    )
    assert line.startswith(f"error: {config} (with --threads): ")
    line = assert_clean_failure(
        distill_main, ["bench", "--shape", "tinybert-4", "--batch-sizes", "0"], capsys, tmp_path
    )
    assert line.startswith("error: bench flags: batch_sizes: ")


def test_bench_broken_yaml_files(tmp_path, capsys):
    config = tmp_path / "bench.yaml"
    for case in ("empty file", "a YAML list", "binary bytes", "non-UTF-8 text"):
        config.write_bytes(BROKEN_FILES[case][0])
        line = assert_clean_failure(
            distill_main, ["bench", str(config)], capsys, tmp_path, BROKEN_FILES[case][1]
        )
        assert line.startswith(f"error: {config}: ")


def test_compress_flag_values_are_argparse_errors(tmp_path, capsys):
    # argparse answers a bad flag value with its usage and one error line, exit 2 (SystemExit).
    with pytest.raises(SystemExit) as e:
        distill_main(["compress", str(tmp_path), "--out", str(tmp_path / "o"), "--max-len", "0"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --max-len: expected an integer >= 1, got '0'" in err and "Traceback" not in err

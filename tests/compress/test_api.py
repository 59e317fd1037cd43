"""The library under `distill compress`, `distill export` and `distill bench`: the CLI only parses
argv into these calls, and a Python caller gets the same results and the same one-line errors."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from distill.compress import api
from distill.compress import cli as compress_cli
from distill.compress.api import BenchRun, DataFile, benchmark, compress_model, export_model
from distill.compress.cli import main
from distill.core.errors import ConfigError, DistillError

FAST = {
    "kinds": ["torch-fp32"],
    "batch_sizes": [1],
    "seq_lens": [8],
    "warmup": 1,
    "reps": 2,
    "max_seconds": 0.2,
}


def _flags(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        out += [f"--{key.replace('_', '-')}", *map(str, value if isinstance(value, list) else [value])]
    return out


def test_the_cli_passes_its_flags_to_the_library_functions(monkeypatch, tmp_path):
    """Every flag reaches the function as a typed keyword; the CLI adds no defaults of its own."""
    calls = {}

    def spy(name, result):
        def record(*args, **kwargs):
            calls[name] = (args, kwargs)
            return result

        return record

    monkeypatch.setattr(compress_cli, "compress_model", spy("compress", {"params_after": 1}))
    monkeypatch.setattr(compress_cli, "export_model", spy("export", {}))
    monkeypatch.setattr(compress_cli, "export_hints", lambda model: [])
    monkeypatch.setattr(compress_cli, "benchmark", spy("bench", BenchRun("r", {})))
    assert (
        main(
            [
                "compress",
                "m",
                "--out",
                "o",
                "--prune-heads",
                "0.5",
                "--recover-epochs",
                "2",
                "--recover-objectives",
                "{pred: {}}",
                "--train-data",
                "t.csv",
                "--train-text-pair-column",
                "b",
                "--train-limit",
                "7",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "export",
                "m",
                "--out",
                "o",
                "--no-optimize",
                "--int8",
                "static",
                "--max-len",
                "32",
                "--calibration-data",
                "c.jsonl",
                "--calibration-format",
                "jsonl",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "bench",
                "--model",
                "a",
                "b",
                "--teacher",
                "t",
                "--eval-data",
                "e.csv",
                "--eval-limit",
                "5",
                "--max-accuracy-drop",
                "0.5",
                *_flags(FAST),
            ]
        )
        == 0
    )
    assert calls["compress"] == (
        ("m", "o"),
        {
            "prune_heads": 0.5,
            "prune_ffn": 0.0,
            "importance": "magnitude",
            "recover_epochs": 2,
            "recover_lr": 5e-5,
            "recover_objectives": "{pred: {}}",
            "max_len": 128,
            "train_data": DataFile("t.csv", "text", "b", "label", None, "utf-8", 7),
        },
    )
    assert calls["export"] == (
        ("m", "o"),
        {
            "opset": 17,
            "optimize": False,
            "int8": "static",
            "min_agreement": 0.99,
            "min_agreement_int8": 0.97,
            "max_len": 32,
            "verify_data": None,
            "calibration_data": DataFile("c.jsonl", format="jsonl"),
        },
    )
    args, kwargs = calls["bench"]
    assert args == (None,) and kwargs.pop("progress") is api.progress_to_stderr
    assert kwargs == {
        "models": ["a", "b"],
        "teacher": "t",
        "shapes": None,
        "eval_data": DataFile("e.csv", limit=5),
        "eval_teacher": None,
        "eval_split": "dev",
        "eval_limit": 5,
        "devices": None,
        "threads": None,
        "max_accuracy_drop": 0.5,
        "out": None,
        **FAST,
    }


def _cases(model: Path, bilstm: Path, data: Path, tmp: Path) -> list[tuple[list[str], object]]:
    """(argv, the same call from Python) pairs that must fail with the same one line."""
    out = str(tmp / "o")
    swapped = tmp / "swapped"
    shutil.copytree(model, swapped, dirs_exist_ok=True)
    cfg = json.loads((swapped / "config.json").read_text())
    (swapped / "config.json").write_text(
        json.dumps({**cfg, "id2label": {"0": "pos", "1": "neg"}, "label2id": {"pos": 0, "neg": 1}})
    )
    (tmp / "b.yaml").write_text(
        yaml.safe_dump({"sources": [{"name": "t", "path": str(model), "role": "teacher"}]})
    )
    (tmp / "bad.yaml").write_text("sources: [{name: s, shape: tinybert-4}]\nkindz: [torch-fp32]\n")
    m, d = str(model), str(data)
    return [
        (
            ["compress", m, "--out", out, "--recover-objectives", "{pred: {}}"],
            lambda: compress_model(m, out, recover_objectives={"pred": {}}),
        ),
        (
            ["compress", m, "--out", out, "--recover-epochs", "1", "--recover-objectives", "{hiden: {}}"],
            lambda: compress_model(m, out, recover_epochs=1, recover_objectives={"hiden": {}}),
        ),
        (
            ["compress", m, "--out", out, "--recover-epochs", "1", "--recover-objectives", "missing.yaml"],
            lambda: compress_model(m, out, recover_epochs=1, recover_objectives="missing.yaml"),
        ),
        (
            ["compress", m, "--out", out, "--recover-epochs", "1"],
            lambda: compress_model(m, out, recover_epochs=1),
        ),
        (["compress", str(bilstm), "--out", out], lambda: compress_model(bilstm, out)),
        (["export", str(tmp / "missing"), "--out", out], lambda: export_model(tmp / "missing", out)),
        (["export", m, "--out", out, "--int8", "static"], lambda: export_model(m, out, int8="static")),
        (["export", m, "--out", out, "--opset", "99"], lambda: export_model(m, out, opset=99)),
        (["bench", str(tmp / "bad.yaml")], lambda: benchmark(tmp / "bad.yaml")),
        (["bench", str(tmp / "b.yaml"), "--teacher", m], lambda: benchmark(str(tmp / "b.yaml"), teacher=m)),
        (
            ["bench", str(tmp / "b.yaml"), "--reps", "0", "--out", out],
            lambda: benchmark(str(tmp / "b.yaml"), reps=0, out=out),
        ),
        (
            ["bench", "--model", m, "--teacher", str(swapped), "--eval-data", d, "--out", out],
            lambda: benchmark(models=[model], teacher=swapped, eval_data=DataFile(data), out=out),
        ),
    ]


def test_a_python_caller_gets_the_same_one_line_errors_as_the_cli(
    tiny_bert, tiny_bilstm, eval_csv, tmp_path, capsys
):
    for argv, call in _cases(tiny_bert, tiny_bilstm, eval_csv, tmp_path):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        with pytest.raises(DistillError) as e:
            call()
        assert err == f"error: {e.value}\n", argv
        assert not (tmp_path / "o").exists()


def test_python_only_values_get_one_line_errors(tiny_bert, tmp_path):
    """What argparse refuses as flag text, the functions refuse as values, before anything loads."""
    with pytest.raises(ConfigError, match=r"^e\.csv: limit: expected an integer >= 1, got 0$"):
        DataFile("e.csv", limit=0)
    with pytest.raises(ConfigError, match=r"^--max-len: expected an integer >= 1, got 0$"):
        compress_model(tiny_bert, tmp_path / "o", max_len=0)
    with pytest.raises(ConfigError, match=r"^--max-len: expected an integer >= 1, got 2.5$"):
        export_model(tiny_bert, tmp_path / "o", max_len=2.5)
    with pytest.raises(ConfigError, match=r"is neither a YAML file nor a mapping"):
        compress_model(tiny_bert, tmp_path / "o", recover_epochs=1, recover_objectives=["kd_kl"])
    assert not (tmp_path / "o").exists()


def test_compress_model_returns_compress_json_and_takes_objectives_as_text_or_mapping(
    tiny_bert, eval_csv, tmp_path
):
    train = DataFile(eval_csv, limit=32)
    common = {"prune_ffn": 0.5, "recover_epochs": 1, "train_data": train}
    a = compress_model(tiny_bert, tmp_path / "a", recover_objectives="{kd_kl: {temperature: 3}}", **common)
    b = compress_model(tiny_bert, tmp_path / "b", recover_objectives={"kd_kl": {"temperature": 3}}, **common)
    assert a == json.loads((tmp_path / "a" / "compress.json").read_text())
    assert (
        a["recovery"]["objectives"]
        == b["recovery"]["objectives"]
        == {"kd_kl": {"weight": 1.0, "temperature": 3.0}}
    )
    assert a["verify"]["n"] == 32 and a["intermediate_size"] == 32


def test_benchmark_from_python_writes_and_returns_the_report(tiny_bert, tiny_teacher, eval_csv, tmp_path):
    done = benchmark(
        models=[tiny_bert],
        teacher=tiny_teacher,
        eval_data=DataFile(eval_csv),
        out=str(tmp_path / "r"),
        **FAST,
    )
    assert done.out == str(tmp_path / "r")
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [(v["source"], v["role"]) for v in report["variants"]] == [
        ("tiny-bert", "student"),
        ("tiny-teacher", "teacher"),
    ]
    assert [v["accuracy"] for v in done.result["variants"]] == [v["accuracy"] for v in report["variants"]]


def test_a_models_task_is_checked_before_anything_loads(tiny_bert, eval_csv, tmp_path, capsys):
    """A regression model (its config.json says so) recovers only with objectives for a regression,
    and one eval label column cannot score a classifier and a regression in one bench."""
    regressor = tmp_path / "regressor"
    shutil.copytree(tiny_bert, regressor)
    cfg = json.loads((regressor / "config.json").read_text())
    (regressor / "config.json").write_text(json.dumps({**cfg, "problem_type": "regression"}))
    out = str(tmp_path / "o")
    argv = ["compress", str(regressor), "--out", out, "--recover-epochs", "1", "--recover-objectives"]
    assert main([*argv, "{kd_kl: {}}"]) == 2
    assert capsys.readouterr().err == (
        "error: --recover-objectives: kd_kl: does not apply to a regression task (the model's "
        "config.json); objectives for regression: attn, emb, hidden, hidden_cos, logit_mse, mse, "
        "relation\n"
    )
    # `--model A --model B` names both (a second flag used to replace the first)
    bench = ["bench", "--model", str(tiny_bert), "--model", str(regressor), "--eval-data", str(eval_csv)]
    assert main([*bench, "--out", out]) == 2
    assert capsys.readouterr().err == (
        "error: bench flags: the sources are models of different tasks ('tiny-bert' classification, "
        "'regressor' regression): bench them apart\n"
    )
    assert not (tmp_path / "o").exists()

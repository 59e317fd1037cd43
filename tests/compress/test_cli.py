import json
import shutil

import pytest
import yaml

from distill.compress.cli import main


def test_export_cli_writes_and_reports(tiny_bert, eval_csv, tmp_path, capsys):
    rc = main(
        [
            "export",
            str(tiny_bert),
            "--out",
            str(tmp_path / "o"),
            "--int8",
            "static",
            "--verify-data",
            str(eval_csv),
            "--calibration-data",
            str(eval_csv),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "model.int8.onnx: agreement" in out and "Δacc" in out
    assert (tmp_path / "o" / "model.int8.onnx").is_file()
    # what this machine can run, and the bench command that names the fastest (export times nothing)
    from distill.compress.recommend import cxx_compiler, kinds_here

    here = kinds_here("bert", ["cpu"], cxx_compiler() is not None)
    assert "torch-bf16" in here and "torch-int8-x86" in here and "torch-fp16" not in here
    assert f"kinds for this bert model on this machine (cpu): {', '.join(here)}" in out.splitlines()
    assert (
        f"the fastest of them that keeps accuracy: distill bench --model {tiny_bert} --eval-data EVAL.csv "
        f"--devices cpu --kinds {' '.join(here)}"
    ) in out.splitlines()


def test_compress_cli_prunes_and_verifies(tiny_bert, eval_csv, tmp_path, capsys):
    rc = main(
        [
            "compress",
            str(tiny_bert),
            "--out",
            str(tmp_path / "p"),
            "--prune-heads",
            "0.5",
            "--prune-ffn",
            "0.5",
            "--importance",
            "taylor",
            "--recover-epochs",
            "1",
            "--train-data",
            str(eval_csv),
        ]
    )
    assert rc == 0
    summary = json.loads((tmp_path / "p" / "compress.json").read_text())
    assert summary["num_attention_heads"] == 2 and summary["intermediate_size"] == 32
    assert summary["params_after"] < summary["params_before"]
    assert 0 <= summary["verify"]["agreement"] <= 1 and summary["verify"]["n"] == 56


def test_bench_cli_with_yaml(tiny_bert, eval_csv, tmp_path):
    cfg = {
        "sources": [{"name": "s", "path": str(tiny_bert), "role": "student"}],
        "kinds": ["torch-fp32", "ort-int8-dynamic"],
        "batch_sizes": [1, 2],
        "seq_lens": [8],
        "warmup": 1,
        "reps": 3,
        "max_seconds": 0.5,
        "eval": {"path": str(eval_csv)},
        "out": str(tmp_path / "r"),
    }
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["bench", str(tmp_path / "bench.yaml")]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [v["name"] for v in rep["variants"]] == ["s/torch-fp32", "s/ort-int8-dynamic"]
    assert rep["variants"][0]["accuracy"] is not None


@pytest.mark.parametrize(
    ("argv", "msg"),
    [
        (["export", "{tmp}/missing", "--out", "{tmp}/o"], "no such model folder"),
        (["export", "{model}", "--out", "{tmp}/o", "--opset", "99"], "writes opsets up to"),
        (["bench", "{tmp}/bad.yaml"], "bad.yaml: kindz: unknown key; did you mean 'kinds'?"),
        (["bench", "--model", "{model}", "--devices", "cuda", "--out", "{tmp}/o"], "cuda"),
        (["export", "{model}", "--out", "{tmp}/o", "--int8", "static"], "calibration"),
    ],
)
def test_bad_input_is_one_line_on_stderr_exit_2(tiny_bert, tmp_path, capsys, monkeypatch, argv, msg):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    (tmp_path / "bad.yaml").write_text("sources: [{name: s, shape: tinybert-4}]\nkindz: [torch-fp32]\n")
    argv = [a.format(tmp=tmp_path, model=tiny_bert) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and msg in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_bench_evaluates_on_a_teacher_yaml_split_like_distill_run(tiny_bert, eval_csv, tmp_path, capsys):
    from distill.config import load_teacher_config
    from distill.data.dataset import load_splits

    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        f"name: t\nmodel: {tiny_bert}\ndata: {{source: {eval_csv}, split: {{dev: 0.3, test: 0.2, seed: 1}}}}\n"
    )
    dev = load_splits(load_teacher_config(teacher).data)
    names = dev.label_names
    # the same dev examples written to a file: the two ways must give the same report figures
    (tmp_path / "dev.csv").write_text(
        "text,label\n"
        + "".join(f"{t},{names[y]}\n" for t, y in zip(dev.dev.texts, dev.dev.labels, strict=True))
    )
    common = {
        "sources": [{"name": "s", "path": str(tiny_bert), "role": "student"}],
        "kinds": ["torch-fp32"],
        "batch_sizes": [1],
        "seq_lens": [8],
        "warmup": 1,
        "reps": 2,
        "max_seconds": 0.2,
    }
    reports = []
    for name, data in (
        ("a", {"teacher": str(teacher), "split": "dev"}),
        ("b", {"path": str(tmp_path / "dev.csv")}),
    ):
        (tmp_path / f"{name}.yaml").write_text(
            yaml.safe_dump({**common, "eval": data, "out": str(tmp_path / name)})
        )
        assert main(["bench", str(tmp_path / f"{name}.yaml")]) == 0
        reports.append(json.loads((tmp_path / name / "report.json").read_text())["variants"][0])
    assert reports[0]["accuracy"] == reports[1]["accuracy"] and reports[0]["f1"] == reports[1]["f1"]
    assert reports[0]["accuracy"] is not None

    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump({**common, "eval": {"teacher": str(teacher), "path": "x.csv"}})
    )
    capsys.readouterr()
    assert main(["bench", str(tmp_path / "c.yaml")]) == 2
    assert "c.yaml: eval: give exactly one of `path` (a data file) or `teacher`" in capsys.readouterr().err


def _fast_bench_flags(tmp_path) -> list[str]:
    return [
        "--kinds",
        "torch-fp32",
        "--batch-sizes",
        "1",
        "--seq-lens",
        "8",
        "--warmup",
        "1",
        "--reps",
        "2",
        "--max-seconds",
        "0.2",
        "--out",
        str(tmp_path / "r"),
    ]


def test_bench_eval_teacher_evaluates_at_the_teacher_yaml_max_length(tiny_bert, eval_csv, tmp_path):
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.config import load_teacher_config
    from distill.data.dataset import load_splits

    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        f"name: t\nmodel: {tiny_bert}\nmax_length: 4\n"
        f"data: {{source: {eval_csv}, split: {{dev: 0.3, test: 0.2, seed: 1}}}}\n"
    )
    assert (
        main(
            ["bench", "--model", str(tiny_bert), "--eval-teacher", str(teacher), *_fast_bench_flags(tmp_path)]
        )
        == 0
    )
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["settings"]["eval_max_len"] == 4
    assert "max length 4" in (tmp_path / "r" / "report.md").read_text()
    # The accuracy `distill run` reports for this model on that split: texts cut at max_length 4.
    dev = load_splits(load_teacher_config(teacher).data).dev
    tok, model = (
        AutoTokenizer.from_pretrained(tiny_bert),
        AutoModelForSequenceClassification.from_pretrained(tiny_bert),
    )
    enc = tok(dev.texts, truncation=True, max_length=4, padding=True, return_tensors="pt")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1).numpy()
    assert rep["variants"][0]["accuracy"] == pytest.approx(float((pred == np.asarray(dev.labels)).mean()))


def test_bench_teacher_flag_marks_the_reference_for_the_vs_teacher_columns(
    tiny_bert, tiny_teacher, eval_csv, tmp_path
):
    argv = ["bench", "--model", str(tiny_bert), "--teacher", str(tiny_teacher), "--eval-data", str(eval_csv)]
    assert main([*argv, *_fast_bench_flags(tmp_path)]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    roles = {v["source"]: v["role"] for v in rep["variants"]}
    assert roles == {"tiny-bert": "student", "tiny-teacher": "teacher"}
    student = next(v for v in rep["variants"] if v["role"] == "student")
    teacher = next(v for v in rep["variants"] if v["role"] == "teacher")
    assert student["accuracy_delta_vs_teacher"] == pytest.approx(
        round(100 * (student["accuracy"] - teacher["accuracy"]), 2)
    )
    assert student["speedup"][0]["vs_teacher"] is not None and teacher["speedup"][0]["vs_teacher"] == 1.0
    assert "| `tiny-teacher/torch-fp32` |" in (tmp_path / "r" / "report.md").read_text()

    # A --model folder named again as --teacher is marked, not measured twice.
    assert (
        main(
            [
                "bench",
                "--model",
                str(tiny_bert),
                str(tiny_teacher),
                "--teacher",
                str(tiny_teacher),
                "--eval-data",
                str(eval_csv),
                *_fast_bench_flags(tmp_path),
            ]
        )
        == 0
    )
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [(v["source"], v["role"]) for v in rep["variants"]] == [
        ("tiny-bert", "student"),
        ("tiny-teacher", "teacher"),
    ]


def test_bench_refuses_sources_whose_labels_differ(tiny_bert, eval_csv, tmp_path, capsys):
    """One eval label column scores every source: a teacher whose ids name other classes is refused."""
    other = tmp_path / "swapped"
    shutil.copytree(tiny_bert, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg.update(id2label={"0": "pos", "1": "neg"}, label2id={"pos": 0, "neg": 1})
    (other / "config.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    argv = ["bench", "--model", str(tiny_bert), "--teacher", str(other), "--eval-data", str(eval_csv)]
    assert main([*argv, *_fast_bench_flags(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: bench flags: source 'swapped' ({other}) labels its classes ['pos', 'neg'], but 'tiny-bert' "
        "labels them ['neg', 'pos']: one eval set cannot score both; save the models with the same id2label "
        "(distill's teacher step aligns the teacher's)"
    )
    assert not (tmp_path / "r").exists()


def test_compress_feeds_a_pair_model_both_sentences(tiny_bert, tmp_path, monkeypatch):
    """Taylor scores, recovery and verification see the token types of a pair, as training did."""
    import distill.compress.recover as recover_module

    from .conftest import TEXTS

    rows = "premise,hypothesis,label\n" + "".join(
        f"{a},{b},{'pos' if i % 2 else 'neg'}\n"
        for i, (a, b) in enumerate(zip(TEXTS[:20], TEXTS[20:40], strict=True))
    )
    (tmp_path / "pairs.csv").write_text(rows)
    seen = []
    real = recover_module.recover
    monkeypatch.setattr(
        recover_module,
        "recover",
        lambda model, orig, batches, *a, **k: seen.extend(batches) or real(model, orig, batches, *a, **k),
    )
    assert (
        main(
            [
                "compress",
                str(tiny_bert),
                "--out",
                str(tmp_path / "p"),
                "--prune-heads",
                "0.5",
                "--importance",
                "taylor",
                "--recover-epochs",
                "1",
                "--train-data",
                str(tmp_path / "pairs.csv"),
                "--train-text-column",
                "premise",
                "--train-text-pair-column",
                "hypothesis",
            ]
        )
        == 0
    )
    assert seen and all(set(b) == {"input_ids", "attention_mask", "token_type_ids", "labels"} for b in seen)
    assert all(b["token_type_ids"].max() == 1 for b in seen)
    assert json.loads((tmp_path / "p" / "compress.json").read_text())["verify"]["n"] == 20


def test_compress_keeps_the_runs_config_for_export_and_bench(tiny_bert, tmp_path):
    """A pruned pair student is still known to be one: export refuses to verify it on single texts."""
    from distill.compress.evalset import trained_inputs

    src = tmp_path / "student"
    shutil.copytree(tiny_bert, src)
    (src / "config.resolved.yaml").write_text(
        "teacher: {max_length: 24, data: {text_pair_column: hypothesis}}\n"
    )
    assert main(["compress", str(src), "--out", str(tmp_path / "p"), "--prune-ffn", "0.5"]) == 0
    assert trained_inputs(tmp_path / "p") == (24, "hypothesis")


def test_bench_teacher_flag_with_a_bench_yaml(tiny_bert, tiny_teacher, eval_csv, tmp_path, capsys):
    cfg = {
        "sources": [{"name": "s", "path": str(tiny_bert), "role": "student"}],
        "eval": {"path": str(eval_csv)},
    }
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(cfg))
    assert (
        main(
            ["bench", str(tmp_path / "b.yaml"), "--teacher", str(tiny_teacher), *_fast_bench_flags(tmp_path)]
        )
        == 0
    )
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [(v["source"], v["role"]) for v in rep["variants"]] == [
        ("s", "student"),
        ("tiny-teacher", "teacher"),
    ]
    cfg["sources"].append({"name": "t", "path": str(tiny_teacher), "role": "teacher"})
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert (
        main(["bench", str(tmp_path / "b.yaml"), "--teacher", str(tiny_bert), *_fast_bench_flags(tmp_path)])
        == 2
    )
    assert capsys.readouterr().err.strip() == (
        f"error: --teacher {tiny_bert}: {tmp_path / 'b.yaml'} already has a source with role: teacher"
    )

import json

import pytest
import yaml

from distill.compress.cli import main


def test_export_cli_writes_and_reports(tiny_bert, eval_csv, tmp_path, capsys):
    rc = main(["export", str(tiny_bert), "--out", str(tmp_path / "o"), "--int8", "static",
               "--verify-data", str(eval_csv), "--calibration-data", str(eval_csv)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "model.int8.onnx: agreement" in out and "Δacc" in out
    assert (tmp_path / "o" / "model.int8.onnx").is_file()


def test_compress_cli_prunes_and_verifies(tiny_bert, eval_csv, tmp_path, capsys):
    rc = main(["compress", str(tiny_bert), "--out", str(tmp_path / "p"), "--prune-heads", "0.5",
               "--prune-ffn", "0.5", "--importance", "taylor", "--recover-epochs", "1", "--train-data", str(eval_csv)])
    assert rc == 0
    summary = json.loads((tmp_path / "p" / "compress.json").read_text())
    assert summary["num_attention_heads"] == 2 and summary["intermediate_size"] == 32
    assert summary["params_after"] < summary["params_before"]
    assert 0 <= summary["verify"]["agreement"] <= 1 and summary["verify"]["n"] == 56


def test_bench_cli_with_yaml(tiny_bert, eval_csv, tmp_path):
    cfg = {"sources": [{"name": "s", "path": str(tiny_bert), "role": "student"}],
           "kinds": ["torch-fp32", "ort-int8-dynamic"], "batch_sizes": [1, 2], "seq_lens": [8],
           "warmup": 1, "reps": 3, "max_seconds": 0.5, "eval": {"path": str(eval_csv)}, "out": str(tmp_path / "r")}
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["bench", str(tmp_path / "bench.yaml")]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [v["name"] for v in rep["variants"]] == ["s/torch-fp32", "s/ort-int8-dynamic"]
    assert rep["variants"][0]["accuracy"] is not None


@pytest.mark.parametrize(("argv", "msg"), [
    (["export", "{tmp}/missing", "--out", "{tmp}/o"], "no such model folder"),
    (["export", "{model}", "--out", "{tmp}/o", "--opset", "99"], "writes opsets up to"),
    (["bench", "{tmp}/bad.yaml"], "bad.yaml: kindz: unknown key; did you mean 'kinds'?"),
    (["bench", "--model", "{model}", "--devices", "cuda", "--out", "{tmp}/o"], "cuda"),
    (["export", "{model}", "--out", "{tmp}/o", "--int8", "static"], "calibration"),
])
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
    teacher.write_text(f"name: t\nmodel: {tiny_bert}\ndata: {{source: {eval_csv}, split: {{dev: 0.3, test: 0.2, seed: 1}}}}\n")
    dev = load_splits(load_teacher_config(teacher).data)
    names = dev.label_names
    # the same dev examples written to a file: the two ways must give the same report figures
    (tmp_path / "dev.csv").write_text("text,label\n" + "".join(f"{t},{names[y]}\n" for t, y in zip(dev.dev.texts, dev.dev.labels, strict=True)))
    common = {"sources": [{"name": "s", "path": str(tiny_bert), "role": "student"}], "kinds": ["torch-fp32"],
              "batch_sizes": [1], "seq_lens": [8], "warmup": 1, "reps": 2, "max_seconds": 0.2}
    reports = []
    for name, data in (("a", {"teacher": str(teacher), "split": "dev"}), ("b", {"path": str(tmp_path / "dev.csv")})):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({**common, "eval": data, "out": str(tmp_path / name)}))
        assert main(["bench", str(tmp_path / f"{name}.yaml")]) == 0
        reports.append(json.loads((tmp_path / name / "report.json").read_text())["variants"][0])
    assert reports[0]["accuracy"] == reports[1]["accuracy"] and reports[0]["f1"] == reports[1]["f1"]
    assert reports[0]["accuracy"] is not None

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**common, "eval": {"teacher": str(teacher), "path": "x.csv"}}))
    capsys.readouterr()
    assert main(["bench", str(tmp_path / "c.yaml")]) == 2
    assert "c.yaml: eval: give exactly one of `path` (a data file) or `teacher`" in capsys.readouterr().err

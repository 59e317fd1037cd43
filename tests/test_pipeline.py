"""`distill pipeline` end to end through the CLI: tiny teacher, 64 toy examples.

Checks the content addressing: every step runs once, a second invocation skips all of them, and
editing one step's config re-runs that step and the steps after it, and nothing before.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification

from distill.cli import main
from distill.pipeline import runner
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv

STUDENT = """
name: tiny-student
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: teacher
batch_size: 8
speed: {latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: intermediate, epochs: 1, lr: 1.0e-3, eval: false, objectives: {emb: {weight: 1.0}, hidden: {weight: 1.0}}}
  - {name: prediction, epochs: 1, lr: 1.0e-3, objectives: {pred: {weight: 1.0}, ce: {weight: 0.5}}}
"""

AUGMENT = """
n_iter: {n}
strategies: [{{name: masking, p_mask: 0.2}}, {{name: ngram, p_ng: 0.25}}]
"""

FAST_STEPS = """
  - {name: data, kind: data}
  - {name: teacher, kind: teacher, inputs: {data: data}}
  - {name: augment, kind: augment, config: CFG/augment.yaml, inputs: {data: data}}
  - {name: distill, kind: distill, config: CFG/student.yaml, inputs: {teacher: teacher, data: augment}}
  - {name: export, kind: export, inputs: {model: distill, data: data}, options: {optimize: false}}
"""

FULL_STEPS = """
  - {name: data, kind: data}
  - {name: teacher, kind: teacher, inputs: {data: data}}
  - {name: augment, kind: augment, config: CFG/augment.yaml, inputs: {data: data}}
  - {name: general, kind: general, config: CFG/student.yaml, inputs: {data: data}, options: {batch_size: 16}}
  - {name: distill, kind: distill, config: CFG/student.yaml, inputs: {teacher: teacher, data: augment, general: general}}
  - {name: compress, kind: compress, inputs: {model: distill, data: data}, options: {prune_ffn: 0.5}}
  - {name: export, kind: export, inputs: {model: compress, data: data}, options: {int8: dynamic, min_agreement_int8: 0.5}}
  - name: bench
    kind: bench
    inputs: {student: distill, teacher: teacher, models: [compress], data: data}
    options: {kinds: [torch-fp32, ort-fp32], batch_sizes: [1, 8], seq_lens: [16], warmup: 1, reps: 3, max_seconds: 1}
"""


def write_recipe(tmp_path: Path, model: Path, steps: str) -> Path:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    data = write_csv(cfg / "toy.csv", toy_rows(64))
    (cfg / "teacher.yaml").write_text(
        TINY_TEACHER_YAML.format(name="tiny", model=model, data=data, cache=tmp_path / "cache")
    )
    (cfg / "student.yaml").write_text(textwrap.dedent(STUDENT))
    (cfg / "augment.yaml").write_text(AUGMENT.format(n=2))
    recipe = tmp_path / "recipe.yaml"
    body = f"name: tiny\nteacher: {cfg / 'teacher.yaml'}\noutput: {tmp_path / 'out'}\nsteps:" + steps.replace(
        "CFG", str(cfg)
    )
    recipe.write_text(body)
    return recipe


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """The names of the steps whose executor actually ran, in order."""
    ran: list[str] = []
    for kind, fn in list(runner.EXECUTORS.items()):

        def counted(ctx, fn=fn):
            ran.append(ctx.step.name)
            return fn(ctx)

        monkeypatch.setitem(runner.EXECUTORS, kind, counted)
    return ran


def step_dirs(out: Path) -> dict[str, list[str]]:
    dirs: dict[str, list[str]] = {}
    for d in sorted(out.iterdir()):
        if (d / "done.json").is_file():
            dirs.setdefault(d.name.rsplit("-", 1)[0], []).append(d.name)
    return dirs


def test_runs_each_step_once_then_skips_then_reruns_only_what_changed(
    tmp_path, tiny_encoder_dir, calls, capsys
):
    recipe = write_recipe(tmp_path, tiny_encoder_dir, FAST_STEPS)
    out = tmp_path / "out"
    names = ["data", "teacher", "augment", "distill", "export"]

    assert main(["pipeline", str(recipe)]) == 0
    assert calls == names
    first = step_dirs(out)
    assert list(first) == sorted(names) and all(len(v) == 1 for v in first.values())
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folders left
    printed = capsys.readouterr().out
    assert "pipeline finished: run 5, skip 0" in printed

    # The augmented file feeds the distillation; dev and test are the data step's, untouched.
    data_dir, aug_dir, dist_dir = (out / first[n][0] for n in ("data", "augment", "distill"))
    n_train = len((data_dir / "train.jsonl").read_text().splitlines())
    n_aug = len((aug_dir / "train.jsonl").read_text().splitlines())
    assert n_aug > n_train
    done = json.loads((aug_dir / "done.json").read_text())
    assert done["outputs"]["dev"] == f"{first['data'][0]}/dev.jsonl"
    metrics = json.loads((dist_dir / "model" / "metrics.json").read_text())
    assert metrics["data"]["train"] == n_aug and metrics["data"]["dev"] == 16
    # ready, not re-fine-tuned
    assert metrics["teacher"]["cached"] is False and metrics["teacher"]["finetune_seconds"] is None
    assert metrics["student_path"] == str(dist_dir / "model")
    teacher = AutoModelForSequenceClassification.from_pretrained(out / first["teacher"][0] / "model")
    assert teacher.config.id2label == {0: "negative", 1: "positive"}
    assert (out / first["export"][0] / "onnx" / "model.onnx").is_file()

    # Second invocation: everything is done, nothing runs, nothing is rewritten.
    stamps = {n: (out / first[n][0] / "done.json").stat().st_mtime_ns for n in names}
    calls.clear()
    assert main(["pipeline", str(recipe)]) == 0
    assert calls == []
    assert "pipeline finished: run 0, skip 5" in capsys.readouterr().out
    assert {n: (out / first[n][0] / "done.json").stat().st_mtime_ns for n in names} == stamps

    # Edit augment.yaml: augment and everything after it re-run; data and teacher are reused.
    (tmp_path / "cfg" / "augment.yaml").write_text(AUGMENT.format(n=3))
    assert main(["pipeline", str(recipe), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "changed since " + first["augment"][0] + ": config" in plan
    assert "changed since " + first["distill"][0] + ": input data" in plan
    assert calls == []  # the dry run ran nothing
    assert main(["pipeline", str(recipe)]) == 0
    assert calls == ["augment", "distill", "export"]
    second = step_dirs(out)
    assert second["data"] == first["data"] and second["teacher"] == first["teacher"]
    assert all(len(second[n]) == 2 for n in ("augment", "distill", "export"))

    # A worker-count change does not change the result, so it re-runs nothing.
    calls.clear()
    assert main(["pipeline", str(recipe), "--set", "augment.workers=2"]) == 0
    assert calls == []


def test_crashed_step_leaves_no_output_and_reruns_alone(
    tmp_path, tiny_encoder_dir, calls, monkeypatch, capsys
):
    recipe = write_recipe(tmp_path, tiny_encoder_dir, FAST_STEPS.split("  - {name: distill")[0])
    real = runner.EXECUTORS["augment"]

    def crash(ctx):
        (ctx.tmp / "partial.jsonl").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setitem(runner.EXECUTORS, "augment", crash)
    assert main(["pipeline", str(recipe)]) == 130
    assert sorted(step_dirs(tmp_path / "out")) == ["data", "teacher"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    monkeypatch.setitem(runner.EXECUTORS, "augment", real)
    calls.clear()
    assert main(["pipeline", str(recipe)]) == 0
    assert calls == ["augment"]


@pytest.mark.slow
def test_full_path_general_compress_export_bench(tmp_path, tiny_encoder_dir, calls, capsys):
    recipe = write_recipe(tmp_path, tiny_encoder_dir, FULL_STEPS)
    assert main(["pipeline", str(recipe)]) == 0
    assert calls == ["data", "teacher", "augment", "general", "distill", "compress", "export", "bench"]
    printed = capsys.readouterr().out
    out = tmp_path / "out"
    dirs = step_dirs(out)
    assert (
        f"init: general:{out / dirs['general'][0] / 'model'}"
        in (out / dirs["distill"][0] / "student.yaml").read_text()
    )
    report = out / dirs["bench"][0] / "report" / "report.md"
    assert report.is_file() and f"bench report: {report}" in printed
    compress = json.loads((out / dirs["compress"][0] / "done.json").read_text())["info"]
    assert compress["params_after"] < compress["params_before"]
    calls.clear()
    assert main(["pipeline", str(recipe)]) == 0
    assert calls == []


BILSTM_STEPS = """
  - {name: data, kind: data}
  - {name: teacher, kind: teacher, inputs: {data: data}}
  - {name: distill, kind: distill, config: CFG/student.yaml, inputs: {teacher: teacher, data: data}}
  - {name: export, kind: export, inputs: {model: distill, data: data}, options: {int8: dynamic, min_agreement_int8: 0.9}}
  - name: bench
    kind: bench
    inputs: {student: distill, teacher: teacher, data: data}
    options: {kinds: [torch-fp32, ort-opt, ort-int8-dynamic], batch_sizes: [1, 8], seq_lens: [16], warmup: 1, reps: 3, max_seconds: 1}
"""


@pytest.mark.slow
def test_bilstm_student_is_exported_and_benchmarked(tmp_path, tiny_encoder_dir, calls):
    """Tang's path: a BiLSTM student through export (dynamic INT8) and bench; ort-opt is measured for
    the BERT teacher and skipped, with its reason, for the student."""
    recipe = write_recipe(tmp_path, tiny_encoder_dir, BILSTM_STEPS)
    vectors = tmp_path / "cfg" / "vec.txt"
    vectors.write_text(
        "".join(
            f"{w} {i % 3} {i % 5 - 2} {i % 7 - 3}\n" for i, w in enumerate(["good", "great", "bad", "awful"])
        )
    )
    (tmp_path / "cfg" / "student.yaml").write_text(
        textwrap.dedent(f"""
        name: lstm
        architecture: {{family: bilstm, bilstm: {{hidden: 16, mlp: 16, vectors: {vectors}}}}}
        batch_size: 8
        speed: {{latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}}
        stages: [{{name: task, epochs: 2, lr: 5.0e-3, objectives: {{ce: {{weight: 0.5}}, logit_mse: {{weight: 1.0}}}}}}]
    """)
    )
    assert main(["pipeline", str(recipe)]) == 0
    assert calls == ["data", "teacher", "distill", "export", "bench"]
    out = tmp_path / "out"
    dirs = step_dirs(out)
    verify = json.loads((out / dirs["export"][0] / "onnx" / "verify.json").read_text())
    assert verify["model_type"] == "distill-bilstm" and set(verify["graphs"]) == {
        "model.onnx",
        "model.int8.onnx",
    }
    # the dev split
    assert (
        verify["graphs"]["model.onnx"]["n"] == 16 and verify["graphs"]["model.onnx"]["accuracy_delta"] == 0.0
    )
    report = json.loads((out / dirs["bench"][0] / "report" / "report.json").read_text())
    assert [v["name"] for v in report["variants"]] == [
        "distill/torch-fp32",
        "distill/ort-int8-dynamic",
        "teacher/torch-fp32",
        "teacher/ort-opt",
        "teacher/ort-int8-dynamic",
    ]
    assert [s["name"] for s in report["skipped"]] == ["distill/ort-opt"]
    assert all(v["accuracy"] is not None and v["timings"] for v in report["variants"])


def test_student_below_fail_below_exits_3_and_is_kept(tmp_path, tiny_encoder_dir, calls, capsys):
    steps = FAST_STEPS.replace(
        "  - {name: augment, kind: augment, config: CFG/augment.yaml, inputs: {data: data}}\n", ""
    )
    recipe = write_recipe(tmp_path, tiny_encoder_dir, steps.replace("data: augment", "data: data"))
    student = tmp_path / "cfg" / "student.yaml"
    student.write_text(student.read_text() + "fail_below: 0.99\n")  # this 2-step student cannot reach it
    assert main(["pipeline", str(recipe)]) == 3
    assert calls == ["data", "teacher", "distill"]  # export never ran on the failed student
    kept = [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".below-bar")]
    assert len(kept) == 1 and kept[0].name.startswith("distill-")
    m = json.loads((kept[0] / "metrics.json").read_text())
    assert (kept[0] / "model.safetensors").is_file() and m["student_path"] == str(kept[0]) and m["warnings"]
    acc, teacher = m["student"]["dev"]["accuracy"], m["teacher"]["dev"]["accuracy"]
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: pipeline step distill: fail_below: 0.99: the student's dev accuracy {acc:.1%} is {acc / teacher:.0%} of the "
        f"teacher's {teacher:.1%}, below 99%; the student was kept in {kept[0]} "
        "(metrics.json lists the warnings; the step is not marked done)"
    )
    # distill is not done: a rerun trains it again
    assert sorted(step_dirs(tmp_path / "out")) == [
        "data",
        "teacher",
    ]


PAIR_STEPS = """
  - {name: data, kind: data}
  - {name: teacher, kind: teacher, inputs: {data: data}}
  - {name: distill, kind: distill, config: CFG/student.yaml, inputs: {teacher: teacher, data: data}}
  - {name: compress, kind: compress, inputs: {model: distill, data: data}, options: {prune_ffn: 0.5, recover_epochs: 1}}
  - {name: export, kind: export, inputs: {model: distill, data: data}, options: {int8: static, calibration_limit: 40, min_agreement_int8: 0.5}}
  - name: bench
    kind: bench
    inputs: {student: distill, teacher: teacher, models: [compress], data: data}
    options: {kinds: [torch-fp32, ort-opt, ort-int8-cls], batch_sizes: [1], seq_lens: [16], warmup: 1, reps: 2, max_seconds: 1}
"""


def test_pair_task_is_exported_and_benchmarked_on_both_sentences(tmp_path, tiny_encoder_dir, calls):
    """A sentence-pair task: export verifies on the dev pairs at the teacher's max_length, calibrates
    on train pairs, and bench's FP32 accuracies are the ones the teacher and distill steps recorded."""
    from tests.compress.test_pair_export import pair_rows

    recipe = write_recipe(tmp_path, tiny_encoder_dir, PAIR_STEPS)
    cfg = tmp_path / "cfg"
    write_csv(cfg / "toy.csv", pair_rows(64), ("premise", "hypothesis", "label"))
    teacher = (cfg / "teacher.yaml").read_text()
    (cfg / "teacher.yaml").write_text(
        teacher.replace("  split:", "  text_column: premise\n  text_pair_column: hypothesis\n  split:")
    )
    assert main(["pipeline", str(recipe)]) == 0
    out = tmp_path / "out"
    dirs = step_dirs(out)
    verify = json.loads((out / dirs["export"][0] / "onnx" / "verify.json").read_text())
    assert verify["inputs"] == ["input_ids", "attention_mask", "token_type_ids"] and verify["pairs"] is True
    assert verify["max_len"] == 16 and verify["graphs"]["model.onnx"]["max_abs_logit_diff"] < 1e-4
    info = {name: json.loads((out / d[0] / "done.json").read_text())["info"] for name, d in dirs.items()}
    assert verify["graphs"]["model.onnx"]["accuracy_reference"] == pytest.approx(
        info["distill"]["dev_accuracy"]
    )
    report = json.loads((out / dirs["bench"][0] / "report" / "report.json").read_text())
    assert report["settings"]["eval_max_len"] == 16
    acc = {v["name"]: v["accuracy"] for v in report["variants"]}
    assert acc["distill/torch-fp32"] == pytest.approx(info["distill"]["test_accuracy"])
    assert acc["distill/ort-opt"] == pytest.approx(info["distill"]["test_accuracy"])
    assert acc["teacher/torch-fp32"] == pytest.approx(info["teacher"]["scores"]["test"]["accuracy"])
    assert acc["distill/ort-int8-cls"] is not None and acc["compress/ort-opt"] == pytest.approx(
        acc["compress/torch-fp32"]
    )
    assert info["compress"]["verify"]["n"] > 0  # pruned, recovered and verified on the train pairs

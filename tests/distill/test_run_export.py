"""`export:` in student.yaml: `distill run` writes verified INT8 graphs of the student and the teacher,
scores and times them, and the summary has the four rows (teacher/student x FP32/INT8)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distill.cli import main
from distill.distillation.summary import summary_table
from tests.distill.test_run import configs

EXPORT = "export: {int8: dynamic, min_agreement_int8: 0.5}\n"  # tiny random-ish models: a loose bar


def test_run_with_export_writes_verified_graphs_and_the_four_rows(tmp_path, tiny_encoder_dir, capsys):
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from distill.data.dataset import load_splits

    teacher, student = configs(tmp_path, tiny_encoder_dir)
    student.write_text(student.read_text() + EXPORT)
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    models = ("teacher FP32", "teacher INT8", "student FP32", "student INT8")
    rows = [line.split("  ")[0] for line in printed if line.startswith(models)]
    assert rows == list(models)
    m = json.loads((out / "metrics.json").read_text())
    for role, folder in (("student", "onnx"), ("teacher", "teacher-onnx")):
        got = m["export"][role]
        assert got["graph"] == str(out / folder / "model.int8.onnx") and got["int8"] == "dynamic"
        verify = json.loads((out / folder / "verify.json").read_text())
        assert verify["graphs"]["model.int8.onnx"] == got["verify"]
        assert got["verify"]["agreement"] >= 0.5 and got["verify"]["n"] == m["data"]["dev"]
        assert got["graph_mb"] == pytest.approx((out / folder / "model.int8.onnx").stat().st_size / 2**20)
        assert got["latency_ms_b1"]["p50"] > 0 and got["throughput_b32"] > 0
    assert not list(out.glob(".teacher-*"))  # the teacher's temporary copy is gone
    # the student's INT8 accuracy, recomputed here from the graph on the dev split
    from distill.config import load_teacher_config

    splits = load_splits(load_teacher_config(teacher).data)
    tok = AutoTokenizer.from_pretrained(out / "onnx")
    session = ort.InferenceSession(str(out / "onnx" / "model.int8.onnx"))
    names = [i.name for i in session.get_inputs()]
    enc = tok(splits.dev.texts, padding=True, truncation=True, max_length=16, return_tensors="np")
    logits = session.run(["logits"], {n: enc[n].astype(np.int64) for n in names})[0]
    acc = float((logits.argmax(-1) == np.asarray(splits.dev.labels)).mean())
    assert m["export"]["student"]["dev"]["accuracy"] == pytest.approx(acc)


def _metrics() -> dict:
    def model(dev, test, f1, size, p50, b32, **extra):
        return {
            "dev": {"accuracy": dev},
            "test": {"accuracy": test, "f1": f1},
            "latency_ms_b1": {"p50": p50},
            "throughput_b32": b32,
            **extra,
        }

    return {
        "teacher": model(0.9, 0.8, 0.75, 80.0, 20.0, 100.0, params=20e6, weights_mb=80.0),
        "student": model(0.9, 0.85, 0.8, 40.0, 10.0, 250.0, params=10e6, weights_mb=40.0),
        "export": {
            "teacher": model(
                0.87, 0.8, 0.7, 21.0, 8.0, 200.0, graph_mb=21.0, graph="t/model.int8.onnx", int8="dynamic"
            ),
            "student": model(
                0.885, 0.84, 0.8, 11.0, 4.0, 700.0, graph_mb=11.0, graph="s/model.int8.onnx", int8="cls"
            ),
        },
        "machine": {"cpu": "AMD EPYC", "torch_threads": 2},
        "data": {"majority_dev_accuracy": 0.7},
        "total_seconds": 600.0,
        "warnings": [],
    }


def test_the_four_rows_are_measured_against_the_teacher_in_fp32():
    assert summary_table(_metrics()).splitlines() == [
        "              dev acc  % of teacher  test acc  test F1  size (MB)  b=1 p50 (ms)  b=32 (seq/s)  b=32 vs teacher",
        "teacher FP32  90.0%    100.0%        80.0%     75.0%    80.0       20.0          100           1.00x",
        "teacher INT8  87.0%    96.7%         80.0%     70.0%    21.0       8.0           200           2.00x",
        "student FP32  90.0%    100.0%        85.0%     80.0%    40.0       10.0          250           2.50x",
        "student INT8  88.5%    98.3%         84.0%     80.0%    11.0       4.0           700           7.00x",
        "(INT8: ONNX Runtime graphs teacher t/model.int8.onnx (dynamic), student s/model.int8.onnx (cls); "
        "parameters: teacher 20.0M, student 10.0M)",
        "(CPU: AMD EPYC, 2 threads; majority-class dev accuracy 70.0%; total 10.0 min)",
    ]


@pytest.mark.parametrize(
    ("export", "error"),
    [
        ("{int8: dynamc}", "export.int8: 'dynamc' is unknown (did you mean 'dynamic'?); expected one of "),
        ("{int8: dynamic, surprise: 1}", "export.surprise"),
    ],
)
def test_a_bad_export_block_is_refused_at_validate(tmp_path, tiny_encoder_dir, capsys, export, error):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    student.write_text(student.read_text() + f"export: {export}\n")
    assert main(["validate", str(teacher), str(student)]) == 2
    assert error in capsys.readouterr().err


def test_an_int8_graph_the_student_family_lacks_is_refused_at_validate(tmp_path, tiny_encoder_dir, capsys):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    student.write_text(
        "name: lstm\narchitecture: {family: bilstm}\ninit: random\n"
        "stages: [{name: p, epochs: 1, objectives: {ce: {}}}]\nexport: {int8: cls}\n"
    )
    assert main(["validate", str(teacher), str(student)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {student}: export.int8: cls does not apply to this student (model_type distill-bilstm): "
    )
    assert err.rstrip().endswith("; for it: dynamic")

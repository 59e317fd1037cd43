"""The README's main job on a reduced slice of the embedded default (real MiniLM teacher, real tweets).

Marked slow (several minutes on 2 cores): run on purpose with `pytest -m slow`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distill.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_embedded_default_small_slice(tmp_path):
    teacher = yaml.safe_load((ROOT / "experiments/teachers/minilm-tweets.yaml").read_text())
    teacher["data"].update(max_train_examples=1500, max_eval_examples=300)
    teacher["cache_dir"] = str(tmp_path / "teachers")
    student = yaml.safe_load((ROOT / "experiments/students/tinybert2-h256-int8.yaml").read_text())
    student["speed"] = {"latency_runs": 20, "throughput_batches": 3}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(teacher))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(student))

    assert (
        main(
            ["run", str(tmp_path / "t.yaml"), str(tmp_path / "s.yaml"), "--output-dir", str(tmp_path / "out")]
        )
        == 0
    )
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["teacher"]["dev"]["accuracy"] > m["data"]["majority_dev_accuracy"] + 0.05
    assert m["student"]["dev"]["accuracy"] >= 0.9 * m["teacher"]["dev"]["accuracy"]
    assert m["student"]["throughput_b32"] > m["teacher"]["throughput_b32"]  # 2 x 256 of the teacher's 6 x 384
    # export: the student's and the teacher's INT8 graphs, verified, scored and timed
    student_int8, teacher_int8 = m["export"]["student"], m["export"]["teacher"]
    assert student_int8["verify"]["agreement"] >= 0.97 and teacher_int8["verify"]["agreement"] >= 0.97
    assert student_int8["dev"]["accuracy"] >= 0.9 * m["teacher"]["dev"]["accuracy"]
    assert student_int8["throughput_b32"] > teacher_int8["throughput_b32"]

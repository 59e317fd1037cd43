"""README's "Measured: the main job" block is generated from a committed metrics.json."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _script():
    spec = importlib.util.spec_from_file_location("main_job_report", ROOT / "experiments/main_job_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_holds_the_block_generated_from_the_metrics_it_names():
    report = _script()
    text = README.read_text(encoding="utf-8")
    block = text[text.index(report.BEGIN) + len(report.BEGIN) : text.index(report.END)].strip()
    named = re.search(r"--readme README.md (\S+)`", block).group(1)
    assert block == report.markdown(ROOT / named), (
        f"README.md's main-job block is stale: run python experiments/main_job_report.py --readme README.md {named}"
    )
    # the quick start runs the student the block measured
    metrics = json.loads((ROOT / named).read_text())
    assert report.command(metrics) in text.split("## Measured: the main job")[0]


def test_the_targets_say_met_or_not_from_the_figures():
    report = _script()
    m = {
        "teacher": {"dev": {"accuracy": 0.9}, "throughput_b32": 100.0},
        "export": {
            "student": {"dev": {"accuracy": 0.88}, "throughput_b32": 650.0},
            "teacher": {"dev": {"accuracy": 0.89}, "throughput_b32": 340.0},
        },
        "total_seconds": 600.0,
    }
    assert report.targets(m) == [
        "- student INT8 dev accuracy 97.8% of the teacher's: met (>= 97%)",
        "- batch-32 throughput 6.50x the teacher's FP32: met (>= 6x)",
        "- 1.91x the teacher's own INT8 graph: NOT met (>= 2x)",
        "- the whole command 10.0 min: met (<= 12 min)",
    ]


def test_the_docs_hold_the_pruned_init_table_of_the_committed_report():
    import json

    spec = importlib.util.spec_from_file_location("pruned_init", ROOT / "experiments/pruned_init.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = json.loads((ROOT / "experiments/reports/pruned-init/report.json").read_text())["rows"]
    text = (ROOT / "docs/results.md").read_text(encoding="utf-8")
    block = text[text.index(module.BEGIN) + len(module.BEGIN) : text.index(module.END)].strip()
    assert block == module.readme_block(rows), (
        "run python experiments/pruned_init.py --readme docs/results.md"
    )

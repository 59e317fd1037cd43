"""experiments/recipe_report.py: results pages from a real tiny pipeline run, and the README's block.

Two tiny recipes share one output folder, as the embedded recipes do: a transformer student with a
bench step (variants from report.json) and a BiLSTM without one (variants from metrics.json). The
pages' numbers are parsed back and compared with report.json, and report.json with the step files.
"""

from __future__ import annotations

import itertools
import json
import re
import textwrap
from pathlib import Path

import pytest
import torch

from distill.cli import main as distill_main
from experiments import recipe_report
from experiments.recipe_report import BEGIN, END, readme_block, target
from tests.conftest import TINY_TEACHER_YAML, save_tiny_encoder, toy_rows, write_csv

ROOT = Path(__file__).resolve().parents[1]

BERT_STUDENT = """
name: tiny-student
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: teacher
batch_size: 8
speed: {latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: prediction, epochs: 2, lr: 1.0e-3, objectives: {pred: {weight: 1.0}, ce: {weight: 0.5}}}
"""

LSTM_STUDENT = """
name: tiny-lstm
architecture: {family: bilstm, bilstm: {hidden: 8, mlp: 8, dropout: 0.0}}
init: random
batch_size: 8
speed: {latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: task, epochs: 2, lr: 1.0e-2, objectives: {logit_mse: {}, ce: {weight: 0.5}}}
"""

HEAD = """name: {name}
teacher: {cfg}/teacher.yaml
output: {out}
steps:
  - {{name: data, kind: data}}
  - {{name: teacher, kind: teacher, inputs: {{data: data}}}}
"""

BERT_STEPS = """  - {name: distill, kind: distill, config: CFG/bert.yaml, inputs: {teacher: teacher, data: data}}
  - name: bench
    kind: bench
    inputs: {student: distill, teacher: teacher, data: data}
    options: {kinds: [torch-fp32, torch-int8], batch_sizes: [1, 8], seq_lens: [16], warmup: 1, reps: 3, max_seconds: 0.5}
"""

LSTM_STEPS = (
    "  - {name: distill, kind: distill, config: CFG/lstm.yaml, inputs: {teacher: teacher, data: data}}\n"
)


# A page prints 2 (or 1) decimals: its number is within half a unit of the last digit of the report's,
# inclusive (0.965 prints as 0.96 or 0.97 by float rounding), plus float representation error.
HALF_2DP, HALF_1DP = 0.005 + 1e-9, 0.05 + 1e-9


def write_recipe(root: Path, name: str, steps: str) -> Path:
    cfg = root / "cfg"
    path = root / f"{name}.yaml"
    path.write_text(HEAD.format(name=name, cfg=cfg, out=root / "out") + steps.replace("CFG", str(cfg)))
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    """Both recipes run once (the second reuses the first's data and teacher steps), then their pages."""
    root = tmp_path_factory.mktemp("recipes")
    cfg = root / "cfg"
    cfg.mkdir()
    data = write_csv(cfg / "toy.csv", toy_rows(64))
    model = save_tiny_encoder(root / "tiny-encoder")
    (cfg / "teacher.yaml").write_text(
        TINY_TEACHER_YAML.format(name="tiny", model=model, data=data, cache=root / "cache")
    )
    (cfg / "bert.yaml").write_text(textwrap.dedent(BERT_STUDENT))
    (cfg / "lstm.yaml").write_text(textwrap.dedent(LSTM_STUDENT))
    recipes = {"bert": write_recipe(root, "bert", BERT_STEPS), "lstm": write_recipe(root, "lstm", LSTM_STEPS)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for path in recipes.values():
            assert distill_main(["pipeline", str(path)]) == 0
            assert recipe_report.main([str(path), "--out", str(root / "pages" / path.stem)]) == 0
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "recipes": recipes}


def load(pages: dict, name: str) -> tuple[dict, str]:
    folder = pages["root"] / "pages" / name
    return json.loads((folder / "report.json").read_text()), (folder / "report.md").read_text()


def table(page: str, heading: str) -> list[dict[str, str]]:
    """The first Markdown table after ``heading``, as one {column: cell} per row."""
    lines = page.split(heading, 1)[1].splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = list(itertools.takewhile(lambda ln: ln.startswith("|"), lines[first:]))
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in rows]
    return [dict(zip(cells[0], c, strict=True)) for c in cells[2:]]


def num(cell: str) -> float:
    return float(cell.rstrip("x%"))


def steps_of(pages: dict) -> dict[str, dict]:
    """done.json of every finished step in the shared output folder, by folder name."""
    return {
        d.name: json.loads((d / "done.json").read_text())
        for d in (pages["root"] / "out").iterdir()
        if (d / "done.json").is_file()
    }


def test_bench_page_numbers_are_the_report_numbers(pages):
    r, page = load(pages, "bert")
    done = steps_of(pages)
    bench = next(d for d in done.values() if d["kind"] == "bench")
    report = json.loads((pages["root"] / "out" / bench["outputs"]["report_json"]).read_text())
    teacher = next(v for v in report["variants"] if v["role"] == "teacher" and v["kind"] == "torch-fp32")
    assert [v["name"] for v in r["variants"]] == [
        "teacher/torch-fp32",
        "teacher/torch-int8",
        "distill/torch-fp32",
        "distill/torch-int8",
    ]
    assert {v["name"] for v in report["variants"]} == {v["name"] for v in r["variants"]}

    rows = table(page, "## Teacher vs student variants")
    assert len(rows) == len(r["variants"])
    for row, v in zip(rows, r["variants"], strict=True):
        src = next(s for s in report["variants"] if s["name"] == v["name"])
        # report.json (this page's) against the bench step's own report.json
        t1, t8 = (next(t for t in src["timings"] if t["batch"] == b) for b in (1, 8))
        assert (
            v["accuracy"] == src["accuracy"]
            and v["params"] == src["params"]
            and v["size_mb"] == src["size_mb"]
        )
        assert v["pct_of_teacher"] == pytest.approx(100 * src["accuracy"] / teacher["accuracy"])
        assert v["latency_b1_ms"] == {"p50": t1["latency_ms"]["p50"], "p90": t1["latency_ms"]["p90"]}
        assert v["throughput"] == {"1": t1["throughput_seq_s"], "8": t8["throughput_seq_s"]}
        assert v["speedup_vs_teacher"] == {str(s["batch"]): s["vs_teacher"] for s in src["speedup"]}
        assert v["delta_vs_fp32_student"] == src["accuracy_delta_vs_student"]
        # the page against report.json
        assert row["variant"].startswith(f"`{v['name']}`")
        assert num(row["acc %"]) == pytest.approx(100 * v["accuracy"], abs=HALF_2DP)
        assert num(row["F1 %"]) == pytest.approx(100 * v["f1"], abs=HALF_2DP)
        assert num(row["% of teacher acc"]) == pytest.approx(v["pct_of_teacher"], abs=HALF_1DP)
        assert num(row["params (M)"]) == pytest.approx(v["params"] / 1e6, abs=HALF_2DP)
        assert num(row["size (MB)"]) == pytest.approx(v["size_mb"], abs=HALF_1DP)
        assert num(row["b1 p50 ms"]) == pytest.approx(v["latency_b1_ms"]["p50"], abs=HALF_2DP)
        assert num(row["b1 p90 ms"]) == pytest.approx(v["latency_b1_ms"]["p90"], abs=HALF_2DP)
        assert num(row["b8 seq/s"]) == pytest.approx(v["throughput"]["8"], abs=HALF_1DP)
        assert num(row["speed-up b1 (latency)"]) == v["speedup_vs_teacher"]["1"]
        assert num(row["speed-up b8 (throughput)"]) == v["speedup_vs_teacher"]["8"]
    student = next(row for row in rows if row["variant"] == "`distill/torch-fp32`")
    assert num(student["Δacc vs FP32 student (points)"]) == 0.0
    assert r["skipped"] == [{"variant": x["name"], "reason": x["skipped"]} for x in report["skipped"]] == []
    assert "Not measured" not in page

    # Steps table: this recipe's steps only (the shared folder also holds the BiLSTM's distill step).
    steps = table(page, "## Steps")
    assert [s["step"] for s in steps] == ["data", "teacher", "distill", "bench"]
    for s, j in zip(steps, r["steps"], strict=True):
        d = done[f"{j['step']}-{j['key']}"]
        assert s["key"] == f"`{d['key']}`" and num(s["seconds"]) == pytest.approx(d["seconds"], abs=HALF_1DP)
    t_info = next(d for d in done.values() if d["kind"] == "teacher")["info"]["scores"]
    assert (
        f"dev acc {100 * t_info['dev']['accuracy']:.2f}%, test acc {100 * t_info['test']['accuracy']:.2f}%"
        in steps[1]["facts"]
    )
    assert steps[0]["facts"].startswith("train 32 / dev 16 / test 16 rows")
    # the bench step's done.json names the kind recommend.py picks on this machine, and the page shows it
    b_info = next(d for d in done.values() if d["kind"] == "bench")["info"]
    assert b_info["recommended"] == report["recommended"] and report["recommended"]
    rec = report["recommended"][0]
    assert rec["source"] == "distill" and rec["device"] == "cpu"
    assert steps[3]["facts"].endswith(f"; recommended for distill on cpu: {rec['kind']}")

    # Machine, command, target, plot.
    assert r["machine"] == report["machine"] and r["loadavg"] == {
        "start": report["machine"]["loadavg_1_5_15"],
        "end": report["loadavg_after"],
    }
    assert f"- {recipe_report.machine_line(report['machine'])}" in page
    path = pages["recipes"]["bert"]
    assert r["commands"] == [
        f"distill pipeline {path}",
        f"python experiments/recipe_report.py {path} --out {pages['root'] / 'pages' / 'bert'}",
    ]
    assert "```bash\n" + "\n".join(r["commands"]) + "\n```" in page
    t = r["target"]
    assert t["label"] == "best transformer variant" and (t["min_pct"], t["min_speedup"], t["batch"]) == (
        97.0,
        5.0,
        8,
    )
    assert t["teacher_accuracy"] == teacher["accuracy"]
    judged = next(v for v in r["variants"] if v["name"] == t["variant"])
    assert t["passed"] == (judged["pct_of_teacher"] >= 97 and judged["speedup_vs_teacher"]["8"] >= 5)
    assert recipe_report.target_line(t) in page
    assert f"`{t['variant']}` keeps {judged['pct_of_teacher']:.1f}% of the teacher's accuracy" in page
    assert (pages["root"] / "pages" / "bert" / "pareto.png").read_bytes() == (
        pages["root"] / "out" / bench["outputs"]["report"]
    ).with_name("pareto.png").read_bytes()
    assert page.endswith("![accuracy vs throughput](pareto.png)\n")


def test_skipped_kinds_are_listed_under_the_table(pages):
    """A kind that does not apply to a source (the MPNet teacher's ort-int8-cls) is named with its reason."""
    r, _ = load(pages, "bert")
    r["skipped"] = [{"variant": "teacher/ort-int8-cls", "reason": "does not apply to model_type mpnet: why"}]
    page = recipe_report.render_page(r)
    table_end = page.index("## Targets")
    assert page.index("Not measured (the kind does not apply to that model):") < table_end
    assert "- `teacher/ort-int8-cls`: does not apply to model_type mpnet: why\n" in page[:table_end]


def test_bilstm_page_reads_the_distill_metrics(pages):
    r, page = load(pages, "lstm")
    done = steps_of(pages)
    distill = next(d for d in done.values() if d["kind"] == "distill" and d["info"]["family"] == "bilstm")
    metrics = json.loads((pages["root"] / "out" / distill["outputs"]["metrics"]).read_text())
    assert r["family"] == "bilstm" and r["measurement"]["source"] == "distill" and r["loadavg"] is None
    rows = table(page, "## Teacher vs student variants")
    assert [row["variant"] for row in rows] == ["`teacher/torch-fp32` (teacher)", "`student/torch-fp32`"]
    for row, role in zip(rows, ("teacher", "student"), strict=True):
        m = metrics[role]
        assert num(row["acc %"]) == pytest.approx(100 * m["test"]["accuracy"], abs=HALF_2DP)
        assert num(row["b1 p50 ms"]) == pytest.approx(m["latency_ms_b1"]["p50"], abs=HALF_2DP)
        # measured at batch 8 here
        assert num(row["b8 seq/s"]) == pytest.approx(m["throughput_b32"], abs=HALF_1DP)
    assert num(rows[1]["speed-up b8 (throughput)"]) == pytest.approx(
        metrics["student"]["speedup_b32"], abs=HALF_2DP
    )
    assert num(rows[1]["% of teacher acc"]) == pytest.approx(
        100 * metrics["student"]["test"]["accuracy"] / metrics["teacher"]["test"]["accuracy"], abs=HALF_1DP
    )
    t = r["target"]
    assert (t["label"], t["variant"], t["min_pct"], t["min_speedup"]) == (
        "BiLSTM variant",
        "student/torch-fp32",
        95.0,
        10.0,
    )
    assert (
        t["speedup"] == metrics["student"]["speedup_b32"]
        and t["speedup_b1"] == metrics["student"]["speedup_b1"]
    )
    assert recipe_report.target_line(t) in page
    # Its data and teacher steps are the bert recipe's (one shared output folder), its distill its own.
    bert, _ = load(pages, "bert")
    assert [s["key"] for s in r["steps"][:2]] == [s["key"] for s in bert["steps"][:2]]
    assert (
        not (pages["root"] / "pages" / "lstm" / "pareto.png").exists()
        and "No bench step, so no plot." in page
    )


def test_unfinished_recipe_is_a_one_line_error_naming_the_step(pages, capsys):
    path = pages["recipes"]["bert"]
    more = path.with_name("more.yaml")
    more.write_text(path.read_text() + "  - {name: export, kind: export, inputs: {model: distill}}\n")
    assert recipe_report.main([str(more), "--out", str(pages["root"] / "pages" / "more")]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"error: {re.escape(str(more))}: step 'export' has not finished \({re.escape(str(pages['root'] / 'out'))}/export-[0-9a-f]{{12}} "
        rf"has no done\.json: not run yet\); run `distill pipeline {re.escape(str(more))}` first\n",
        err,
    )
    assert not (pages["root"] / "pages" / "more").exists()


def variant(name: str, pct: float, speed: float, role: str = "student", device: str = "cpu") -> dict:
    return {
        "name": name,
        "role": role,
        "kind": "k",
        "device": device,
        "accuracy": pct / 100,
        "pct_of_teacher": pct,
        "speedup_vs_teacher": {"1": speed / 2, "32": speed},
    }


@pytest.mark.parametrize(
    ("family", "variants", "judged", "passed"),
    [
        # the fastest of those keeping >= 97%, not the fastest overall nor the most accurate
        (
            "tinybert",
            [
                variant("a", 98.0, 3.0),
                variant("b", 97.5, 6.0),
                variant("c", 90.0, 9.0),
                variant("d", 99.0, 2.0),
            ],
            "b",
            True,
        ),
        ("tinybert", [variant("a", 98.0, 3.0), variant("b", 97.0, 4.9)], "b", False),  # accurate, too slow
        (
            "tinybert",
            [variant("a", 96.9, 8.0), variant("b", 90.0, 9.0)],
            "a",
            False,
        ),  # none keeps 97%: the most accurate
        (
            "tinybert",
            [
                variant("t", 100.0, 99.0, role="teacher"),
                variant("g", 99.0, 9.0, device="cuda"),
                variant("a", 97.0, 5.0),
            ],
            "a",
            True,
        ),
        ("bilstm", [variant("s", 95.0, 10.0)], "s", True),
        ("bilstm", [variant("s", 96.0, 9.99)], "s", False),
    ],
)
def test_target_judges_the_right_variant(family, variants, judged, passed):
    t = target({"family": family, "measurement": {"batch_sizes": [1, 32]}, "variants": variants})
    assert (t["variant"], t["passed"], t["batch"]) == (judged, passed, 32)
    assert t["label"] == ("BiLSTM variant" if family == "bilstm" else "best transformer variant")


def test_readme_block_is_generated_from_the_pages(pages, tmp_path):
    reports = [pages["root"] / "pages" / n / "report.json" for n in ("lstm", "bert")]
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN}\nhand-typed 99%\n{END}\n\nrest\n")
    assert recipe_report.main(["--readme", str(readme), *map(str, reports)]) == 0
    text = readme.read_text()
    assert text == f"# x\n\n{readme_block(reports, readme)}\n\nrest\n" and "hand-typed" not in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| `")]
    assert [ln.split(" | ")[0] for ln in rows] == ["| `bert`", "| `lstm`"]  # sorted by path
    for ln, name in zip(rows, ("bert", "lstm"), strict=True):
        t = json.loads((pages["root"] / "pages" / name / "report.json").read_text())["target"]
        assert (
            f" | {100 * t['teacher_accuracy']:.2f} | `{t['variant']}` | {100 * t['accuracy']:.2f} | {t['pct_of_teacher']:.1f}% | "
            in ln
        )
        assert f" | {t['speedup']:.2f}x (b8) | {t['speedup_b1']:.2f}x | " in ln
        link = re.search(rf"\[{name}\]\(([^)]+)\) \|$", ln).group(1)  # relative to the README, opens the page
        assert (
            not Path(link).is_absolute()
            and (readme.parent / link).resolve() == (pages["root"] / "pages" / name / "report.md").resolve()
        )
        assert ("| met (" if t["passed"] else "| not met (") in ln
    readme.write_text("no markers\n")
    assert recipe_report.main(["--readme", str(readme)]) == 2


def test_readme_that_does_not_exist_is_one_line(tmp_path, capsys):
    """A mistyped README path was a FileNotFoundError traceback; now one line naming it, exit 2."""
    missing = tmp_path / "READNE.md"
    assert recipe_report.main(["--readme", str(missing), str(tmp_path / "none*.json")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {missing}: no such file (the README whose recipe-results block to rewrite)\n"
    )


def test_readme_block_matches_the_committed_pages():
    """A hand edit of the README's recipe table fails here; so does a page added without regenerating it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    block = BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END
    reports = sorted((ROOT / "experiments" / "reports" / "recipes").glob("*/report.json"))
    assert block == readme_block(reports, ROOT / "README.md")
    if not reports:
        assert "No recipe has been run yet" in block
    else:
        assert all(f"({p.parent.relative_to(ROOT).as_posix()}/report.md)" in block for p in reports)


def test_output_and_set_flags_are_part_of_the_commands(pages):
    path, out = pages["recipes"]["bert"], pages["root"] / "out"
    page = pages["root"] / "pages" / "flags"
    # The recipe's own value: every key stays the same, so the finished steps are found.
    args = [str(path), "--output", str(out), "--set", "bench.reps=3", "--out", str(page)]
    assert recipe_report.main(args) == 0
    r = json.loads((page / "report.json").read_text())
    flags = f"--output {out} --set bench.reps=3"
    assert r["commands"] == [
        f"distill pipeline {path} {flags}",
        f"python experiments/recipe_report.py {path} {flags} --out {page}",
    ]
    assert [s["key"] for s in r["steps"]] == [s["key"] for s in load(pages, "bert")[0]["steps"]]


def test_machine_short_names_the_best_int8_instructions():
    m = {"cpu": "AMD EPYC", "cores": 2, "cpu_flags": ["avx2", "avx512f", "avx512_vnni"]}
    assert recipe_report.machine_short(m) == "AMD EPYC, 2 cores (avx512_vnni)"
    assert (
        recipe_report.machine_short({**m, "cpu_flags": ["avx2"], "gpu": {"name": "H200"}})
        == "AMD EPYC, 2 cores (avx2), H200"
    )
    assert recipe_report.machine_short({"cpu": "arm", "cores": 4}) == "arm, 4 cores"

"""One results page per finished pipeline recipe, and the README's table of them.

    python experiments/recipe_report.py RECIPE.yaml [--output DIR] [--set STEP.KEY=VALUE ...] [--out PAGE_DIR]
    python experiments/recipe_report.py --readme README.md [experiments/reports/recipes/*/report.json ...]

The first form reads the recipe's finished step folders through its plan (the same ``--output`` and
``--set`` as the ``distill pipeline`` run; a step that has not finished is a one-line error naming
it) and writes ``PAGE_DIR`` (default ``experiments/reports/recipes/<name>/``): ``report.md`` (the
page), ``report.json`` (every fact the page shows) and ``pareto.png`` (the bench step's plot).
The second form rewrites the block between ``<!-- recipe-results:begin -->`` and
``<!-- recipe-results:end -->`` in the README from those report.json files (default: every
``experiments/reports/recipes/*/report.json``). Every number is read from files; none is typed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.core.atomic import atomic_dir, write_text  # noqa: E402
from distill.core.errors import DistillError  # noqa: E402
from experiments.recipe_targets import fmt as _f  # noqa: E402
from experiments.recipe_targets import speedup as _speed  # noqa: E402
from experiments.recipe_targets import target, target_line, targets_text  # noqa: E402,F401

BEGIN, END = "<!-- recipe-results:begin -->", "<!-- recipe-results:end -->"
PAGES = Path("experiments/reports/recipes")
README_COMMAND = (
    "python experiments/recipe_report.py --readme README.md experiments/reports/recipes/*/report.json"
)

# ---------------------------------------------------------------------------------------------
# The page


def _acc(x: float | None) -> str:
    return _f(None if x is None else 100 * x, ".2f")


def machine_line(m: dict[str, Any]) -> str:
    """The machine in one line, from a bench report's machine record or a metrics.json's."""
    gpu = m.get("gpu")
    if isinstance(gpu, dict):
        gpu = f"{gpu['name']} ({gpu['memory_gib']} GiB, driver {gpu['driver']}, CUDA {gpu['cuda']})"
    flags = f" (SIMD: {', '.join(m['cpu_flags']) or 'none'}" if "cpu_flags" in m else ""
    if flags:  # reports since issue 20 name the CPU class too
        flags += f"; matrix engines: {m['matrix_engines']})" if m.get("matrix_engines") else ")"
    threads = m.get("threads", m.get("torch_threads"))
    return f"{m['cpu']}, {m['cores']} cores{flags}, {threads} thread(s) for the measurements; GPU: {gpu or 'none'}"


def machine_short(m: dict[str, Any]) -> str:
    """CPU, cores, its best INT8 instructions (INT8 speed-ups differ between CPUs with and without VNNI), GPU."""
    gpu = m.get("gpu")
    from distill.core.cpu import int8_isa

    isa = int8_isa(m.get("cpu_flags", []))
    return (
        f"{m['cpu']}, {m['cores']} cores"
        + (f" ({isa})" if isa else "")
        + (f", {gpu['name'] if isinstance(gpu, dict) else gpu}" if gpu else "")
    )


def _facts(kind: str, f: dict[str, Any]) -> str:
    if kind == "data":
        return (
            " / ".join(f"{s} {n:,}" for s, n in f["rows"].items()) + " rows; labels " + ", ".join(f["labels"])
        )
    if kind == "teacher":
        return (
            f"`{f['base_model']}`: dev acc {_acc(f['dev_accuracy'])}%, test acc {_acc(f['test_accuracy'])}%"
        )
    if kind == "augment":
        return f"train rows {f['rows_in']:,} → {f['rows_out']:,} ({f['augment_seconds']:.1f} s)"
    if kind == "general":
        return f"{f['steps']} steps on {f['texts']:,} texts; probe loss {f['probe_loss_before']:.4f} → {f['probe_loss_after']:.4f}"
    if kind == "distill":
        return (
            f"{f['family']} student: dev acc {_acc(f['dev_accuracy'])}%, test acc {_acc(f['test_accuracy'])}% "
            f"(teacher dev {_acc(f['teacher_dev_accuracy'])}%); {f['params'] / 1e6:.2f}M params"
        )
    if kind == "compress":
        return f"params {f['params_before'] / 1e6:.2f}M → {f['params_after'] / 1e6:.2f}M"
    if kind == "export":
        deltas = f.get("accuracy_delta", {})
        agree = ", ".join(
            f"{g} {_acc(a)}%" + (f" (Δacc {100 * deltas[g]:+.2f} pt)" if deltas.get(g) is not None else "")
            for g, a in f["agreement"].items()
        )
        return (
            f"INT8 {f['int8'] or 'none'}; agreement with the torch model on the verification texts: {agree}"
        )
    rec = "".join(
        f"; recommended for {r['source']} on {r['device']}: {r['kind']}" for r in f.get("recommended", [])
    )
    return "sources: " + ", ".join(f["sources"]) + rec


def variant_columns(batches: list[int]) -> list[str]:
    head = [
        "variant",
        "device",
        "acc %",
        "F1 %",
        "% of teacher acc",
        "Δacc vs FP32 student (points)",
        "params (M)",
        "size (MB)",
        "b1 p50 ms",
        "b1 p90 ms",
    ]
    head += [f"b{b} seq/s" for b in batches]
    return head + ["speed-up b1 (latency)"] + [f"speed-up b{b} (throughput)" for b in batches if b > 1]


def variant_cells(v: dict[str, Any], batches: list[int]) -> list[str]:
    lat = v["latency_b1_ms"] or {}
    name = f"`{v['name']}`" + (" (teacher)" if v["role"] == "teacher" else "")
    row = [
        name,
        v["device"],
        _acc(v["accuracy"]),
        _acc(v["f1"]),
        _f(v["pct_of_teacher"], ".1f"),
        _f(v["delta_vs_fp32_student"], "+.2f"),
        _f(v["params"] / 1e6, ".2f"),
        _f(v["size_mb"], ".1f"),
        _f(lat.get("p50"), ".2f"),
        _f(lat.get("p90"), ".2f"),
    ]
    row += [_f(v["throughput"].get(str(b)), ".1f") for b in batches]
    return row + [_f(_speed(v, b), ".2f", "x") for b in [1, *(b for b in batches if b > 1)]]


def render_page(r: dict[str, Any]) -> str:
    meas, m = r["measurement"], r["machine"]
    batches = meas["batch_sizes"]
    lines = [
        f"# Recipe `{r['recipe']}`: teacher vs student variants",
        "",
        f"Generated by `experiments/recipe_report.py` from the finished steps in `{r['output']}`; every number "
        "below is read from the files those steps wrote (report.json holds them all).",
        "",
        "Reproduce:",
        "",
        "```bash",
        *r["commands"],
        "```",
        "",
        "## Machine",
        "",
        f"- {machine_line(m)}",
        f"- torch {m['torch']}, transformers {m['transformers']}"
        + (f", onnxruntime {m['onnxruntime']}" if "onnxruntime" in m else "")
        + f", python {m['python']}",
    ]
    if r["loadavg"]:
        lines.append(
            f"- Load average (1/5/15 min) at the start of the benchmark {r['loadavg']['start']}, at its end "
            f"{r['loadavg']['end']} (a shared machine: timings are noisy)"
        )
    else:
        lines.append("- Load average: not recorded by `distill run`")
    lines += ["", "## Steps", "", "| step | kind | key | seconds | facts |", "|---|---|---|---:|---|"]
    lines += [
        f"| {s['step']} | {s['kind']} | `{s['key']}` | {s['seconds']:.1f} | {_facts(s['kind'], s['facts'])} |"
        for s in r["steps"]
    ]
    if meas["source"] == "bench":
        where = (
            f"the bench step's report (`{r['variants_from']}`): {meas['eval_examples']:,} test examples, "
            f"sequence length {meas['seq_len']}, {meas['threads']} thread(s), every model measured one after the other"
        )
        if meas["other_seq_lens"]:
            where += f" (the report also has sequence lengths {meas['other_seq_lens']})"
    else:
        where = (
            f"the distill step's `{r['variants_from']}` (no bench step: the student cannot be exported): "
            f"{meas['eval_examples']:,} test examples, CPU speed measured by `distill run` on real dev examples "
            f"with {meas['threads']} thread(s)"
        )
    head = variant_columns(batches)
    lines += [
        "",
        "## Teacher vs student variants",
        "",
        f"From {where}. Speed-ups are against the teacher's torch FP32 on "
        "the same device: latency ratio at batch 1, throughput ratio at larger batches.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * 2 + "---:|" * (len(head) - 2),
    ]
    lines += ["| " + " | ".join(variant_cells(v, batches)) + " |" for v in r["variants"]]
    if r.get("skipped"):  # pages written before skipped kinds were recorded have no such key
        lines += ["", "Not measured (the kind does not apply to that model):", ""]
        lines += [f"- `{x['variant']}`: {x['reason']}" for x in r["skipped"]]
    t = r["target"]
    lines += ["", "## Targets", "", target_line(t), "", targets_text(), "", "## Pareto plot", ""]
    lines.append("![accuracy vs throughput](pareto.png)" if r["pareto"] else "No bench step, so no plot.")
    return "\n".join(lines) + "\n"


def build_page(recipe_path: str, output: str | None, sets: list[str], out: Path | None) -> Path:
    from distill.pipeline import load_recipe
    from distill.pipeline.results import recipe_results

    recipe = load_recipe(recipe_path, sets)
    if output:
        recipe.output = Path(output)
    flags = ([f"--output {shlex.quote(output)}"] if output else []) + [
        f"--set {shlex.quote(s)}" for s in sets
    ]
    pipeline = " ".join(["distill pipeline", shlex.quote(recipe_path), *flags])
    out = out or PAGES / recipe.name
    page = " ".join(
        ["python experiments/recipe_report.py", shlex.quote(recipe_path), *flags]
        + ([] if out == PAGES / recipe.name else [f"--out {shlex.quote(str(out))}"])
    )
    r = recipe_results(recipe, pipeline)
    r["commands"] = [pipeline, page]
    r["target"] = target(r)
    r["pareto"] = "pareto.png" if r["pareto_source"] else None
    with atomic_dir(out) as tmp:
        if r["pareto_source"]:
            shutil.copyfile(r["pareto_source"], tmp / "pareto.png")
        (tmp / "report.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(render_page(r), encoding="utf-8")
    return out


# ---------------------------------------------------------------------------------------------
# The README block


def readme_block(reports: list[Path], readme: Path) -> str:
    """The lines between the markers (markers included), from the pages' report.json files."""
    lines = [
        BEGIN,
        f"<!-- generated by `{README_COMMAND}`; do not edit (tests/test_recipe_report.py checks it) -->",
        "",
    ]
    if not reports:
        lines += [
            "No recipe has been run yet: no `experiments/reports/recipes/*/report.json`. Run a recipe "
            "(`distill pipeline experiments/recipes/<name>.yaml`), then "
            "`python experiments/recipe_report.py experiments/recipes/<name>.yaml` and the command above.",
            "",
            targets_text(),
        ]
        return "\n".join([*lines, END])
    lines += [
        "| recipe | student | machine | teacher acc % | variant judged | its acc % | % of teacher | throughput "
        "vs teacher | b1 latency vs teacher | target | page |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for path in sorted(reports):
        r = json.loads(path.read_text(encoding="utf-8"))
        t = r["target"]
        link = Path(os.path.relpath(path.parent / "report.md", readme.resolve().parent)).as_posix()
        verdict = {True: "met", False: "not met", None: "not measured"}[t["passed"]]
        lines.append(
            " | ".join(
                [
                    f"| `{r['recipe']}`",
                    r["family"],
                    machine_short(r["machine"]),
                    _acc(t["teacher_accuracy"]),
                    f"`{t['variant']}`" if t["variant"] else "",
                    _acc(t.get("accuracy")),
                    _f(t.get("pct_of_teacher"), ".1f", "%"),
                    _f(t.get("speedup"), ".2f", f"x (b{t['batch']})"),
                    _f(t.get("speedup_b1"), ".2f", "x"),
                    f"{verdict} (>= {t['min_pct']:g}%, >= {t['min_speedup']:g}x)",
                    f"[{path.parent.name}]({link}) |",
                ]
            )
        )
    lines += [
        "",
        "Every number is copied by that command from the pages' report.json files. " + targets_text(),
    ]
    return "\n".join([*lines, END])


def update_readme(readme: Path, reports: list[Path]) -> None:
    if not readme.is_file():
        raise DistillError(f"{readme}: no such file (the README whose recipe-results block to rewrite)")
    text = readme.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise DistillError(f"{readme}: expected one {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    write_text(readme, head + readme_block(reports, readme) + rest.split(END, 1)[1])


def report_files(paths: list[str]) -> list[Path]:
    """The given report.json files; a pattern the shell left unexpanded (no page yet) is globbed here."""
    out = []
    for p in paths:
        if glob.has_magic(p):
            out += [Path(x) for x in glob.glob(p)]
        elif Path(p).is_file():
            out.append(Path(p))
        else:
            raise DistillError(f"{p}: no such report.json")
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="*", help="RECIPE.yaml; with --readme: the pages' report.json files")
    p.add_argument(
        "--output", default=None, help="the recipe's output folder, as given to `distill pipeline --output`"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="STEP.KEY=VALUE", help="as given to `distill pipeline`"
    )
    p.add_argument("--out", type=Path, default=None, help=f"page folder (default {PAGES}/<recipe name>/)")
    p.add_argument(
        "--readme", type=Path, default=None, help="rewrite this README's recipe-results block instead"
    )
    args = p.parse_args(argv)
    try:
        if args.readme:
            reports = report_files(args.paths or [str(PAGES / "*" / "report.json")])
            update_readme(args.readme, reports)
            print(f"{args.readme}: recipe results from {len(reports)} page(s)")
            return 0
        if len(args.paths) != 1:
            p.error("give one RECIPE.yaml (or --readme README.md REPORT.json ...)")
        print(f"wrote {build_page(args.paths[0], args.output, args.set, args.out)}/report.md")
    except DistillError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

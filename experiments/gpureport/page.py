"""report.md, report.json and the plots of experiments/gpu_report.py, from its result dict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from distill.compress.flops import bert_flops, gpu_model
from distill.core.atomic import atomic_dir, write_text
from gpureport.plots import plot_shares, plot_throughput
from gpureport.recipe import TARGET

FILES = (
    "report.md",
    "report.json",
    "peak-share.png",
    "throughput.png",
)  # and student-pareto.png after phase 5


def _f(x, spec: str, suffix: str = "") -> str:
    return "" if x is None else format(x, spec) + suffix


def _pct(x) -> str:
    return _f(None if x is None else 100 * x, ".1f")


def _cfg(dims: dict):
    from types import SimpleNamespace

    return SimpleNamespace(
        num_hidden_layers=dims["layers"], hidden_size=dims["hidden"], intermediate_size=dims["ffn"]
    )


def machine_lines(r: dict) -> list[str]:
    m, gpu = r["machine"], r["machine"]["gpu"]
    lines = []
    if gpu:
        lines.append(
            f"- GPU: {gpu['name']} ({gpu['memory_gib']} GiB, compute capability {gpu['capability']}, driver "
            f"{gpu['driver']}, CUDA {gpu['cuda']}); datasheet model: {gpu_model(gpu['name']) or 'unknown (no peak)'}"
        )
    else:
        lines.append("- GPU: none (CPU smoke run: no peak, so no share of peak)")
    lines += [
        f"- CPU: {m['cpu']}, {m['cores']} cores (flags: {', '.join(m['cpu_flags']) or 'none'}), torch threads {m['threads']}",
        f"- torch {m['torch']}, transformers {m['transformers']}, onnxruntime {m['onnxruntime']} "
        f"(providers: {', '.join(m['ort_providers'])}), python {m['python']}",
        f"- TF32 matmuls: {'on' if r['tf32_matmul'] else 'off'} (FP32 rows are {'TF32' if r['tf32_matmul'] else 'plain FP32'}, "
        "judged against the FP32 peak)",
    ]
    return lines


def phase_lines(r: dict) -> list[str]:
    lines = [
        "| phase | limit s | took s | ran | failed | skipped | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for p in r["phases"]:
        count = {s: sum(i["status"] == s for i in p["items"]) for s in ("ran", "failed", "skipped")}
        lines.append(
            f"| {p['number']}. {p['title']} | {p['limit_s']:g} | {p['seconds']:.1f} | {count['ran']} | "
            f"{count['failed']} | {count['skipped']} | {p['reason'] or ''} |"
        )
        notes += [f"- phase {p['number']}, {i['label']}: {i['reason']}" for i in p["items"] if i["reason"]]
    if notes:
        lines += ["", "Items that did not run or failed:", "", *notes]
    return lines


def _row(rows: list[dict], shape: str, variant: str, batch: int) -> dict | None:
    return next(
        (x for x in rows if x["shape"] == shape and x["variant"] == variant and x["batch"] == batch), None
    )


def shape_lines(r: dict) -> list[str]:
    rows, batches = r["rows"], r["settings"]["batches"]
    top, big = max(batches), [b for b in batches if b > 1]
    lines = []
    for shape, dims in r["shapes"].items():
        mine = [x for x in rows if x["shape"] == shape]
        lines += [
            "",
            f"### {shape} ({dims['layers']} x {dims['hidden']}, {dims['heads']} heads, FFN {dims['ffn']})",
            "",
        ]
        if not mine:
            lines.append("Not measured (see the phases above).")
            continue
        head = [
            "variant",
            "b1 p50 ms",
            "b1 p90 ms",
            *(f"b{b} seq/s" for b in big),
            f"b{top} TFLOP/s",
            f"b{top} % of peak",
            "first call s",
        ]
        lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for variant in dict.fromkeys(x["variant"] for x in mine):
            b1, bt = _row(mine, shape, variant, 1), _row(mine, shape, variant, top)
            cells = [
                f"`{variant}`",
                _f(b1 and b1["latency_ms"]["p50"], ".2f"),
                _f(b1 and b1["latency_ms"]["p90"], ".2f"),
                *(_f((_row(mine, shape, variant, b) or {}).get("throughput_seq_s"), ".1f") for b in big),
                _f(bt and bt["tflops_achieved"], ".2f"),
                _pct(bt and bt["share_of_peak"]),
                _f(
                    max((x.get("first_call_s") or 0 for x in mine if x["variant"] == variant), default=None)
                    if "compile" in variant
                    else None,
                    ".1f",
                ),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def share_summary(r: dict) -> tuple[list[str], list[str]]:
    """(one line per shape: each variant's share of peak at the largest batch, the shapes without one)."""
    top = max(r["settings"]["batches"])
    lines, missing = [], []
    for shape in r["shapes"]:
        at_top = [
            x
            for x in r["rows"]
            if x["shape"] == shape and x["batch"] == top and x["share_of_peak"] is not None
        ]
        if not at_top:
            missing.append(shape)
            continue
        shares = ", ".join(
            f"`{x['variant']}` {100 * x['share_of_peak']:.1f}% ({x['tflops_achieved']:.1f} of {x['tflops_peak']:g})"
            for x in sorted(at_top, key=lambda x: -x["share_of_peak"])
        )
        lines.append(f"- {shape}: {shares}")
    return lines, missing


def anchor_lines(r: dict) -> list[str]:
    a = r["anchor"]
    lines = [
        f"Reference: {a['round']}, {a['system']}, {a['benchmark']}: **{a['samples_per_s']:,.0f} samples/s** "
        f"({a['source']}). It is a TensorRT engine that skips padding, below FP16 (the bert-99 target admits "
        "INT8; NVIDIA's configurations set FP16 only for bert-99.9): a ceiling to read the rows above against, "
        "not a like-for-like row.",
    ]
    if "bert-large" in r["shapes"]:
        large = [x for x in r["rows"] if x["shape"] == "bert-large"]
        if large:
            best = max(large, key=lambda x: x["throughput_seq_s"])
            cfg = _cfg(r["shapes"]["bert-large"])
            at_anchor = (
                best["throughput_seq_s"]
                * bert_flops(cfg, 1, best["seq_len"])
                / bert_flops(cfg, 1, a["seq_len"])
            )
            lines.append(
                f"Here BERT-large's best is {best['throughput_seq_s']:,.0f} seq/s (`{best['variant']}`, batch {best['batch']}, "
                f"{best['seq_len']} tokens): by FLOP count {at_anchor:,.0f} sequences of {a['seq_len']} tokens per second, "
                f"{100 * at_anchor / a['samples_per_s']:.0f}% of the anchor."
            )
    return lines


def _acc(x) -> str:
    return "" if x is None else f"{100 * x:.2f}%"


def step_facts(st: dict) -> str:
    """One step's done.json facts in a few words."""
    i = st["info"]
    if st["kind"] == "data":
        return " / ".join(f"{k} {n:,}" for k, n in i["rows"].items()) + " rows"
    if st["kind"] == "teacher":
        return f"dev acc {_acc(i['scores']['dev']['accuracy'])}, test acc {_acc(i['scores']['test']['accuracy'])}"
    if st["kind"] == "augment":
        return f"train rows {i['augmented']['rows_in']:,} -> {i['augmented']['rows_out']:,}"
    if st["kind"] == "distill":
        return (
            f"dev acc {_acc(i['dev_accuracy'])}, test acc {_acc(i['test_accuracy'])} (teacher dev "
            f"{_acc(i['teacher_dev_accuracy'])}), {i['params'] / 1e6:.2f}M params"
        )
    if st["kind"] == "export":
        agree = ", ".join(f"{g} {_acc(x['agreement'])}" for g, x in i.get("graphs", {}).items())
        return f"INT8 {i.get('int8') or 'none'}; agreement with torch: {agree}"
    return ", ".join(i.get("sources", []))


def student_lines(s: dict | None) -> list[str]:
    if s is None:
        return ["Not run (see phases 4 and 5 above)."]
    lines = [
        f"`{s['recipe']}` with `--set` {', '.join(f'`{x}`' for x in s['sets'])}.",
        "",
        "| step | kind | seconds | facts |",
        "|---|---|---:|---|",
    ]
    lines += [
        f"| {st['step']} | {st['kind']} | {st['seconds']:.1f} | {step_facts(st)} |" for st in s["steps"]
    ]
    if s.get("bench") is None:
        return [*lines, "", "The bench step did not finish (see phase 5 above)."]
    report = s["bench"]
    batches = report["settings"]["batch_sizes"]
    head = [
        "variant",
        "device",
        "acc %",
        "Δacc vs FP32 (points)",
        "agree w/ FP32 %",
        "b1 p50 ms",
        *(f"b{b} seq/s" for b in batches if b > 1),
        "speed-up vs FP32 (largest batch)",
        "% of peak (largest batch)",
    ]
    lines += ["", "| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for v in report["variants"]:
        t = {x["batch"]: x for x in v["timings"]}
        top = t.get(max(batches), {})
        speed = next((x["vs_student"] for x in v.get("speedup", []) if x["batch"] == max(batches)), None)
        share = top.get("tflops_achieved") / top["tflops_peak"] if top.get("tflops_peak") else None
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{v['name']}`",
                    v["device"],
                    _pct(v["accuracy"]),
                    _f(v.get("accuracy_delta_vs_student"), "+.2f"),
                    _pct(v["agreement_with_fp32"]),
                    _f(t.get(1, {}).get("latency_ms", {}).get("p50"), ".2f"),
                    *(_f(t.get(b, {}).get("throughput_seq_s"), ".1f") for b in batches if b > 1),
                    _f(speed, ".2f", "x"),
                    _pct(share),
                ]
            )
            + " |"
        )
    lines += [f"- `{x['name']}`: {x['skipped']}" for x in report.get("skipped", [])]
    if s.get("pareto"):
        lines += ["", "![student variants: accuracy vs throughput](student-pareto.png)"]
    return lines


def target_lines(r: dict, missing: list[str]) -> list[str]:
    t = (r["student"] or {}).get("target")
    if t is None:
        fp16 = f"- **not measured**: the student's bench did not run (target: {TARGET})"
    elif t["passed"] is None:
        fp16 = f"- **not measured**: {t['reason'] or 'no batch >= 32 in the bench'} (target: {t['rule']})"
    else:
        per = "; ".join(
            f"batch {b['batch']}: {b['speedup']:.2f}x, Δacc {_f(b['accuracy_delta'], '+.2f')} pt"
            for b in t["batches"]
        )
        fp16 = f"- **{'met' if t['passed'] else 'not met'}**: {t['rule']} ({per})"
    n = len(r["shapes"])
    peak = (
        f"- **met**: the share of peak is reported for all {n} shapes"
        if not missing
        else f"- **not met**: no share of peak for {', '.join(missing)} ({n - len(missing)} of {n} shapes have one)"
    )
    return [fp16, peak]


def render_markdown(r: dict) -> str:
    gpu = r["machine"]["gpu"]
    title = f"GPU report: {gpu['name']}" if gpu else "GPU report, CPU smoke run (--tiny)"
    s = r["settings"]
    shares, missing = share_summary(r)
    lines = [
        f"# {title}",
        "",
        f"Generated by `{r['command']}` in {r['seconds']:.0f} s (limit {r['total_limit_s']} s); every number "
        "below is in report.json.",
        "",
        "## Machine",
        "",
        *machine_lines(r),
        "",
        "## Phases",
        "",
        *phase_lines(r),
        "",
        f"## Paper shapes (random weights, speed only), sequence length {s['seq']}",
        "",
        f"Each figure: up to {s['warmup']} warm-up calls, then up to {s['reps']} timed calls or {s['max_seconds']} s "
        f"(at least {s['min_reps']}), inputs from the host and logits back (as `distill bench` times). TFLOP/s: "
        "the encoder's matmul FLOPs (distill/compress/flops.py) per second; % of peak: of the GPU's dense peak "
        "for that dtype by NVIDIA's datasheet.",
        *shape_lines(r),
        "",
        f"Share of the dense peak at batch {max(s['batches'])} (achieved of peak TFLOP/s), highest first:",
        "",
        *(shares or ["- none (no GPU peak known here)"]),
        "",
        "![share of peak](peak-share.png)",
        "",
        "![throughput by batch](throughput.png)",
        "",
        "## MLPerf anchor",
        "",
        *anchor_lines(r),
        "",
        "## The tinybert-mpnet student",
        "",
        *student_lines(r["student"]),
        "",
        "## Targets",
        "",
        *target_lines(r, missing),
    ]
    return "\n".join(lines) + "\n"


def save_json(r: dict, page: Path) -> None:
    """report.json alone, after each phase: a run stopped from outside (the device tool's time
    limit) leaves every finished phase's figures behind."""
    page.mkdir(parents=True, exist_ok=True)
    write_text(page / "report.json", json.dumps(r, indent=2) + "\n")


def write_report(r: dict, page: Path) -> Path:
    """Write :data:`FILES` (and the student's pareto plot) into ``page``, replacing it as a whole.
    The figures cost minutes of a GPU: should the page or a plot fail, report.json is still written
    and report.md says what failed."""
    import traceback

    with atomic_dir(page) as tmp:
        (tmp / "report.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
        for name, make in (
            ("report.md", lambda path: path.write_text(render_markdown(r), encoding="utf-8")),
            ("peak-share.png", lambda path: plot_shares(r, path)),
            ("throughput.png", lambda path: plot_throughput(r, path)),
        ):
            try:
                make(tmp / name)
            except Exception as e:  # noqa: BLE001 - the data is in report.json; say what failed
                traceback.print_exc()
                with open(tmp / "report.md", "a", encoding="utf-8") as f:
                    f.write(f"\n\n**{name} could not be written**: {type(e).__name__}: {e}\n")
        if r["student"] and r["student"].get("pareto"):
            shutil.copyfile(r["student"]["pareto"], tmp / "student-pareto.png")
    return page

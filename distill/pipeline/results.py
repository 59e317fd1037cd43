"""The results of a finished recipe, read from its step folders: the facts a results page shows.

Every number here is read from a file a step wrote (``done.json``, the distill step's
``metrics.json``, the bench step's ``report/report.json``) or is a ratio of two such numbers; none
is measured or typed here. The step folders are found through the plan (the same keys the run used),
so a recipe whose output folder is shared with other recipes finds exactly its own steps.

Variants come from the last bench step's report when the recipe has one (teacher and every student
variant measured one after the other, same threads, same eval split). A recipe without a bench step
falls back to its last distill step's metrics.json: teacher and student on the test split, CPU
speed measured by ``distill run``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distill.compress.scoring import score_of
from distill.core.errors import DataError
from distill.core.metrics import PRIMARY
from distill.core.schema import load_yaml
from distill.pipeline.context import DONE
from distill.pipeline.plan import Planned, make_plan
from distill.pipeline.recipe import Recipe


def finished(recipe: Recipe, command: str) -> list[tuple[Planned, dict[str, Any]]]:
    """Every step of the plan with its done.json; the first unfinished step is a one-line error."""
    out = []
    for p in make_plan(recipe):
        if p.action != "skip":
            raise DataError(
                f"{recipe.path}: step {p.step.name!r} has not finished ({p.dir} has no {DONE}: {p.reason}); "
                f"run `{command}` first"
            )
        out.append((p, json.loads((p.dir / DONE).read_text(encoding="utf-8"))))
    return out


def step_facts(kind: str, info: dict[str, Any]) -> dict[str, Any]:
    """The key facts of one step's done.json ``info``, by kind (numbers as recorded)."""
    if kind == "data":
        return {"rows": info["rows"], "labels": info["labels"]}
    if kind == "teacher":
        s = info["scores"]
        m = next(k for k in PRIMARY.values() if k in s["dev"])  # the task's: accuracy, pearson, micro_f1
        return {
            "base_model": info["base_model"],
            f"dev_{m}": s["dev"][m],
            f"test_{m}": s["test"][m],
            "finetune_seconds": info.get("finetune_seconds"),
        }
    if kind == "augment":
        a = info["augmented"]
        return {"rows_in": a["rows_in"], "rows_out": a["rows_out"], "augment_seconds": a["seconds"]}
    if kind == "general":
        return {k: info[k] for k in ("steps", "texts", "probe_loss_before", "probe_loss_after")}
    if kind == "distill":
        m = info.get("metric", "accuracy")
        return {k: info[k] for k in ("family", f"dev_{m}", f"test_{m}", f"teacher_dev_{m}", "params")}
    if kind == "compress":
        return {"params_before": info["params_before"], "params_after": info["params_after"]}
    if kind == "export":
        graphs = info["graphs"]
        return {
            "int8": info.get("int8"),
            "agreement": {g: r["agreement"] for g, r in graphs.items()},
            "accuracy_delta": {g: r.get("accuracy_delta") for g, r in graphs.items()},
            "score_delta": {g: r.get("score_delta", r.get("accuracy_delta")) for g, r in graphs.items()},
        }
    if kind == "deploy":
        return {k: info[k] for k in ("kind", "device", "file", "why")}
    # bench; ``recommended``: recommend.py's pick per device and source (done.json since issue 20)
    return {"sources": info.get("sources", []), "recommended": info.get("recommended", [])}


def _timing(v: dict, seq: int, batch: int) -> dict | None:
    return next((t for t in v["timings"] if t["seq_len"] == seq and t["batch"] == batch), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def bench_variants(report: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per variant of a bench report.json at its first sequence length, the teacher's first,
    with % of the teacher's score (accuracy, Pearson r, micro-F1; its torch-fp32 on the same device) and the report's speed-ups."""
    s = report["settings"]
    seq = s["seq_lens"][0]
    rows = []
    for v in sorted(report["variants"], key=lambda v: v["role"] != "teacher"):  # the teacher's rows first
        teacher = next(
            (
                t
                for t in report["variants"]
                if t["role"] == "teacher" and t["kind"] == "torch-fp32" and t["device"] == v["device"]
            ),
            None,
        )
        t1 = _timing(v, seq, 1)
        speedup = {x["batch"]: x["vs_teacher"] for x in v["speedup"] if x["seq_len"] == seq}
        rows.append(
            {
                "name": v["name"],
                "role": v["role"],
                "kind": v["kind"],
                "device": v["device"],
                "random_weights": v["random_weights"],
                "accuracy": v["accuracy"],
                "f1": v["f1"],
                "metric": v.get("metric", "accuracy"),  # what score is (a regression: Pearson r)
                "score": score_of(v),
                "params": v["params"],
                "size_mb": v["size_mb"],
                "latency_b1_ms": {q: t1["latency_ms"][q] for q in ("p50", "p90")} if t1 else None,
                "throughput": {
                    str(b): (_timing(v, seq, b) or {}).get("throughput_seq_s") for b in s["batch_sizes"]
                },
                "speedup_vs_teacher": {str(b): speedup.get(b) for b in s["batch_sizes"]},
                "pct_of_teacher": _pct(score_of(v), score_of(teacher) if teacher else None),
                "delta_vs_fp32_student": v.get("accuracy_delta_vs_student"),
            }
        )
    meta = {
        "source": "bench",
        "seq_len": seq,
        "batch_sizes": s["batch_sizes"],
        "threads": s["threads"],
        "eval_examples": report["eval"]["n"],
        "other_seq_lens": s["seq_lens"][1:],
    }
    return rows, meta


def _pct(acc: float | None, teacher: float | None) -> float | None:
    r = _ratio(acc, teacher)
    return None if r is None else 100 * r


def metrics_variants(metrics: dict[str, Any], batch: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Teacher and student of a distill step's metrics.json (test split; CPU speed of ``distill run``,
    throughput at ``batch``, the student config's ``speed.throughput_batch_size``)."""
    metric = PRIMARY[metrics.get("task", "classification")]
    t_score = metrics["teacher"]["test"][metric]
    rows = []
    for role in ("teacher", "student"):
        m = metrics[role]
        rows.append(
            {
                "name": f"{role}/torch-fp32",
                "role": role,
                "kind": "torch-fp32",
                "device": "cpu",
                "random_weights": False,
                "accuracy": m["test"].get("accuracy"),
                "f1": m["test"].get("f1"),
                "metric": metric,
                "score": m["test"][metric],
                "params": m["params"],
                "size_mb": m["weights_mb"],
                "latency_b1_ms": {q: m["latency_ms_b1"][q] for q in ("p50", "p90")},
                "throughput": {"1": None, str(batch): m["throughput_b32"]},
                "speedup_vs_teacher": {
                    "1": 1.0 if role == "teacher" else m["speedup_b1"],
                    str(batch): 1.0 if role == "teacher" else m["speedup_b32"],
                },
                "pct_of_teacher": _pct(m["test"][metric], t_score),
                "delta_vs_fp32_student": None,
            }
        )
    meta = {
        "source": "distill",
        "seq_len": None,
        "batch_sizes": [1, batch],
        "threads": metrics["machine"]["torch_threads"],
        "eval_examples": metrics["data"]["test"],
        "other_seq_lens": [],
    }
    return rows, meta


def _throughput_batch(student_yaml: Path) -> int:
    """The batch size ``distill run`` measured throughput at (its ``throughput_b32`` key keeps that
    name whatever the size)."""
    from distill.config import SpeedConfig

    return SpeedConfig(**(load_yaml(student_yaml).get("speed") or {})).throughput_batch_size


def _student_dir(steps: dict[str, tuple[Planned, dict]], name: str) -> Path:
    """The distill step behind a model input (through compress steps)."""
    p, _ = steps[name]
    while p.step.kind == "compress":
        p, _ = steps[p.step.inputs["model"]]
    return p.dir


def recipe_results(recipe: Recipe, command: str) -> dict[str, Any]:
    """What a results page shows, from the finished step folders (``command`` reproduces the run and
    is named in the error when a step is unfinished)."""
    done = finished(recipe, command)
    steps = {p.step.name: (p, d) for p, d in done}
    root = recipe.output
    bench = [p for p, _ in done if p.step.kind == "bench"]
    distill = [p for p, _ in done if p.step.kind == "distill"]
    if not bench and not distill:
        raise DataError(
            f"{recipe.path}: steps: no distill or bench step, so there is no student to report on"
        )
    if bench:
        b, d = steps[bench[-1].step.name]
        report_path = root / d["outputs"]["report_json"]
        report = json.loads(report_path.read_text(encoding="utf-8"))
        variants, meta = bench_variants(report)
        student_dir = _student_dir(steps, b.step.inputs["student"])
        machine = report["machine"]
        load = {"start": machine.get("loadavg_1_5_15"), "end": report.get("loadavg_after")}
        pareto = report_path.parent / "pareto.png"
        skipped = report.get("skipped", [])  # kinds that do not apply to a source's model type, with why
    else:
        student_dir = distill[-1].dir
    metrics_path = student_dir / "model" / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    if not bench:
        variants, meta = metrics_variants(metrics, _throughput_batch(student_dir / "student.yaml"))
        machine, load, pareto, report_path, skipped = metrics["machine"], None, None, metrics_path, []
    return {
        "recipe": recipe.name,
        "recipe_path": str(recipe.path),
        "output": str(root),
        "family": metrics["student_family"],
        "teacher_model": metrics["teacher_model"],
        "machine": machine,
        "loadavg": load,
        "variants_from": str(report_path),
        "measurement": meta,
        "steps": [
            {
                "step": p.step.name,
                "kind": p.step.kind,
                "key": p.key,
                "seconds": d["seconds"],
                "finished": d["finished"],
                "facts": step_facts(p.step.kind, d.get("info", {})),
            }
            for p, d in done
        ],
        "variants": variants,
        "skipped": [{"variant": x["name"], "reason": x["skipped"]} for x in skipped],
        "pareto_source": str(pareto) if pareto is not None and pareto.is_file() else None,
    }

"""The targets a recipe's results page judges: the issue's bound on the student's share of the
teacher's accuracy and on its throughput speed-up, per student family, and the variant judged by the
rule ``distill bench`` recommends by. Read by ``recipe_report.py`` for the page and the README block.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.compress.recommend import pick  # noqa: E402

# The targets on the embedded default (MiniLM teacher, CPU): % of the teacher's accuracy and
# throughput speed-up at the largest batch measured, for the student's family.
TARGETS = {"transformer": (97.0, 5.0), "bilstm": (95.0, 10.0)}


def speedup(v: dict, batch: int) -> float | None:
    return v["speedup_vs_teacher"].get(str(batch))


def target(results: dict[str, Any]) -> dict[str, Any]:
    """Pass/fail of the family's target on the CPU variants. The variant judged is the fastest at the
    largest batch among the student variants that keep the accuracy bound, else the most accurate."""
    bilstm = results["family"] == "bilstm"
    min_pct, min_speed = TARGETS["bilstm" if bilstm else "transformer"]
    batch = max(results["measurement"]["batch_sizes"])
    out = {
        "label": "BiLSTM variant" if bilstm else "best transformer variant",
        "min_pct": min_pct,
        "min_speedup": min_speed,
        "batch": batch,
        "variant": None,
        "passed": None,
    }
    teacher = next(
        (
            v
            for v in results["variants"]
            if v["role"] == "teacher" and v["kind"] == "torch-fp32" and v["device"] == "cpu"
        ),
        None,
    )
    out["teacher_accuracy"] = teacher["accuracy"] if teacher else None
    cands = [
        v
        for v in results["variants"]
        if v["role"] != "teacher"
        and v["device"] == "cpu"
        and v["pct_of_teacher"] is not None
        and speedup(v, batch) is not None
    ]
    if not cands:
        return out
    best, _ = pick(  # the rule `distill bench` recommends by (distill/compress/recommend.py)
        cands,
        speed=lambda v: speedup(v, batch),
        keeps=lambda v: v["pct_of_teacher"] >= min_pct,
        accuracy=lambda v: v["pct_of_teacher"],
    )
    out.update(
        variant=best["name"],
        accuracy=best["accuracy"],
        pct_of_teacher=best["pct_of_teacher"],
        speedup=speedup(best, batch),
        speedup_b1=speedup(best, 1),
        passed=bool(best["pct_of_teacher"] >= min_pct and speedup(best, batch) >= min_speed),
    )
    return out


def fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "" if x is None else format(x, spec) + suffix


def target_line(t: dict[str, Any]) -> str:
    if t["passed"] is None:
        return f"- **not measured**: no {t['label']} with an accuracy and a batch-{t['batch']} speed-up on the CPU"
    verdict = "met" if t["passed"] else "not met"
    return (
        f"- **{verdict}**: {t['label']} `{t['variant']}` keeps {t['pct_of_teacher']:.1f}% of the teacher's accuracy "
        f"(target >= {t['min_pct']:g}%) at {t['speedup']:.2f}x its batch-{t['batch']} throughput (target >= "
        f"{t['min_speedup']:g}x); batch-1 latency {fmt(t['speedup_b1'], '.2f', 'x') or 'not measured'} lower"
    )


def targets_text() -> str:
    tb, bl = TARGETS["transformer"], TARGETS["bilstm"]
    return (
        f"Targets of the embedded default (MiniLM teacher, CPU): a transformer student keeps >= {tb[0]:g}% of the "
        f"teacher's accuracy at >= {tb[1]:g}x its throughput, the BiLSTM >= {bl[0]:g}% at >= {bl[1]:g}x. The variant "
        "judged is the fastest at the largest batch among the CPU student variants that keep the accuracy bound "
        "(else the most accurate)."
    )

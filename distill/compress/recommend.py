"""The fastest kind for this machine: one rule, used by `distill bench`, the pipeline and the recipe pages.

The rule (the recipe pages' "variant judged"): among the candidate variants, the fastest at the
largest batch measured among those that keep the accuracy bound; if none keeps it, the most
accurate. Ties in speed go to the more accurate, then to the one measured first (torch-fp32 leads
every source). :func:`pick` is the rule on any candidates; :func:`recommend` applies it to one
source of a bench report.json on one device, the bound being the accuracy drop (points) against
that source's own torch-fp32 variant. Torch-free: report pages and the pipeline's results read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_MAX_DROP = 0.3  # accuracy points below the FP32 model a recommended kind may lose (issue 20)


def pick(
    candidates: Sequence[dict],
    speed: Callable[[dict], float],
    keeps: Callable[[dict], bool],
    accuracy: Callable[[dict], float],
) -> tuple[dict | None, bool]:
    """(the fastest of ``candidates`` that ``keeps``, True), else (the most ``accurate``, False);
    (None, False) without candidates."""
    if not candidates:
        return None, False
    keep = [v for v in candidates if keeps(v)]
    if keep:
        return max(keep, key=lambda v: (speed(v), accuracy(v))), True
    return max(candidates, key=accuracy), False


def _throughput(v: dict, batch: int) -> float | None:
    return next((t["throughput_seq_s"] for t in v["timings"] if t["batch"] == batch), None)


def _reference(variants: list[dict], source: str, device: str) -> dict | None:
    return next(
        (
            v
            for v in variants
            if v["source"] == source and v["device"] == device and v["kind"] == "torch-fp32"
        ),
        None,
    )


def _default_source(report: dict) -> str | None:
    """The student if the report has one, else the first source that is not the teacher."""
    vs = [v for v in report["variants"] if v["role"] != "teacher"]
    student = next((v["source"] for v in vs if v["role"] == "student"), None)
    return student or (vs[0]["source"] if vs else None)


def recommend(
    report: dict,
    max_drop: float = DEFAULT_MAX_DROP,
    device: str = "cpu",
    source: str | None = None,
) -> tuple[dict | None, str]:
    """(the variant of ``source`` (default: the student, else the first non-teacher source) on
    ``device`` to deploy, why in one line); (None, why not) when nothing was measured there.
    Speed: throughput at the largest batch of the report's settings. Bound: accuracy at most
    ``max_drop`` points below the source's torch-fp32 on ``device``; a source without accuracy
    (random weights, no eval set) is judged on speed alone, and the line says so."""
    source = source or _default_source(report)
    batch = max(report["settings"]["batch_sizes"])
    cands = [
        v
        for v in report["variants"]
        if v["source"] == source and v["device"] == device and _throughput(v, batch) is not None
    ]
    if not cands:
        return None, f"no variant of {source} was measured on {device} at batch {batch}"
    ref = _reference(report["variants"], source, device)
    ref_acc = None if ref is None else ref["accuracy"]

    def drop(v: dict) -> float | None:
        if v["accuracy"] is None or ref_acc is None:
            return None
        return round(100 * (ref_acc - v["accuracy"]), 2)

    measured = ref_acc is not None
    best, kept = pick(
        cands,
        speed=lambda v: _throughput(v, batch),
        keeps=lambda v: not measured or (drop(v) is not None and drop(v) <= max_drop),
        accuracy=lambda v: -1.0 if v["accuracy"] is None else v["accuracy"],
    )
    speed = f"{_throughput(best, batch):g} seq/s at batch {batch}"
    if not measured:
        return best, f"fastest of {len(cands)} {device} variants ({speed}); accuracy not measured, speed only"
    change = f"{-drop(best):+.2f} points vs torch-fp32"
    if kept:
        return best, (
            f"fastest of {len(cands)} {device} variants within {max_drop:g} points of torch-fp32's "
            f"accuracy ({speed}, {change})"
        )
    return (
        best,
        f"no {device} variant keeps accuracy within {max_drop:g} points of torch-fp32: the most accurate ({speed}, {change})",
    )


def recommendations(report: dict, max_drop: float = DEFAULT_MAX_DROP) -> list[dict[str, Any]]:
    """report.json's ``recommended``: per device measured and per non-teacher source, the variant
    :func:`recommend` picks and why."""
    sources = list(dict.fromkeys(v["source"] for v in report["variants"] if v["role"] != "teacher"))
    out = []
    for device in report["settings"]["devices"]:
        for source in sources:
            best, why = recommend(report, max_drop, device, source)
            if best is not None:
                out.append(
                    {
                        "source": source,
                        "device": device,
                        "variant": best["name"],
                        "kind": best["kind"],
                        "why": why,
                    }
                )
    return out


def summary_line(rec: dict) -> str:
    """The line `distill bench` prints and report.md shows for one recommendation."""
    return f"recommended on this machine for {rec['source']} ({rec['device']}): {rec['kind']} ({rec['why']})"

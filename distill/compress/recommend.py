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

from distill.compress.scoring import score_of

DEFAULT_MAX_DROP = 0.3  # accuracy points below the FP32 model a recommended kind may lose (issue 20)
# A regression's Pearson r is blind to a kind that shifts or scales every score (dynamic INT8 did,
# on a small model): its recommended kind must also agree with FP32 as `distill export` requires of
# an INT8 graph (scores within 0.1 std, distill/compress/scoring.py), so deploy can export it.
REGRESSION_MIN_AGREEMENT = 0.97


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
    ref_acc = None if ref is None else score_of(ref)

    def drop(v: dict) -> float | None:
        if score_of(v) is None or ref_acc is None:
            return None
        return round(100 * (ref_acc - score_of(v)), 2)

    measured = ref_acc is not None
    regression = report.get("metric") == "pearson"

    def agrees(v: dict) -> bool:
        return not regression or (v.get("agreement_with_fp32") or 0.0) >= REGRESSION_MIN_AGREEMENT

    best, kept = pick(
        cands,
        speed=lambda v: _throughput(v, batch),
        keeps=lambda v: not measured or (drop(v) is not None and drop(v) <= max_drop and agrees(v)),
        accuracy=lambda v: -1.0 if score_of(v) is None else score_of(v),
    )
    speed = f"{_throughput(best, batch):g} seq/s at batch {batch}"
    if not measured:
        return best, f"fastest of {len(cands)} {device} variants ({speed}); accuracy not measured, speed only"
    change = f"{-drop(best):+.2f} points vs torch-fp32"
    if kept:
        also = f", its scores agreeing on >= {REGRESSION_MIN_AGREEMENT:.0%} of inputs" if regression else ""
        return best, (
            f"fastest of {len(cands)} {device} variants within {max_drop:g} points of torch-fp32's "
            f"{'Pearson r' if regression else 'accuracy'}{also} ({speed}, {change})"
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


def cxx_compiler() -> str | None:
    """The C++ compiler torch.compile's inductor would use ($CXX, else g++/clang++/c++ on PATH)."""
    import os
    import shutil

    return next(
        (p for c in (os.environ.get("CXX"), "g++", "clang++", "c++") if c and (p := shutil.which(c))), None
    )


def kinds_here(model_type: str, devices: Sequence[str], compiler: bool) -> list[str]:
    """The kinds that apply to ``model_type`` and can run on one of ``devices`` (this machine's); the
    torch.compile kinds only with a C++ compiler (inductor compiles C++ at run time)."""
    from distill.compress import kinds

    return [
        k
        for k in kinds.kinds_for(model_type)
        if any(d in kinds.get(k).devices for d in devices) and (compiler or not kinds.get(k).compiled)
    ]


def export_hint(model_dir: str, model_type: str, devices: Sequence[str], compiler: bool) -> list[str]:
    """What `distill export` prints after its graphs: which kinds this machine can run, and the
    `distill bench` command that measures them and names the fastest that keeps the accuracy bound
    (export does not time anything, so it cannot know which is fastest)."""
    here = kinds_here(model_type, devices, compiler)
    lines = [f"kinds for this {model_type} model on this machine ({', '.join(devices)}): {', '.join(here)}"]
    if not compiler:
        lines.append("(torch.compile kinds left out: no C++ compiler found for inductor)")
    lines.append(
        f"the fastest of them that keeps accuracy: distill bench --model {model_dir} --eval-data EVAL.csv "
        f"--devices {' '.join(devices)} --kinds {' '.join(here)}"
    )
    return lines

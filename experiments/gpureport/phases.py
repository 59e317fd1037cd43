"""Phases under a time limit: one progress line per item, a row per measurement, and a reason for
everything that did not run.

A phase gets ``limit`` seconds. Each item runs under a SIGALRM set to what is left; when it fires,
the item is stopped where it is (:class:`PhaseTimeout`) and the phase's remaining items are skipped
with that reason. An item that raises anything else is recorded as failed and the next one runs, so
one broken engine does not cost the others' measurements.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator

PHASES = {
    "torch": "torch eager",
    "compile": "torch.compile",
    "ort": "ONNX Runtime",
    "recipe": "tinybert-mpnet recipe",
    "bench": "the recipe's student benchmarked",
}
# (progress label, the work: returns a measurement row, or None)
Item = tuple[str, Callable[[], dict | None]]


class Budget:
    """The phases' seconds. Each phase may use its own share (``shares``) plus every second that
    earlier phases left unused and that the phases which cannot run here (``blocked``) would have
    had, less the shares of the later phases that can: on a GPU without ORT's CUDA provider or the
    recipe's data, torch.compile gets their time. The phases together never pass ``total``."""

    def __init__(self, total: float, shares: dict[str, float], blocked: set[str]) -> None:
        self.total, self.shares, self.blocked = total, shares, blocked
        self.start = time.perf_counter()

    def limit(self, key: str) -> float:
        keys = list(self.shares)
        later = sum(self.shares[k] for k in keys[keys.index(key) + 1 :] if k not in self.blocked)
        return round(max(self.total - (time.perf_counter() - self.start) - later, 0.0), 1)


class PhaseTimeout(BaseException):
    """A phase's time is up. A BaseException, so the library's ``except Exception`` lets it by."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`PhaseTimeout` in the main thread after ``seconds``."""

    def fire(signum, frame):
        raise PhaseTimeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:300]


def summary(row: dict) -> str:
    share = f", {100 * row['share_of_peak']:.1f}% of peak" if row.get("share_of_peak") is not None else ""
    return f"{row['throughput_seq_s']:.1f} seq/s, p50 {row['latency_ms']['p50']:.2f} ms{share}"


def run_phase(number: int, key: str, limit: float, items: list[Item], rows: list[dict]) -> dict:
    """Run ``items`` in order within ``limit`` seconds; each row an item returns is appended to ``rows``."""
    phase = {
        "number": number,
        "key": key,
        "title": PHASES[key],
        "limit_s": limit,
        "reason": None,
        "items": [],
    }
    t0 = time.perf_counter()
    stop = None
    for label, fn in items:
        print(f"[phase {number}/{len(PHASES)}] {label} ...", flush=True)
        item = {"label": label, "status": "skipped", "reason": stop, "seconds": 0.0}
        phase["items"].append(item)
        if stop:
            print(f"  {stop}", flush=True)
            continue
        start = time.perf_counter()
        try:
            with alarm(limit - (start - t0)):
                row = fn()
            item.update(status="ran", reason=None)
            if row is not None:
                rows.append(row)
                print(f"  {summary(row)}", flush=True)
        except PhaseTimeout:
            stop = f"skipped: the phase's time limit of {limit:g} s was reached"
            item["reason"] = stop
            print(f"  {stop}", flush=True)
        except Exception as e:  # noqa: BLE001 - recorded in the report, and the next item runs
            item.update(status="failed", reason=f"failed: {type(e).__name__}: {_first_line(e)}")
            print(f"  {item['reason']}", flush=True)
        item["seconds"] = round(time.perf_counter() - start, 2)
    phase["seconds"] = round(time.perf_counter() - t0, 2)
    return phase


def skipped_phase(number: int, key: str, limit: float, reason: str) -> dict:
    """A phase that cannot run here, with the reason (printed as its progress line)."""
    print(f"[phase {number}/{len(PHASES)}] {PHASES[key]}: {reason}", flush=True)
    return {
        "number": number,
        "key": key,
        "title": PHASES[key],
        "limit_s": limit,
        "reason": reason,
        "items": [],
        "seconds": 0.0,
    }


def ran(phase: dict) -> bool:
    """Whether every item of ``phase`` ran (and it had some)."""
    return bool(phase["items"]) and all(i["status"] == "ran" for i in phase["items"])

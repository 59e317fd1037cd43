"""Experiment tracking: what the loop did, step by step, in files other tools read.

``distill run`` writes ``metrics.jsonl`` beside run.log (``tracking.jsonl``, on by default) and, with
``tracking.tensorboard: true``, TensorBoard event files under ``<output>/tensorboard`` (read them with
``tensorboard --logdir <output>/tensorboard``). Each optimizer step (every ``tracking.every_steps``)
records the total loss, each objective's weighted term under its YAML name and the learning rate;
each dev evaluation its scores; the end of the run the summary figures. Steps are counted over the
whole run (``step``: all stages so far) and within the stage (``stage_step``).

One JSON object per line::

    {"event": "step", "stage": "prediction", "stage_step": 12, "step": 40, "loss": 0.71,
     "losses": {"pred": 0.52, "ce": 0.19}, "lr": 9.1e-05}
    {"event": "dev", "stage": "prediction", "stage_step": 26, "step": 54, "accuracy": 0.88, "f1": 0.86}
    {"event": "summary", "step": 54, "teacher_dev": {...}, "student_dev": {...}, ...}

A resumed run continues the same files: what the interrupted process recorded after its last
checkpoint is dropped first (those steps are trained again), so every step appears once. MLflow and
Weights & Biases read these files through their own packages (``mlflow.log_metric`` over the JSONL
lines; ``wandb.init(sync_tensorboard=True)`` over the event files); neither is a dependency.
"""

from __future__ import annotations

import json
from pathlib import Path

from distill.config import TrackingConfig
from distill.core.atomic import write_text
from distill.core.errors import ConfigError

JSONL = "metrics.jsonl"
TENSORBOARD = "tensorboard"


class Tracker:
    """The run's tracking sinks (rank 0 only; the other ranks get none)."""

    def __init__(self, out: Path, cfg: TrackingConfig, resumed_step: int = 0) -> None:
        self.cfg = cfg
        self.stage_name, self.offset = "", 0
        self.jsonl = out / JSONL if cfg.jsonl else None
        self.tb = None
        if self.jsonl is not None and self.jsonl.exists():  # a resumed run: keep what the checkpoint covers
            kept = [ln for ln in self.jsonl.read_text().splitlines() if _step(ln) <= resumed_step]
            write_text(self.jsonl, "".join(ln + "\n" for ln in kept))
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: events the interrupted process wrote after the checkpoint are discarded;
            # flushed every 10 s (and at close): a crash loses at most that much of the event file
            self.tb = SummaryWriter(
                str(out / TENSORBOARD), purge_step=resumed_step + 1 if resumed_step else None, flush_secs=10
            )

    @classmethod
    def off(cls) -> Tracker:
        """No sinks: the other ranks' (they still take part in summing each step's terms)."""
        return cls(Path(), TrackingConfig(jsonl=False, tensorboard=False))

    def begin_stage(self, name: str, steps_before: int) -> None:
        """The stage that trains next, and the optimizer steps of the run before it."""
        self.stage_name, self.offset = name, steps_before

    def step(self, stage_step: int, loss: float, losses: dict[str, float], lr: float) -> None:
        if stage_step % self.cfg.every_steps:
            return
        step = self.offset + stage_step
        self._write(
            {"event": "step", "stage": self.stage_name, "stage_step": stage_step, "step": step, "loss": loss}
            | {"losses": losses, "lr": lr}
        )
        if self.tb is not None:
            self.tb.add_scalar("loss/total", loss, step)
            for name, value in losses.items():
                self.tb.add_scalar(f"loss/{name}", value, step)
            self.tb.add_scalar("lr", lr, step)

    def dev(self, stage_step: int, scores: dict[str, float]) -> None:
        step = self.offset + stage_step
        self._write(
            {"event": "dev", "stage": self.stage_name, "stage_step": stage_step, "step": step} | scores
        )
        if self.tb is not None:
            for name, value in scores.items():
                self.tb.add_scalar(f"dev/{name}", value, step)

    def summary(self, figures: dict[str, float | dict], step: int) -> None:
        """The end of the run: ``figures`` (scores of both models, sizes, speed-ups) at the last step."""
        self._write({"event": "summary", "step": step} | figures)
        if self.tb is not None:
            for name, value in _flat(figures).items():
                self.tb.add_scalar(f"summary/{name}", value, step)

    def _write(self, record: dict) -> None:
        if self.jsonl is not None:  # opened per line: a crash loses no recorded step, holds no handle
            with open(self.jsonl, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 1 << 62  # a torn last line: dropped


def _flat(d: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}/")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def check_tracking(cfg: TrackingConfig, source: str) -> None:
    """``tracking.tensorboard`` needs the tensorboard package: refused before the run, not at its first step."""
    import importlib.util

    if cfg.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            f"{source}: tracking.tensorboard: needs the tensorboard package (pip install tensorboard), "
            "or tracking.tensorboard: false (metrics.jsonl is written either way)"
        )

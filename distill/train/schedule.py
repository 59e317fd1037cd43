"""How many optimizer steps a schedule makes, and the bound on it (:data:`MAX_STEPS`).

The training loop counts its steps with these functions, and the pre-flight
(:func:`distill.distillation.preflight.check_schedules`) estimates a run's schedule with the same
ones, so the estimate is what would run.
"""

from __future__ import annotations

import math

from distill.core.errors import ConfigError

MAX_STEPS = 10**8


def steps_per_epoch(rows: int, batch_size: int, grad_accum_steps: int = 1) -> int:
    """Optimizer steps in one pass over ``rows`` examples: batches, grouped by gradient accumulation."""
    return math.ceil(math.ceil(rows / batch_size) / grad_accum_steps)


def total_steps(epochs: float, per_epoch: int) -> int:
    """The stage's optimizer steps (at least one; a fractional epoch stops part-way)."""
    return max(1, math.ceil(epochs * per_epoch))


def _count(n: float) -> str:
    return f"{n:,.0f}" if n < 1e15 else f"{n:.3g}"


def check_steps(epochs: float, per_epoch: int, where: str, how: str) -> None:
    """Refuse ``epochs`` when ``epochs x per_epoch`` is above :data:`MAX_STEPS`.

    ``where``: the file and key (``student.yaml: stages.0.epochs``) or the flag; ``how``: how
    ``per_epoch`` came about (``ceil(64 train rows / batch_size 8) / train.grad_accum_steps 1``).
    """
    steps = epochs * per_epoch  # a float: 1e308 epochs x 8 is inf, not an OverflowError
    if steps > MAX_STEPS:
        shown = _count(steps) if math.isfinite(steps) else "more than 1e308"
        raise ConfigError(
            f"{where}: {epochs:.10g} epochs would make {shown} optimizer steps ({epochs:.10g} x {per_epoch:,} per epoch = {how}), "
            f"more than the bound of {MAX_STEPS:,}; lower the epochs"
        )

"""Data augmentation for distillation: ``augment run|text`` (augment/cli.py) and, from Python,
``augment.augment(texts | DataFrame, config)`` (augment/api.py, imported on first use)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "augment":
        from augment.api import augment

        return augment
    raise AttributeError(f"module 'augment' has no attribute {name!r}")

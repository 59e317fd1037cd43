"""The encoder families: one adapter per family, registered by ``config.model_type`` (see base.py).

A new family is one module here that registers its adapter, listed in :data:`FAMILIES`.
"""

from __future__ import annotations

import importlib

from distill.models.adapters.base import (
    ADAPTERS,
    Adapter,
    BertParts,
    Recording,
    Support,
    adapter_for,
    adapter_of,
    model_types,
)

FAMILIES = ("bert", "distilbert", "albert", "deberta_v2", "modernbert", "mpnet", "ernie")
for _module in FAMILIES:
    importlib.import_module(f"distill.models.adapters.{_module}")

__all__ = [
    "ADAPTERS",
    "Adapter",
    "BertParts",
    "Recording",
    "Support",
    "adapter_for",
    "adapter_of",
    "model_types",
]

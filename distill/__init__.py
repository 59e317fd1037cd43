"""distill: knowledge distillation and compression of transformer text classifiers.

``distill.run(teacher, student)`` and ``distill.validate(...)`` (:mod:`distill.api`) are imported on
first use, so ``import distill`` stays light (the CLI imports what each command needs).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["RunResult", "run", "validate"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from distill import api

        return getattr(api, name)
    raise AttributeError(f"module 'distill' has no attribute {name!r}")

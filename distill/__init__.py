"""distill: knowledge distillation and compression of transformer text classifiers.

``distill.run(teacher, student)``, ``distill.validate``, ``distill.run_pipeline`` and
``distill.general`` (:mod:`distill.api`) and ``distill.compress_model`` / ``export_model`` /
``benchmark`` (:mod:`distill.compress.api`; ``distill.compress`` is that subpackage) are imported on
first use, so ``import distill`` stays light (the CLI imports what each command needs).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "DistillationLoss",
    "DistillationTrainer",
    "RunResult",
    "benchmark",
    "compress_model",
    "export_model",
    "general",
    "run",
    "run_pipeline",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from distill import api

        return getattr(api, name)
    raise AttributeError(f"module 'distill' has no attribute {name!r}")

"""The sizes of a transformer that objectives and students are built for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelDims:
    """The sizes an objective needs to know to build its projections."""

    hidden_size: int
    num_heads: int
    num_layers: int

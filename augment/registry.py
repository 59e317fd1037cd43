"""The augmenters: each strategy module registers its ``augment.yaml`` model on :data:`AUGMENTERS`.

A strategy's model (a :class:`StrategyConfig`, ``extra="forbid"``) is registered under its YAML
``name``; it says whether the strategy is word-level or span-level (:mod:`augment.base`) and builds
the strategy (:meth:`StrategyConfig.build`, which loads what it needs: heavy packages are imported
there, so registering costs nothing). :mod:`augment.config` imports the strategy modules, which
fills the registry, and builds a pipeline by a loop over the entries of ``strategies``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from augment.base import Strategy
from distill.core.registry import Registry


class StrategyConfig(BaseModel):
    """One entry of ``strategies``; subclasses narrow ``name`` to their YAML name."""

    model_config = ConfigDict(extra="forbid")

    name: str
    word_level: ClassVar[bool] = True  # False: span-level, may change the length, runs after word-level steps

    def build(self, context: BuildContext) -> Strategy | None:
        """The strategy, or None when another step does its work (masking folded into pos)."""
        raise NotImplementedError


@dataclass(frozen=True)
class BuildContext:
    """What a builder may need besides its own config."""

    source: str  # the config file as the user named it, for messages
    index: int  # the entry's position in ``strategies``
    cache_dir: Path  # for tables computed once (GloVe neighbours)
    configs: Mapping[str, StrategyConfig]  # every entry of the pipeline by name

    def key(self, field: str) -> str:
        """The key ``field`` of this entry as an error names it: ``augment.yaml: strategies.1.p_pos``."""
        return f"{self.source}: strategies.{self.index}.{field}"


AUGMENTERS: Registry[type[StrategyConfig]] = Registry(
    "augmenter", listing="expected one of ", prefix_match=False
)

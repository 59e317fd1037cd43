"""The Strategy protocol, the seeded per-row RNG, tokenisation and the pipeline that chains strategies.

Strategies produce the ``n`` augmented copies of a whole batch of sentences at once: word-level
steps change one flat integer id array (:mod:`augment.copies`, ids of :mod:`augment.vocab`) with a
few numpy operations per batch, and the words are looked up once and joined once per copy. Strategies come in two kinds:

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
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from augment.copies import Copies
from augment.vocab import Vocab

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
    distributions, nearest-neighbour tables), as ids of the pipeline's :class:`Vocab`; ``prepare``
    sees a batch of sentences (as word lists) and returns the batch's state (batched work such as
    MLM forward passes belongs here): a word-level step, arrays over all words of the batch in
    order (tag numbers, candidate rows); a span-level step, one state per sentence.

    ``apply`` differs by kind. A word-level step gets the :class:`Copies` of a whole batch, the
    batch's state and the sentences' generators, and changes ``copies.ids`` in place. A
    span-level step gets the ``n`` copies of one sentence as word lists, its state and generator,
    and returns the new copies; one that only cuts copies may also offer ``apply_spans(copies,
    states, rngs)``, narrowing ``copies.lo``/``hi`` on the whole batch, which the pipeline uses
    when the step comes first among the span-level ones (same draws, same result).
    """

    name: str
    word_level: bool
    needs_corpus: bool

    def observe(self, sentences: list[list[str]]) -> None: ...

    def fit(self, vocab: Vocab) -> None: ...

    def prepare(self, sentences: list[list[str]], vocab: Vocab) -> Any: ...

    def apply(self, copies: Any, state: Any, rng: Any) -> Any: ...


class Stateless:
    """For strategies that need no corpus statistics: the three corpus hooks do nothing."""

    def observe(self, sentences: list[list[str]]) -> None:
        pass

    def fit(self, vocab: Vocab) -> None:
        pass

    def prepare(self, sentences: list[list[str]], vocab: Vocab) -> list[Any]:
        return [None] * len(sentences)


@dataclass
class Prepared:
    """A batch of sentences ready to augment: its words as ids, per strategy the batch's state."""

    ids: np.ndarray  # int64 (W,): all words of the batch, sentence after sentence
    lengths: np.ndarray  # int64 (B,): words per sentence
    states: list[Any]  # per strategy


class Pipeline:
    """Word-level strategies in order, then span-level ones; ``n_iter`` copies per sentence.

    Copies are deduplicated when ``dedup`` (first occurrence wins, so the order is deterministic);
    keeping the original row is the runner's business (:mod:`augment.runner`).
    """

    def __init__(self, strategies: Sequence[Strategy], n_iter: int, *, dedup: bool = True) -> None:
        self.strategies = list(strategies)
        levels = [s.word_level for s in self.strategies]
        if levels != sorted(levels, reverse=True):
            raise ValueError("word-level strategies must come before span-level ones")
        self.n_word_level = sum(levels)
        self.n_iter = n_iter
        self.dedup = dedup
        self.vocab = Vocab()

    @property
    def needs_corpus(self) -> bool:
        return any(s.needs_corpus for s in self.strategies)

    def observe(self, sentences: list[list[str]]) -> None:
        for s in self.strategies:
            s.observe(sentences)

    def fit(self) -> None:
        for s in self.strategies:
            s.fit(self.vocab)

    def prepare(self, sentences: list[list[str]]) -> Prepared:
        ids = self.vocab.ids([w for words in sentences for w in words])
        lengths = np.array([len(words) for words in sentences], dtype=np.int64)
        return Prepared(ids, lengths, [s.prepare(sentences, self.vocab) for s in self.strategies])

    def outputs(self, batch: Prepared, rngs: Sequence[np.random.Generator]) -> list[list[str]]:
        """Per sentence of ``batch``, its ``n_iter`` augmented sentences (not deduplicated);
        sentence ``r`` draws only from ``rngs[r]``."""
        n = self.n_iter
        copies = Copies.of(batch.ids, batch.lengths, n)
        steps = list(zip(self.strategies, batch.states, strict=True))
        on_copies = self.n_word_level
        for strategy, states in steps[:on_copies]:
            strategy.apply(copies, states, rngs)
        if on_copies < len(steps) and hasattr(steps[on_copies][0], "apply_spans"):
            steps[on_copies][0].apply_spans(copies, steps[on_copies][1], rngs)  # type: ignore[attr-defined]
            on_copies += 1
        words = self.vocab.strings(copies.ids)  # all words of all copies, looked up at once
        starts, stops = copies.spans()
        if on_copies == len(steps):
            joined = [" ".join(words[a:b]) for a, b in zip(starts, stops, strict=True)]
            return [joined[r * n : (r + 1) * n] for r in range(len(batch.lengths))]
        out = []
        for r in range(len(batch.lengths)):
            row = [words[a:b] for a, b in zip(starts[r * n : (r + 1) * n], stops[r * n : (r + 1) * n], strict=True)]
            for strategy, states in steps[on_copies:]:
                row = strategy.apply(row, states[r], rngs[r])
            out.append([" ".join(c) for c in row])
        return out

    def augment_batch(self, texts: list[str], rngs: Sequence[np.random.Generator]) -> list[list[str]]:
        """For each text, its augmented sentences (without the original), see :func:`finish`."""
        sentences = [tokenize(t) for t in texts]
        outputs = self.outputs(self.prepare(sentences), rngs)
        return [finish(detokenize(words), new, dedup=self.dedup) for words, new in zip(sentences, outputs, strict=True)]


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

"""The Strategy protocol, the seeded per-row RNG, tokenisation and the pipeline that chains strategies.

Strategies produce the ``n`` augmented copies of a whole batch of sentences at once: word-level
steps change one flat integer id array (:mod:`augment.copies`, ids of :mod:`augment.vocab`) with a
few numpy operations per batch, and the words are looked up once and joined once per copy. Strategies come in two kinds:

* word-level (``masking``, ``pos``, ``glove``, ``tinybert``): keep the number of words, so their
  per-sentence preparation (POS tags, candidate lists) stays aligned with every copy;
* span-level (``ngram``, ``nlpaug``): may change the length, so they run after all word-level ones.

Determinism: every input row draws from its own random streams derived from ``(seed, row index)``
(:func:`row_uniforms`, :func:`row_rng`), so the output of a row does not depend on the other rows of
its batch, on which worker process handles it, nor on how many there are.
"""

from __future__ import annotations

import hashlib
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


def row_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """A generator of input row ``index`` under ``seed``: independent of worker count and order.
    For span-level steps that need a generator object (nlpaug); see :func:`row_uniforms`."""
    return np.random.default_rng([seed, index, stream])


def _pcg64_state(seed: int, index: int, stream: int) -> dict:
    h = hashlib.blake2b(f"{seed}:{index}:{stream}".encode(), digest_size=32).digest()
    state = {"state": int.from_bytes(h[:16], "little"), "inc": int.from_bytes(h[16:], "little") | 1}
    return {"bit_generator": "PCG64", "state": state, "has_uint32": 0, "uinteger": 0}


def row_uniforms(seed: int, start: int, counts: Sequence[np.ndarray], stream: int = 0) -> list[np.ndarray]:
    """Uniform draws in [0, 1) for the rows ``start, start+1, ...`` of a batch: ``counts[s][r]``
    draws of row ``r`` for step ``s``; per step one flat float64 array, row after row.

    Row ``i`` draws from its own PCG64 stream, whose 128-bit state and increment are a hash of
    ``(seed, i, stream)``: its draws depend on nothing else (not on the batch, nor the worker).
    Setting the state of one generator costs about a tenth of creating one per row with
    ``default_rng``, which was the largest per-row cost."""
    bit_generator = np.random.PCG64(0)
    gen = np.random.Generator(bit_generator)
    per_row = [c.tolist() for c in counts]
    out = [np.empty(int(sum(c))) for c in per_row]
    offsets = [0] * len(counts)
    for r, sizes in enumerate(zip(*per_row, strict=True)):
        bit_generator.state = _pcg64_state(seed, start + r, stream)
        for s, size in enumerate(sizes):
            if size:
                gen.random(out=out[s][offsets[s] : offsets[s] + size])
                offsets[s] += size
    return out


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
    batch's state and one uniform draw per entry of ``copies.ids`` (from :func:`row_uniforms`), and
    changes ``copies.ids`` in place. A span-level step gets the ``n`` copies of one sentence as word
    lists, its state and a generator (:func:`row_rng`), and returns the new copies; one that only
    cuts copies may also offer ``apply_spans(copies, state, u)`` with three draws per copy,
    narrowing ``copies.lo``/``hi`` on the whole batch, which the pipeline uses when the step comes
    first among the span-level ones (same rule as its ``apply``).
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

    def outputs(self, batch: Prepared, seed: int, start: int, stream: int = 0) -> list[list[str]]:
        """Per sentence of ``batch``, its ``n_iter`` augmented sentences (not deduplicated);
        sentence ``r`` is input row ``start + r`` and draws only from that row's streams
        (``stream`` tells apart the two columns of a pair)."""
        n = self.n_iter
        copies = Copies.of(batch.ids, batch.lengths, n)
        steps = list(zip(self.strategies, batch.states, strict=True))
        on_copies = self.n_word_level
        spans = on_copies < len(steps) and hasattr(steps[on_copies][0], "apply_spans")
        counts = [n * batch.lengths] * on_copies + [np.full(len(batch.lengths), 3 * n)] * spans
        draws = row_uniforms(seed, start, counts, stream)
        for (strategy, state), u in zip(steps[:on_copies], draws, strict=False):
            strategy.apply(copies, state, u)
        if spans:
            steps[on_copies][0].apply_spans(copies, steps[on_copies][1], draws[-1])  # type: ignore[attr-defined]
            on_copies += 1
        words = self.vocab.strings(copies.ids)  # all words of all copies, looked up at once
        starts, stops = copies.spans()
        if on_copies == len(steps):
            joined = [" ".join(words[a:b]) for a, b in zip(starts, stops, strict=True)]
            return [joined[r * n : (r + 1) * n] for r in range(len(batch.lengths))]
        out = []
        for r in range(len(batch.lengths)):
            row = [
                words[a:b]
                for a, b in zip(starts[r * n : (r + 1) * n], stops[r * n : (r + 1) * n], strict=True)
            ]
            rng = row_rng(seed, start + r, stream)
            for strategy, states in steps[on_copies:]:
                row = strategy.apply(row, states[r], rng)
            out.append([" ".join(c) for c in row])
        return out

    def augment_batch(self, texts: list[str], seed: int, start: int = 0) -> list[list[str]]:
        """For each text (input rows ``start, start+1, ...``), its augmented sentences (without
        the original), see :func:`finish`."""
        sentences = [tokenize(t) for t in texts]
        outputs = self.outputs(self.prepare(sentences), seed, start)
        return [
            finish(detokenize(words), new, dedup=self.dedup)
            for words, new in zip(sentences, outputs, strict=True)
        ]


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

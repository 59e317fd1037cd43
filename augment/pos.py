"""POS-guided word replacement (Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into
Simple Neural Networks", section 3.3).

With probability ``p_pos`` (default 0.1) a word is replaced by another word of the same POS tag,
drawn from the corpus' own tag -> word distribution (``P(word | tag)`` counted over the input).
With masking in the same pipeline, one uniform draw ``u`` per word decides both, so they are
mutually exclusive as in the paper: ``u < p_mask`` masks, ``p_mask <= u < p_mask + p_pos``
replaces by POS, anything else keeps the word.

Taggers: textblob's pattern tagger (default, on our own tokens with ``tokenize=False``), or spaCy
when installed and chosen (imported lazily).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from augment.masking import MASK
from distill.errors import ConfigError

Tagger = Callable[[list[str]], list[str]]


def textblob_tagger() -> Tagger:
    """Penn Treebank tags from textblob's pattern tagger, one per given word."""
    from textblob.en import tag

    def run(words: list[str]) -> list[str]:
        if not words:
            return []
        tags = [t for _, t in tag(" ".join(words), tokenize=False)]
        if len(tags) != len(words):  # the tagger re-split a token; tag word by word instead
            tags = [tag(w, tokenize=False)[0][1] for w in words]
        return tags

    return run


def spacy_tagger(model: str = "en_core_web_sm") -> Tagger:
    """Fine-grained tags (``token.tag_``) from a spaCy pipeline on the given words."""
    try:
        import spacy
        from spacy.tokens import Doc
    except ImportError:
        raise ConfigError("tagger: spacy is not installed (pip install spacy en-core-web-sm)") from None
    try:
        nlp = spacy.load(model, disable=["parser", "ner", "lemmatizer"])
    except OSError:
        raise ConfigError(f"spacy_model: cannot load spaCy model {model!r}") from None

    def run(words: list[str]) -> list[str]:
        doc = nlp(Doc(nlp.vocab, words=words))
        return [t.tag_ for t in doc]

    return run


class PosTable:
    """``P(word | tag)`` as per-tag word arrays and cumulative probabilities, sampled by inversion."""

    def __init__(self, counts: Counter[tuple[str, str]]) -> None:
        by_tag: dict[str, list[tuple[str, int]]] = {}
        for (tag, word), c in sorted(counts.items()):
            by_tag.setdefault(tag, []).append((word, c))
        self.words: dict[str, list[str]] = {}
        self.cumulative: dict[str, list[float]] = {}
        for tag, items in by_tag.items():
            freq = np.array([c for _, c in items], dtype=np.float64)
            self.words[tag] = [w for w, _ in items]
            self.cumulative[tag] = (np.cumsum(freq) / freq.sum()).tolist()

    def sample(self, tag: str, v: float) -> str | None:
        """The word of ``tag`` at quantile ``v`` in [0, 1); None for a tag never seen."""
        cum = self.cumulative.get(tag)
        if cum is None:
            return None
        i = bisect.bisect_right(cum, v)
        return self.words[tag][min(i, len(cum) - 1)]


def mask_or_pos(
    copies: list[list[str]],
    tags: list[str],
    table: PosTable,
    p_mask: float,
    p_pos: float,
    rng: np.random.Generator,
    mask_token: str = MASK,
) -> list[list[str]]:
    """Tang's word-level rule on each copy: mask w.p. ``p_mask``, else POS-replace w.p. ``p_pos``."""
    if not copies or not copies[0]:
        return [list(c) for c in copies]
    u = rng.random((len(copies), len(copies[0])))
    out = [list(c) for c in copies]
    rows, cols = np.nonzero(u < p_mask + p_pos)  # only the changed words are visited in Python
    for r, i, x in zip(rows.tolist(), cols.tolist(), u[rows, cols].tolist(), strict=True):
        if x < p_mask:
            out[r][i] = mask_token
        else:
            word = table.sample(tags[i], (x - p_mask) / p_pos)
            if word is not None:
                out[r][i] = word
    return out


class PosReplace:
    """Strategy ``pos`` (parameter ``p_pos``); with ``p_mask > 0`` it is Tang's mask-or-POS step.

    ``observe`` counts ``(tag, word)`` over the corpus; ``fit`` turns the counts into a
    :class:`PosTable`; ``prepare`` tags each sentence.
    """

    name = "pos"
    word_level = True
    needs_corpus = True

    def __init__(
        self, p_pos: float = 0.1, p_mask: float = 0.0, tagger: Tagger | None = None, mask_token: str = MASK
    ) -> None:
        if p_mask + p_pos > 1.0 + 1e-9:
            raise ConfigError(f"p_mask + p_pos must be at most 1 (they are exclusive), got {p_mask + p_pos:g}")
        self.p_pos = p_pos
        self.p_mask = p_mask
        self.tagger = tagger or textblob_tagger()
        self.mask_token = mask_token
        self.counts: Counter[tuple[str, str]] = Counter()
        self.table = PosTable(Counter())

    def observe(self, sentences: list[list[str]]) -> None:
        for words in sentences:
            self.counts.update(zip(self.tagger(words), words, strict=True))

    def fit(self) -> None:
        self.table = PosTable(self.counts)

    def prepare(self, sentences: list[list[str]]) -> list[Any]:
        return [self.tagger(words) for words in sentences]

    def apply(self, copies: list[list[str]], state: Any, rng: np.random.Generator) -> list[list[str]]:
        return mask_or_pos(copies, state, self.table, self.p_mask, self.p_pos, rng, self.mask_token)

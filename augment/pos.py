"""POS-guided word replacement (Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into
Simple Neural Networks", section 3.3).

With probability ``p_pos`` (default 0.1) a word is replaced by another word of the same POS tag,
drawn from the corpus' own tag -> word distribution (``P(word | tag)`` counted over the input).
With masking in the same pipeline, one uniform draw ``u`` per word decides both, so they are
mutually exclusive as in the paper: ``u < p_mask`` masks, ``p_mask <= u < p_mask + p_pos``
replaces by POS, anything else keeps the word.

Taggers: textblob's pattern tagger (default, on our own tokens), or spaCy when installed and
chosen (imported lazily; spaCy is not a dependency of distill-kit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Literal

import numpy as np

from augment.copies import Copies
from augment.masking import MASK, MaskingConfig
from augment.registry import AUGMENTERS, BuildContext, StrategyConfig
from augment.vocab import Vocab
from distill.core.errors import ConfigError
from distill.core.schema import Probability

Tagger = Callable[[list[str]], list[str]]


class TextblobTagger:
    """Penn Treebank tags from textblob's pattern tagger, one per given word.

    textblob's English parser tags every token from its lexicon alone (its ``find_tags`` is given
    no context or morphology rules; unknown words get NNP/CD/suffix rules), except that the first
    token of a sentence is also looked up lower-cased. So a tag depends only on the word and on
    whether it comes first, and is memoised per word: tagging is a dict look-up per word, and the
    words not seen yet are tagged by one ``find_tags`` call per batch.
    ``tests/augment/test_taggers.py`` checks the result against ``textblob.en.tag``.
    """

    def __init__(self) -> None:
        from textblob.en import parser

        self._find_tags = parser.find_tags
        self.first: dict[str, str] = {}
        self.rest: dict[str, str] = {}

    def _learn(self, words: list[str]) -> None:
        new = list(dict.fromkeys(w for w in words if w not in self.rest))
        # Any token but the first is tagged alone, so all new words go in one call.
        self.rest.update(zip(new, (t for _, t in self._find_tags([".", *new])[1:]), strict=True))

    def tag_batch(self, sentences: list[list[str]]) -> list[list[str]]:
        """The tags of each sentence."""
        get, first = self.rest.get, self.first
        out = [list(map(get, words)) for words in sentences]
        unseen = [i for i, tags in enumerate(out) if None in tags]  # rare once the corpus was observed
        if unseen:
            self._learn([w for i in unseen for w in sentences[i]])
            for i in unseen:
                out[i] = list(map(get, sentences[i]))
        for words, tags in zip(sentences, out, strict=True):
            if tags:
                w = words[0]
                tags[0] = first[w] if w in first else first.setdefault(w, self._find_tags([w])[0][1])
        return out

    def __call__(self, words: list[str]) -> list[str]:
        return self.tag_batch([words])[0]


def textblob_tagger() -> Tagger:
    """A :class:`TextblobTagger`."""
    return TextblobTagger()


def tag_batch(tagger: Tagger, sentences: list[list[str]]) -> list[list[str]]:
    """``tagger`` on each sentence, through its ``tag_batch`` when it has one."""
    batch = getattr(tagger, "tag_batch", None)
    return batch(sentences) if batch is not None else [tagger(words) for words in sentences]


def spacy_tagger(model: str = "en_core_web_sm", prefix: str = "") -> Tagger:
    """Fine-grained tags (``token.tag_``) from the spaCy pipeline ``model`` (a package name or a
    folder) run on the given words (parser, NER and lemmatizer excluded). ``prefix`` starts the
    keys named in errors (``"augment.yaml: strategies.1."``)."""
    try:
        import spacy
        from spacy.tokens import Doc
    except ImportError:
        raise ConfigError(
            f"{prefix}tagger: 'spacy' needs spaCy, which is not installed "
            f"(pip install spacy, then install the model {model!r}); or use tagger: textblob"
        ) from None
    try:
        nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer", "senter"])
    except OSError:
        raise ConfigError(
            f"{prefix}spacy_model: cannot load spaCy model {model!r} (not an installed package nor a model folder; "
            f"models are not on PyPI: python -m spacy download {model})"
        ) from None
    if not nlp.pipe_names:
        raise ConfigError(
            f"{prefix}spacy_model: spaCy model {model!r} has no pipeline components, so no POS tags"
        )

    def run(words: list[str]) -> list[str]:
        if not words:
            return []
        doc = Doc(nlp.vocab, words=words)
        for _, component in nlp.pipeline:
            doc = component(doc)
        return [t.tag_ for t in doc]

    return run


class PosTable:
    """``P(word | tag)`` as one tag-major word list with cumulative keys, sampled by inversion.

    ``keys[j] = t + F_t(j)`` for word ``j`` of tag number ``t`` (``F_t`` its cumulative probability
    within the tag, in (0, 1]), so one ``searchsorted`` samples many words of different tags.
    """

    def __init__(self, counts: Counter[tuple[str, str]]) -> None:
        by_tag: dict[str, list[tuple[str, int]]] = {}
        for (tag, word), c in sorted(counts.items()):
            by_tag.setdefault(tag, []).append((word, c))
        self.tag_index = {tag: t for t, tag in enumerate(by_tag)}
        self.words: list[str] = []
        keys, last = [], []
        for t, items in enumerate(by_tag.values()):
            freq = np.array([c for _, c in items], dtype=np.float64)  # integers: the last cumsum is exact
            self.words.extend(w for w, _ in items)
            keys.append(t + np.cumsum(freq) / freq.sum())
            last.append(len(self.words) - 1)
        self.keys = np.concatenate(keys) if keys else np.zeros(0)
        self.last = np.array(last, dtype=np.int64)

    def positions(self, tags: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Indices into ``words`` of the words of tag numbers ``tags`` at quantiles ``v`` in [0, 1)."""
        return np.minimum(np.searchsorted(self.keys, tags + v, side="right"), self.last[tags])

    def sample(self, tag: str, v: float) -> str | None:
        """The word of ``tag`` at quantile ``v`` in [0, 1); None for a tag never seen."""
        t = self.tag_index.get(tag)
        if t is None:
            return None
        return self.words[int(self.positions(np.array([t]), np.array([v]))[0])]


def mask_or_pos_ids(
    ids: np.ndarray,
    tags: np.ndarray,
    u: np.ndarray,
    table: PosTable,
    word_ids: np.ndarray,
    p_mask: float,
    p_pos: float,
    mask_id: int,
) -> None:
    """Tang's word-level rule on the ids ``ids`` (in place), one uniform draw ``u`` per entry: mask
    w.p. ``p_mask``, else POS-replace w.p. ``p_pos``. ``tags``: per entry, its tag number in
    ``table`` (-1: a tag never seen, never replaced); ``word_ids``: the vocab id of each word of
    ``table``. All three arrays have the same shape."""
    if p_mask > 0:
        ids[u < p_mask] = mask_id
    if p_pos > 0:
        (at,) = np.nonzero((u >= p_mask) & (u < p_mask + p_pos) & (tags >= 0))
        ids[at] = word_ids[table.positions(tags[at], (u[at] - p_mask) / p_pos)]


def mask_or_pos(
    copies: list[list[str]],
    tags: list[str],
    table: PosTable,
    p_mask: float,
    p_pos: float,
    rng: np.random.Generator,
    mask_token: str = MASK,
) -> list[list[str]]:
    """:func:`mask_or_pos_ids` on word lists (all of the length of ``tags``)."""
    vocab = Vocab()
    ids = np.concatenate([vocab.ids(c) for c in copies]) if copies else np.zeros(0, np.int64)
    tag_numbers = np.tile(np.array([table.tag_index.get(t, -1) for t in tags], dtype=np.int64), len(copies))
    u = rng.random(len(ids))
    mask_or_pos_ids(ids, tag_numbers, u, table, vocab.ids(table.words), p_mask, p_pos, vocab.id(mask_token))
    return vocab.strings(ids.reshape(len(copies), len(tags)))


class PosReplace:
    """Strategy ``pos`` (parameter ``p_pos``); with ``p_mask > 0`` it is Tang's mask-or-POS step.

    ``observe`` counts ``(tag, word)`` over the corpus; ``fit`` turns the counts into a
    :class:`PosTable`; ``prepare`` tags each sentence (state: the tag number of every word).
    """

    name = "pos"
    word_level = True
    needs_corpus = True

    def __init__(
        self, p_pos: float = 0.1, p_mask: float = 0.0, tagger: Tagger | None = None, mask_token: str = MASK
    ) -> None:
        if p_mask + p_pos > 1.0 + 1e-9:
            raise ConfigError(
                f"p_mask + p_pos must be at most 1 (they are exclusive), got {p_mask + p_pos:g}"
            )
        self.p_pos = p_pos
        self.p_mask = p_mask
        self.tagger = tagger or textblob_tagger()
        self.mask_token = mask_token
        self.counts: Counter[tuple[str, str]] = Counter()
        self.table = PosTable(Counter())
        self.word_ids = np.zeros(0, dtype=np.int64)
        self.mask_id = -1

    def observe(self, sentences: list[list[str]]) -> None:
        tags = tag_batch(self.tagger, sentences)
        self.counts.update(
            zip([t for ts in tags for t in ts], [w for ws in sentences for w in ws], strict=True)
        )

    def fit(self, vocab: Vocab) -> None:
        self.table = PosTable(self.counts)
        self.word_ids = vocab.ids(self.table.words)
        self.mask_id = vocab.id(self.mask_token)

    def prepare(self, sentences: list[list[str]], vocab: Vocab) -> np.ndarray:
        get = self.table.tag_index.get
        return np.array(
            [get(t, -1) for tags in tag_batch(self.tagger, sentences) for t in tags], dtype=np.int64
        )

    def apply(self, copies: Copies, state: np.ndarray, u: np.ndarray) -> None:
        tags = state[copies.token]  # per entry, its word's tag number
        mask_or_pos_ids(copies.ids, tags, u, self.table, self.word_ids, self.p_mask, self.p_pos, self.mask_id)


@AUGMENTERS.register("pos")
class PosConfig(StrategyConfig):
    name: Literal["pos"]
    p_pos: Probability = 0.1
    tagger: Literal["textblob", "spacy"] = "textblob"
    spacy_model: str = "en_core_web_sm"

    def build(self, context: BuildContext) -> PosReplace:
        """The pos step, with the pipeline's masking folded in (one draw per word decides both)."""
        m = context.configs.get("masking")
        tagger = (
            spacy_tagger(self.spacy_model, context.key("")) if self.tagger == "spacy" else textblob_tagger()
        )
        p_mask = m.p_mask if isinstance(m, MaskingConfig) else 0.0
        if p_mask + self.p_pos > 1.0:
            raise ConfigError(
                f"{context.key('p_pos')}: p_mask + p_pos must be at most 1 "
                f"(they are exclusive per word), got {p_mask:g} + {self.p_pos:g}"
            )
        token = m.mask_token if isinstance(m, MaskingConfig) else MASK
        return PosReplace(self.p_pos, p_mask, tagger, token)

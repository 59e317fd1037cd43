"""Adapter for nlpaug word and character augmenters (Ma, 2019, https://github.com/makcedward/nlpaug)
as a span-level strategy ``nlpaug``: ``augmenter`` names a class of ``nlpaug.augmenter.word`` or
``nlpaug.augmenter.char`` (e.g. ``RandomWordAug``, ``SpellingAug``, ``KeyboardAug``), ``args`` are
its keyword arguments.

nlpaug draws from Python's and numpy's global generators; to stay reproducible per row, each copy
re-seeds both from the row's own generator right before the call (the one place in ``augment``
that touches global random state, because nlpaug offers no other way).

``ContextualWordEmbsAug`` is refused: with transformers 5 it calls tokenizer methods that no longer
exist (``_convert_id_to_token``); the ``tinybert`` strategy with ``mlm_model:`` is the batched
replacement. Augmenters needing downloads (WordNet, back-translation models) fail with a one-line error.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from augment.base import Stateless, detokenize, tokenize
from distill.errors import ConfigError

REFUSED = {
    "ContextualWordEmbsAug": "it is broken with transformers 5; use strategy `tinybert` with `mlm_model:`",
    "ContextualWordEmbsForSentenceAug": "it is broken with transformers 5",
    "BackTranslationAug": "it downloads translation models",
}


def make_augmenter(name: str, args: dict[str, Any], key: str = "augmenter") -> Any:
    """Instantiate ``nlpaug.augmenter.{word,char}.<name>(**args)``; a ConfigError if it cannot be."""
    import nlpaug.augmenter.char as nac
    import nlpaug.augmenter.word as naw

    if name in REFUSED:
        raise ConfigError(f"{key}: {name!r} is not supported: {REFUSED[name]}")
    cls = getattr(naw, name, None) or getattr(nac, name, None)
    if not isinstance(cls, type) or not name.endswith("Aug"):
        known = sorted(n for n in {*dir(naw), *dir(nac)} if n.endswith("Aug") and n not in REFUSED)
        raise ConfigError(f"{key}: unknown nlpaug augmenter {name!r}; expected one of {', '.join(known)}")
    try:
        return cls(**args)
    except (TypeError, ValueError, LookupError, OSError) as e:
        raise ConfigError(f"{key}: cannot create {name}({args}): {str(e).strip().splitlines()[0]}") from None


def nlpaug_copies(augmenter: Any, copies: list[list[str]], rng: np.random.Generator) -> list[list[str]]:
    """Run ``augmenter`` once on each copy, seeding nlpaug's global generators from ``rng``."""
    seeds = rng.integers(0, 2**32, size=len(copies)).tolist()
    out = []
    for words, seed in zip(copies, seeds, strict=True):
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (nlpaug reads the global numpy generator)
        result = augmenter.augment(detokenize(words)) if words else [""]
        text = result[0] if isinstance(result, list) else result
        out.append(tokenize(text))
    return out


class NlpaugStrategy(Stateless):
    """Strategy ``nlpaug``: one augmenter call per copy. Span-level: runs after word-level steps."""

    name = "nlpaug"
    word_level = False
    needs_corpus = False

    def __init__(self, augmenter: str, args: dict[str, Any] | None = None, key: str = "augmenter") -> None:
        self.augmenter = make_augmenter(augmenter, args or {}, key)

    def apply(self, copies: list[list[str]], state: Any, rng: np.random.Generator) -> list[list[str]]:
        return nlpaug_copies(self.augmenter, copies, rng)

"""Adapter for nlpaug word and character augmenters (Ma, 2019, https://github.com/makcedward/nlpaug)
as a span-level strategy ``nlpaug``: ``augmenter`` names a class of ``nlpaug.augmenter.word`` or
``nlpaug.augmenter.char`` (e.g. ``RandomWordAug``, ``SpellingAug``, ``KeyboardAug``), ``args`` are
its keyword arguments.

nlpaug draws from Python's, numpy's and torch's global generators; to stay reproducible per row,
each copy re-seeds them from the row's own generator right before the call (the one place in ``augment``
that touches global random state, because nlpaug offers no other way).

``ContextualWordEmbsAug`` (BERT, DistilBERT, RoBERTa) works through a shim: with transformers 5,
tokenizers no longer have the private ``_convert_token_to_id`` / ``_convert_id_to_token`` that
nlpaug's language models call, so while the augmenter is built, nlpaug's ``Bert``/``DistilBert``/
``Roberta`` names point at subclasses whose ``token2id``/``id2token`` use the public
``convert_tokens_to_ids`` / ``convert_ids_to_tokens``. Nothing outside this adapter sees the
patch, and it is undone right after. It runs one masked-LM pass per copy; the ``tinybert`` strategy with
``mlm_model:`` is the batched way. Augmenters needing downloads (WordNet, back-translation models)
fail with a one-line error.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from augment.base import Stateless, detokenize, tokenize
from augment.registry import AUGMENTERS, BuildContext, StrategyConfig
from distill.core.errors import ConfigError

REFUSED = {
    "ContextualWordEmbsForSentenceAug": "it generates with hub models (GPT-2, XLNet) and is untested with transformers 5",
    "BackTranslationAug": "it downloads translation models",
}
# nlpaug's masked language models that call the removed private tokenizer methods.
_LANGUAGE_MODELS = ("Bert", "DistilBert", "Roberta")


def _shimmed(base: type) -> type:
    """``base`` (an nlpaug language model) with ``token2id``/``id2token`` on the public tokenizer API,
    and special tokens ([CLS], [SEP], ...) never taken as substitutes (transformers 5 lets them
    through nlpaug's filters)."""

    def token2id(self: Any, token: str) -> int:
        return self.tokenizer.convert_tokens_to_ids(token)

    def id2token(self: Any, _id: int) -> str:
        return self.tokenizer.convert_ids_to_tokens(_id)

    def is_skip_candidate(self: Any, candidate: str) -> bool:
        return candidate in self.tokenizer.all_special_tokens or base.is_skip_candidate(self, candidate)

    methods = {"token2id": token2id, "id2token": id2token, "is_skip_candidate": is_skip_candidate}
    return type(base.__name__, (base,), methods)


@contextlib.contextmanager
def legacy_tokenizer_api() -> Iterator[None]:
    """While active, ``ContextualWordEmbsAug`` builds shimmed BERT/DistilBERT/RoBERTa models (they
    keep the fix afterwards: it lives in their class)."""
    import nlpaug.model.lang_models as nml

    saved = {name: getattr(nml, name) for name in _LANGUAGE_MODELS}
    for name, base in saved.items():
        setattr(nml, name, _shimmed(base))
    try:
        yield
    finally:
        for name, base in saved.items():
            setattr(nml, name, base)


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
        with legacy_tokenizer_api():
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
        if "torch" in sys.modules:  # contextual augmenters sample with torch.multinomial
            sys.modules["torch"].manual_seed(seed)
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


@AUGMENTERS.register("nlpaug")
class NlpaugConfig(StrategyConfig):
    name: Literal["nlpaug"]
    augmenter: str
    args: dict[str, Any] = Field(default_factory=dict)
    word_level: ClassVar[bool] = False

    def build(self, context: BuildContext) -> NlpaugStrategy:
        return NlpaugStrategy(self.augmenter, self.args, key=context.key("augmenter"))

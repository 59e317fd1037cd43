"""Masking (Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks", section 3.3): replace each word by ``[MASK]`` with probability ``p_mask`` (default 0.1).

Combined with :mod:`augment.pos`, the two are mutually exclusive per word as in the paper; the
pipeline builder then folds masking into the pos step (:class:`augment.pos.PosReplace`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from augment.base import Stateless
from augment.copies import Copies
from augment.registry import AUGMENTERS, BuildContext, StrategyConfig
from augment.vocab import Vocab
from distill.core.schema import Probability

MASK = "[MASK]"


def mask_words(
    words: list[str], p_mask: float, rng: np.random.Generator, n: int = 1, mask_token: str = MASK
) -> list[list[str]]:
    """``n`` copies of ``words``, each word independently replaced by ``mask_token`` w.p. ``p_mask``."""
    vocab = Vocab()
    copies = Copies.of(vocab.ids(words), [len(words)], n)
    copies.ids[rng.random(len(copies.ids)) < p_mask] = vocab.id(mask_token)
    return vocab.strings(copies.ids.reshape(n, len(words)))


class Masking(Stateless):
    """Strategy ``masking``: parameter ``p_mask``."""

    name = "masking"
    word_level = True
    needs_corpus = False

    def __init__(self, p_mask: float = 0.1, mask_token: str = MASK) -> None:
        self.p_mask = p_mask
        self.mask_token = mask_token
        self.mask_id = -1

    def fit(self, vocab: Vocab) -> None:
        self.mask_id = vocab.id(self.mask_token)

    def apply(self, copies: Copies, state: Any, u: np.ndarray) -> None:
        copies.ids[u < self.p_mask] = self.mask_id


@AUGMENTERS.register("masking")
class MaskingConfig(StrategyConfig):
    name: Literal["masking"]
    p_mask: Probability = 0.1
    mask_token: str = MASK

    def build(self, context: BuildContext) -> Masking | None:
        if "pos" in context.configs:
            return None  # folded into the pos step (mutually exclusive per word, as in Tang)
        return Masking(self.p_mask, self.mask_token)

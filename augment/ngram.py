"""N-gram sampling (Tang et al., 2019, section 3.3): with probability ``p_ng`` (default 0.25) keep
only a random n-gram of the sentence, ``n`` uniform in ``1..max_n`` (default 5, capped at the
sentence length), its start uniform over the possible positions.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from augment.base import Stateless
from augment.copies import Copies
from augment.registry import AUGMENTERS, BuildContext, StrategyConfig
from distill.core.schema import PositiveInt, Probability


def random_ngram(
    copies: list[list[str]], p_ng: float, rng: np.random.Generator, max_n: int = 5
) -> list[list[str]]:
    """Each copy, or w.p. ``p_ng`` one of its n-grams with ``n`` uniform in ``1..max_n``."""
    draws = rng.random((len(copies), 3))  # (n, 3): cut?, n-gram length, start
    cut = np.nonzero(draws[:, 0] < p_ng)[0]
    out = list(copies)
    for r, un, us in zip(cut.tolist(), draws[cut, 1].tolist(), draws[cut, 2].tolist(), strict=True):
        words = copies[r]
        if words:
            n = min(1 + int(un * max_n), len(words))
            start = int(us * (len(words) - n + 1))
            out[r] = words[start : start + n]
    return out


class NGram(Stateless):
    """Strategy ``ngram``: parameters ``p_ng`` and ``max_n``. Span-level: runs last."""

    name = "ngram"
    word_level = False
    needs_corpus = False

    def __init__(self, p_ng: float = 0.25, max_n: int = 5) -> None:
        self.p_ng = p_ng
        self.max_n = max_n

    def apply(self, copies: list[list[str]], state: Any, rng: np.random.Generator) -> list[list[str]]:
        return random_ngram(copies, self.p_ng, rng, self.max_n)

    def apply_spans(self, copies: Copies, state: Any, u: np.ndarray) -> None:
        """:func:`random_ngram` on the whole batch at once, as spans; ``u``: three draws per copy."""
        draws = u.reshape(-1, 3)  # (B * n, 3): cut?, n-gram length, start
        length = copies.hi - copies.lo
        cut = (draws[:, 0] < self.p_ng) & (length > 0)
        n = np.minimum(1 + (draws[:, 1] * self.max_n).astype(np.int64), length)
        start = copies.lo + (draws[:, 2] * (length - n + 1)).astype(np.int64)
        copies.lo = np.where(cut, start, copies.lo)
        copies.hi = np.where(cut, start + n, copies.hi)


@AUGMENTERS.register("ngram")
class NgramConfig(StrategyConfig):
    name: Literal["ngram"]
    p_ng: Probability = 0.25
    max_n: PositiveInt = 5
    word_level: ClassVar[bool] = False

    def build(self, context: BuildContext) -> NGram:
        return NGram(self.p_ng, self.max_n)

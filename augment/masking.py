"""Masking (Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks", section 3.3): replace each word by ``[MASK]`` with probability ``p_mask`` (default 0.1).

Combined with :mod:`augment.pos`, the two are mutually exclusive per word as in the paper; the
pipeline builder then uses :func:`augment.pos.mask_or_pos` instead of the two steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augment.base import Stateless

MASK = "[MASK]"


def mask_words(
    words: list[str], p_mask: float, rng: np.random.Generator, n: int = 1, mask_token: str = MASK
) -> list[list[str]]:
    """``n`` copies of ``words``, each word independently replaced by ``mask_token`` w.p. ``p_mask``."""
    return mask_copies([words] * n, p_mask, rng, mask_token)


def mask_copies(
    copies: list[list[str]], p_mask: float, rng: np.random.Generator, mask_token: str = MASK
) -> list[list[str]]:
    """Apply :func:`mask_words` to each copy (all copies have the same length: word-level step)."""
    if not copies or not copies[0]:
        return [list(c) for c in copies]
    out = [list(c) for c in copies]
    rows, cols = np.nonzero(rng.random((len(copies), len(copies[0]))) < p_mask)
    for r, i in zip(rows.tolist(), cols.tolist(), strict=True):
        out[r][i] = mask_token
    return out


class Masking(Stateless):
    """Strategy ``masking``: parameter ``p_mask``."""

    name = "masking"
    word_level = True
    needs_corpus = False

    def __init__(self, p_mask: float = 0.1, mask_token: str = MASK) -> None:
        self.p_mask = p_mask
        self.mask_token = mask_token

    def apply(self, copies: list[list[str]], state: Any, rng: np.random.Generator) -> list[list[str]]:
        return mask_copies(copies, self.p_mask, rng, self.mask_token)

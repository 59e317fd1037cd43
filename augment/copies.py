"""The ``n`` copies of every sentence of a batch as one flat id array, so that a word-level step is
a handful of numpy operations per batch instead of per sentence.

Layout: sentence-major, then copy-major: sentence ``r`` (``L_r`` words) occupies ``n * L_r``
consecutive entries, copy ``c`` of it the ``L_r`` entries from ``start_r + c * L_r``. Only the
random draws are made per sentence, each from the sentence's own stream
(:func:`augment.base.row_uniforms`), so a sentence's output does not depend on the other sentences
of its batch.

Copy ``c`` of sentence ``r`` is copy number ``r * n + c`` in the per-copy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Copies:
    ids: np.ndarray  # int64 (T,): vocab ids, T = n * sum(lengths)
    token: np.ndarray  # int64 (T,): index of the entry's word among all words of the batch
    lengths: np.ndarray  # int64 (B,): words per sentence
    n: int
    # Per copy (B * n,): the span of its words that is kept, relative to the copy's start; span-level
    # steps that only cut (n-gram sampling) narrow it instead of slicing lists.
    lo: np.ndarray
    hi: np.ndarray

    @staticmethod
    def of(words: np.ndarray, lengths: np.ndarray, n: int) -> Copies:
        """``n`` unchanged copies of each sentence; ``words``: the vocab ids of all words of the
        batch, sentence after sentence (W,); ``lengths``: words per sentence (B,)."""
        words = np.asarray(words, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        sizes = n * lengths
        sent = np.repeat(np.arange(len(lengths)), sizes)  # (T,) sentence of each entry
        # position within the sentence's block
        k = np.arange(int(sizes.sum())) - (np.cumsum(sizes) - sizes)[sent]
        token = (np.cumsum(lengths) - lengths)[sent] + k % np.maximum(lengths[sent], 1)
        return Copies(
            words[token], token, lengths, n, np.zeros(n * len(lengths), np.int64), np.repeat(lengths, n)
        )

    def spans(self) -> tuple[list[int], list[int]]:
        """Per copy (B * n), the start and stop in ``ids`` of its kept words."""
        copy_start = np.repeat(np.cumsum(self.n * self.lengths) - self.n * self.lengths, self.n)
        copy_start += np.tile(np.arange(self.n), len(self.lengths)) * np.repeat(self.lengths, self.n)
        return (copy_start + self.lo).tolist(), (copy_start + self.hi).tolist()

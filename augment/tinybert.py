"""TinyBERT's data augmentation (Jiao et al., 2020, "TinyBERT: Distilling BERT for Natural Language
Understanding", section 3.1, Algorithm 1).

For each word: if the masked LM's tokenizer keeps it as one word-piece, its candidates are the
``K`` (default 15) best predictions of the masked LM at that position (:mod:`augment.mlm`);
otherwise its ``K`` nearest GloVe neighbours (:mod:`augment.glove`). Each word is replaced by a
random candidate with probability ``p_t`` (default 0.4); the pipeline makes ``N`` copies (its
``n_iter``, default 20). Without a masked LM every word takes the GloVe branch (logged once).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from augment.copies import Copies
from augment.glove import Candidates, NeighbourIds, check_vectors_file, neighbour_ids, replace_candidates
from augment.registry import AUGMENTERS, BuildContext, StrategyConfig
from augment.vocab import Vocab
from distill.core.schema import PositiveInt, Probability
from distill.core.vectors import load_vectors

if TYPE_CHECKING:
    from augment.mlm import MaskedLM  # torch: imported when a masked LM is loaded

log = logging.getLogger("augment")


class TinyBertDA:
    """Strategy ``tinybert``: parameters ``p_t``, ``K``, an optional :class:`MaskedLM`, GloVe options."""

    name = "tinybert"
    word_level = True
    needs_corpus = True

    def __init__(
        self,
        p_t: float = 0.4,
        K: int = 15,  # noqa: N803 (the paper's name)
        mlm: MaskedLM | None = None,
        vectors: str | None = None,
        candidates: int = 50_000,
        cache_dir: Path | None = None,
        batch_size: int = 64,
        max_length: int = 128,
    ) -> None:
        self.p_t = p_t
        self.K = K
        self.mlm = mlm
        self.vectors_path = vectors
        self.candidates = candidates
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.max_length = max_length
        self.words: set[str] = set()
        self.neighbours: NeighbourIds | None = None
        if mlm is None:
            log.warning("tinybert: no mlm_model given; every word takes the GloVe branch")

    def observe(self, sentences: list[list[str]]) -> None:
        for words in sentences:
            self.words.update(words)

    def fit(self, vocab: Vocab) -> None:
        words = self.words
        if self.mlm is not None:  # only words of several pieces need GloVe
            tok = self.mlm.tokenizer
            words = {w for w in words if len(tok.tokenize(w)) != 1}
        kv, identity = load_vectors(self.vectors_path)
        keys, idx = neighbour_ids(kv, identity, words, self.K, self.candidates, self.cache_dir)
        self.neighbours = NeighbourIds(kv, keys, idx, vocab)
        self.words = set()

    def prepare(self, sentences: list[list[str]], vocab: Vocab) -> Candidates:
        assert self.neighbours is not None, "fit() comes before prepare()"
        if self.mlm is None:
            return self.neighbours.candidates([w for words in sentences for w in words])
        from augment.mlm import mlm_candidates

        from_mlm = mlm_candidates(self.mlm, sentences, self.K, self.batch_size, self.max_length)
        merged = []
        for words, cands in zip(sentences, from_mlm, strict=True):
            glove = self.neighbours.candidates(words).lists(vocab)
            merged.append([c if c is not None else g for c, g in zip(cands, glove, strict=True)])
        return Candidates.batch(merged, vocab)  # one table for the batch

    def apply(self, copies: Copies, state: Candidates, u: np.ndarray) -> None:
        replace_candidates(copies, state, u, self.p_t)


@AUGMENTERS.register("tinybert")
class TinyBertConfig(StrategyConfig):
    name: Literal["tinybert"]
    p_t: Probability = 0.4
    K: PositiveInt = 15
    mlm_model: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: PositiveInt = 64
    max_length: PositiveInt = 128
    vectors: str | None = None
    candidates: PositiveInt = 50_000

    def build(self, context: BuildContext) -> TinyBertDA:
        check_vectors_file(self.vectors, context)
        mlm = None
        if self.mlm_model:
            from augment.mlm import load_mlm

            mlm = load_mlm(self.mlm_model, self.device, key=context.key("mlm_model"))
        return TinyBertDA(
            self.p_t,
            self.K,
            mlm,
            self.vectors,
            self.candidates,
            context.cache_dir,
            self.batch_size,
            self.max_length,
        )

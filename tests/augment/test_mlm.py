"""MLM candidates from a tiny random BertForMaskedLM with a hand-built vocab; TinyBERT's rule."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from augment.copies import Copies
from augment.mlm import load_mlm, mlm_candidates, mlm_candidates_loop
from augment.tinybert import TinyBertDA
from augment.vocab import Vocab
from distill.core.errors import ConfigError

SENTENCES = [["the", "flight", "was", "late", "."], ["airplanes", "and", "unknown", "food"], ["Cat", "dog"]]


def test_single_piece_words_get_k_mlm_candidates_others_none(tiny_mlm):
    mlm = load_mlm(str(tiny_mlm), "cpu")
    got = mlm_candidates(mlm, SENTENCES, 3, batch_size=2)
    assert [[c is not None for c in row] for row in got] == [
        [True, True, True, True, False],  # "." is punctuation: no candidates
        [False, True, False, True],  # air ##plane ##s and un ##known: several pieces
        [True, True],  # lower-cased by the tokenizer: one piece each
    ]
    vocab_words = {
        "the",
        "flight",
        "was",
        "late",
        "food",
        "cold",
        "good",
        "bad",
        "crew",
        "and",
        "a",
        "cat",
        "dog",
        "air",
        "un",
    }
    for words, row in zip(SENTENCES, got, strict=True):
        for word, cands in zip(words, row, strict=True):
            if cands is not None:
                assert len(cands) == 3 and len(set(cands)) == 3
                assert set(cands) <= vocab_words and word.lower() not in cands


def test_batched_candidates_equal_the_one_word_at_a_time_loop(tiny_mlm):
    mlm = load_mlm(str(tiny_mlm), "cpu")
    assert mlm_candidates(mlm, SENTENCES, 4, batch_size=3) == mlm_candidates_loop(mlm, SENTENCES, 4)


def test_missing_model_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^mlm_model: no such model folder: ./nope$"):
        load_mlm("./nope")
    with pytest.raises(ConfigError, match=r"^mlm_model: cannot load masked LM"):
        load_mlm(str(tmp_path))  # exists, but holds no model


def test_tinybert_uses_mlm_for_single_pieces_and_glove_for_the_rest(tiny_mlm, glove_file, tmp_path):
    da = TinyBertDA(
        p_t=1.0, K=2, mlm=load_mlm(str(tiny_mlm), "cpu"), vectors=str(glove_file), cache_dir=tmp_path
    )
    sentences = [["airplane", "cat"]]
    vocab = Vocab()
    da.observe(sentences)
    da.fit(vocab)
    state = da.prepare(sentences, vocab)
    cands = state.lists(vocab)
    assert cands[0] == ["bus", "dog"]  # air ##plane: several pieces, so its GloVe neighbours
    assert set(cands[1]) <= {
        "the",
        "flight",
        "was",
        "late",
        "food",
        "cold",
        "good",
        "bad",
        "crew",
        "and",
        "a",
        "dog",
        "air",
        "un",
    }
    copies = Copies.of(vocab.ids(sentences[0]), [2], 5)
    da.apply(copies, state, np.random.default_rng(0).random(len(copies.ids)))
    out = vocab.strings(copies.ids.reshape(5, 2))
    assert all(c[0] in cands[0] and c[1] in cands[1] for c in out)  # p_t = 1: every word replaced


def test_tinybert_without_mlm_falls_back_to_glove_and_says_so_once(glove_file, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="augment"):
        da = TinyBertDA(p_t=1.0, K=2, mlm=None, vectors=str(glove_file), cache_dir=tmp_path)
        vocab = Vocab()
        da.observe([["cat", "car", "zebra"]])
        da.fit(vocab)
        state = da.prepare([["cat", "car", "zebra"]], vocab)
    assert state.lists(vocab) == [["kitten", "dog"], ["truck", "bus"], None]
    assert [r.message for r in caplog.records] == [
        "tinybert: no mlm_model given; every word takes the GloVe branch"
    ]

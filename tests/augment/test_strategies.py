"""Each strategy alone: rates within tolerance with fixed seeds, known answers, exclusivity."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from augment.base import row_rng, tokenize
from augment.glove import load_vectors, neighbour_table, replace_from_candidates
from augment.masking import MASK, mask_words
from augment.ngram import random_ngram
from augment.pos import PosTable, mask_or_pos, textblob_tagger

WORDS = [f"w{i}" for i in range(100)]


def test_masking_rate_over_10k_words():
    copies = mask_words(WORDS, 0.1, np.random.default_rng(0), n=100)
    masked = sum(w == MASK for c in copies for w in c)
    assert abs(masked / 10_000 - 0.1) < 0.01
    assert all(w in (MASK, orig) for c in copies for w, orig in zip(c, WORDS, strict=True))


def test_mask_and_pos_rates_and_mutual_exclusion():
    table = PosTable(Counter({("NN", "zzz"): 1}))
    tags = ["NN"] * len(WORDS)
    copies = mask_or_pos([WORDS] * 100, tags, table, 0.1, 0.2, np.random.default_rng(1))
    flat = [w for c in copies for w in c]
    assert abs(flat.count(MASK) / 10_000 - 0.1) < 0.01
    assert abs(flat.count("zzz") / 10_000 - 0.2) < 0.015
    # p_mask + p_pos = 1: every word is changed, by exactly one of the two.
    copies = mask_or_pos([WORDS] * 100, tags, table, 0.5, 0.5, np.random.default_rng(2))
    flat = [w for c in copies for w in c]
    assert set(flat) == {MASK, "zzz"}
    assert abs(flat.count(MASK) / 10_000 - 0.5) < 0.02


def test_pos_replacement_follows_the_corpus_distribution_of_the_tag():
    table = PosTable(Counter({("NN", "cat"): 3, ("NN", "dog"): 1, ("VB", "run"): 5}))
    draws = [table.sample("NN", v) for v in np.random.default_rng(3).random(10_000)]
    assert set(draws) == {"cat", "dog"}
    assert abs(draws.count("cat") / 10_000 - 0.75) < 0.015
    assert table.sample("JJ", 0.5) is None


def test_textblob_tagger_tags_our_tokens_one_to_one():
    words = tokenize("The flight was late, wasn't it? http://x.co/a")
    tags = textblob_tagger()(words)
    assert len(tags) == len(words)
    assert tags[:4] == ["DT", "NN", "VBD", "JJ"]


def test_ngram_rate_and_length_bounds():
    copies = random_ngram([WORDS] * 4000, 0.25, np.random.default_rng(4), max_n=5)
    cut = [c for c in copies if len(c) != len(WORDS)]
    assert abs(len(cut) / 4000 - 0.25) < 0.02
    assert Counter(len(c) for c in cut).keys() == {1, 2, 3, 4, 5}
    for c in cut:  # a contiguous n-gram of the sentence
        start = WORDS.index(c[0])
        assert WORDS[start : start + len(c)] == c
    short = random_ngram([["a", "b"]] * 200, 1.0, np.random.default_rng(5), max_n=5)
    assert {tuple(c) for c in short} <= {("a",), ("b",), ("a", "b")}


def test_glove_neighbours_known_answer_and_disk_cache(glove_file, tmp_path, monkeypatch):
    kv, identity = load_vectors(str(glove_file))
    table = neighbour_table(kv, identity, ["cat", "Car", "unseen", ","], 2, 100, tmp_path / "cache")
    assert table == {"cat": ["kitten", "dog"], "car": ["truck", "bus"]}
    assert len(list((tmp_path / "cache").glob("neighbour-ids-*.npy"))) == 1

    def boom(*a, **k):
        raise AssertionError("recomputed instead of reading the cache")

    monkeypatch.setattr("augment.glove.nearest_neighbours", boom)
    assert neighbour_table(kv, identity, ["cat", "Car", "unseen", ","], 2, 100, tmp_path / "cache") == table
    with pytest.raises(AssertionError):  # another K is another table
        neighbour_table(kv, identity, ["cat", "car"], 1, 100, tmp_path / "cache")


def test_glove_candidates_restrict_the_search_to_the_most_frequent_vectors(glove_file):
    kv, identity = load_vectors(str(glove_file))  # file order: cat kitten dog car truck bus airplane
    assert neighbour_table(kv, identity, ["truck"], 2, 4, None) == {"truck": ["car", "dog"]}


def test_replace_from_candidates_rate_and_choice():
    cands = [["x", "y"] if i % 2 == 0 else None for i in range(len(WORDS))]
    copies = replace_from_candidates([WORDS] * 200, cands, 0.4, np.random.default_rng(6))
    flat = [w for c in copies for w in c]
    assert abs((flat.count("x") + flat.count("y")) / 10_000 - 0.4) < 0.015
    assert abs(flat.count("x") - flat.count("y")) < 300
    assert all(c[1] == WORDS[1] for c in copies)  # no candidates: never replaced


def test_row_rng_depends_only_on_seed_and_row():
    assert row_rng(7, 3).random() == row_rng(7, 3).random()
    assert row_rng(7, 3).random() != row_rng(7, 4).random()
    assert row_rng(7, 3).random() != row_rng(8, 3).random()

"""The batch layout (Copies) and the pipeline: a sentence's output does not depend on its batch."""

from __future__ import annotations

import numpy as np

from augment.base import row_rng
from augment.config import build_pipeline, parse_config
from augment.copies import Copies
from augment.ngram import NGram

TANG = {"n_iter": 7, "strategies": [{"name": "masking", "p_mask": 0.2}, {"name": "pos", "p_pos": 0.3}, {"name": "ngram", "p_ng": 0.5}]}
TEXTS = ["the flight was late", "", "great crew , good food and a movie", "bad", "never again !"]


def test_copies_layout_by_hand():
    copies = Copies.of(np.array([7, 8, 1, 2, 3]), [2, 0, 3], 2)
    assert copies.ids.tolist() == [7, 8, 7, 8, 1, 2, 3, 1, 2, 3]
    assert copies.token.tolist() == [0, 1, 0, 1, 2, 3, 4, 2, 3, 4]
    assert copies.spans() == ([0, 2, 4, 4, 4, 7], [2, 4, 4, 4, 7, 10])
    rngs = [np.random.default_rng(i) for i in range(3)]
    u = copies.uniform(rngs)
    assert u.tolist() == [*np.random.default_rng(0).random(4), *np.random.default_rng(2).random(6)]


def tang_pipeline():
    cfg, strategies = parse_config(TANG, "augment.yaml")
    pipeline = build_pipeline(cfg, strategies)
    pipeline.observe([t.split() for t in TEXTS])
    pipeline.fit()
    return pipeline


def test_a_sentence_gets_the_same_copies_alone_or_in_any_batch():
    pipeline = tang_pipeline()
    together = pipeline.augment_batch(TEXTS, [row_rng(0, i) for i in range(len(TEXTS))])
    alone = [pipeline.augment_batch([t], [row_rng(0, i)])[0] for i, t in enumerate(TEXTS)]
    assert together == alone
    assert together[1] == []  # an empty sentence has no copies other than itself
    assert any("[MASK]" in s for s in together[2])


def test_ngram_on_spans_equals_ngram_on_lists():
    words = [f"w{i}" for i in range(9)]
    ngram = NGram(p_ng=0.5, max_n=4)
    copies = Copies.of(np.r_[np.arange(9), np.arange(3)], [9, 3], 40)
    ngram.apply_spans(copies, [None, None], [np.random.default_rng(5), np.random.default_rng(6)])
    lo, hi = copies.spans()
    flat = [words[i] for i in copies.ids.tolist()]
    got = [flat[a:b] for a, b in zip(lo, hi, strict=True)]
    expected = ngram.apply([words] * 40, None, np.random.default_rng(5)) + ngram.apply([words[:3]] * 40, None, np.random.default_rng(6))
    assert got == expected
    assert 10 < sum(len(c) < 9 for c in got[:40]) < 30  # about half of the 40 long copies were cut

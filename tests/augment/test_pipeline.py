"""The batch layout (Copies) and the pipeline: a sentence's output does not depend on its batch."""

from __future__ import annotations

import numpy as np

from augment.base import row_uniforms
from augment.config import build_pipeline, parse_config
from augment.copies import Copies
from augment.ngram import NGram

TANG = {
    "n_iter": 7,
    "strategies": [
        {"name": "masking", "p_mask": 0.2},
        {"name": "pos", "p_pos": 0.3},
        {"name": "ngram", "p_ng": 0.5},
    ],
}
TEXTS = ["the flight was late", "", "great crew , good food and a movie", "bad", "never again !"]


def test_copies_layout_by_hand():
    copies = Copies.of(np.array([7, 8, 1, 2, 3]), [2, 0, 3], 2)
    assert copies.ids.tolist() == [7, 8, 7, 8, 1, 2, 3, 1, 2, 3]
    assert copies.token.tolist() == [0, 1, 0, 1, 2, 3, 4, 2, 3, 4]
    assert copies.spans() == ([0, 2, 4, 4, 4, 7], [2, 4, 4, 4, 7, 10])
    draws = row_uniforms(7, 10, [np.array([1, 0, 2]), np.array([3, 3, 0])])
    assert [len(d) for d in draws] == [3, 6]
    assert draws[0][:1].tolist() == row_uniforms(7, 10, [np.array([1])])[0].tolist()  # row 10 alone: same
    assert draws[0][1:].tolist() == row_uniforms(7, 12, [np.array([2])])[0].tolist()  # row 12 alone: same
    assert draws[1][3:].tolist() == row_uniforms(7, 11, [np.array([0]), np.array([3])])[1].tolist()
    assert row_uniforms(8, 10, [np.array([1])])[0][0] != draws[0][0]  # another seed
    assert row_uniforms(7, 10, [np.array([1])], stream=1)[0][0] != draws[0][0]  # another column
    everything = np.concatenate(row_uniforms(0, 0, [np.full(100, 100)]))
    assert abs(everything.mean() - 0.5) < 0.01 and everything.min() >= 0 and everything.max() < 1


def tang_pipeline():
    cfg, strategies = parse_config(TANG, "augment.yaml")
    pipeline = build_pipeline(cfg, strategies)
    pipeline.observe([t.split() for t in TEXTS])
    pipeline.fit()
    return pipeline


def test_a_sentence_gets_the_same_copies_alone_or_in_any_batch():
    pipeline = tang_pipeline()
    together = pipeline.augment_batch(TEXTS, 0)
    alone = [pipeline.augment_batch([t], 0, start=i)[0] for i, t in enumerate(TEXTS)]
    assert together == alone
    assert together[1] == []  # an empty sentence has no copies other than itself
    assert any("[MASK]" in s for s in together[2])


def test_ngram_on_spans_equals_ngram_on_lists():
    words = [f"w{i}" for i in range(9)]
    ngram = NGram(p_ng=0.5, max_n=4)
    copies = Copies.of(np.r_[np.arange(9), np.arange(3)], [9, 3], 40)
    ngram.apply_spans(
        copies,
        None,
        np.concatenate([np.random.default_rng(5).random(120), np.random.default_rng(6).random(120)]),
    )
    lo, hi = copies.spans()
    flat = [words[i] for i in copies.ids.tolist()]
    got = [flat[a:b] for a, b in zip(lo, hi, strict=True)]
    expected = ngram.apply([words] * 40, None, np.random.default_rng(5)) + ngram.apply(
        [words[:3]] * 40, None, np.random.default_rng(6)
    )
    assert got == expected
    assert 10 < sum(len(c) < 9 for c in got[:40]) < 30  # about half of the 40 long copies were cut

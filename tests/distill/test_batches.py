"""The batch sources' contract (a split's epochs, a streamed corpus's chunks): every source yields
``steps_per_epoch`` steps per pass, marks the pass's last one, and resumes from its state_dict
(also after a torch.save/load round trip) onto exactly the steps the uninterrupted one yields."""

from __future__ import annotations

import io
from itertools import islice

import pytest
import torch

from distill.data.batching import Encoded
from distill.train.batches import CorpusBatches, SplitBatches, iter_chunks
from tests.conftest import toy_rows

TEXTS = [t for t, _ in toy_rows(45, seed=3)]


def encode(texts: list[str]) -> Encoded:
    """Word counts as token ids: lengths differ, so length grouping has something to sort."""
    ids = [[2] + [5 + len(w) for w in t.split()] + [3] for t in texts]
    return Encoded(ids, None, [0] * len(texts), 0)


def split_source() -> SplitBatches:
    return SplitBatches(encode(TEXTS), batch_size=4, accum=2, seed=7)


def corpus_source(tmp_path) -> CorpusBatches:
    path = tmp_path / "corpus.txt"
    path.write_text("".join(t + "\n" for t in TEXTS))
    return CorpusBatches(
        lambda: iter_chunks(path, 4 * 3), len(TEXTS), encode, batch_size=4, chunk_batches=3, accum=2, seed=7
    )


@pytest.fixture(params=["split", "corpus"])
def make(request, tmp_path):
    return split_source if request.param == "split" else (lambda: corpus_source(tmp_path))


def fingerprint(steps) -> list:
    """What a step trains on: its micro-batches' token ids."""
    return [[[tuple(s.data.input_ids[i]) for i in b] for b in s.group] for s in steps]


def test_one_pass_is_steps_per_epoch_and_ends_with_epoch_end(make):
    source = make()
    steps = list(islice(source, source.steps_per_epoch + 1))
    ends = [s.epoch_end for s in steps]
    assert ends[: source.steps_per_epoch] == [False] * (source.steps_per_epoch - 1) + [True]
    assert source.state_dict()["epoch"] == 1  # the step after the pass is the next epoch's first
    seen = sorted(
        ids for step in fingerprint(steps[: source.steps_per_epoch]) for batch in step for ids in batch
    )
    assert seen == sorted(tuple(x) for x in encode(TEXTS).input_ids)  # every text once per pass


@pytest.mark.parametrize("stop", [1, 3, 5, 6, 9])  # mid-chunk, chunk and epoch ends, into the second epoch
def test_resume_from_state_dict_yields_the_same_steps(make, stop):
    reference = make()
    expected = fingerprint(islice(reference, stop + 7))
    first = make()
    done = fingerprint(islice(first, stop))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)  # as a checkpoint holds it (tuples come back as lists)
    buffer.seek(0)
    resumed = make()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert done + fingerprint(islice(resumed, 7)) == expected


def test_the_seed_fixes_the_order(make, tmp_path):
    a, b = make(), make()
    assert fingerprint(islice(a, 8)) == fingerprint(islice(b, 8))
    other = SplitBatches(encode(TEXTS), batch_size=4, accum=2, seed=8)
    assert fingerprint(islice(other, 8)) != fingerprint(islice(split_source(), 8))

"""Data-parallel helpers: global-batch sharding, loss shares, and a 2-process gloo all-reduce."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from distill.core.metrics import accuracy_f1, confusion_counts, scores
from distill.train.distributed import World, all_sum, init_world, shard, share, unit_shares


def test_shards_cover_the_global_batch_once_in_order():
    batch = list(range(7))
    parts = [shard(batch, World(r, 3)) for r in range(3)]
    assert parts == [[0, 1], [2, 3], [4, 5, 6]]
    assert shard(batch, World()) == batch


def test_shares_make_the_rank_average_the_global_mean():
    # ranks hold 2, 2 and 3 of 7 examples with mean losses m_r; DDP averages share_r * m_r over 3 ranks
    means, sizes = [0.5, 1.0, 2.0], [2, 2, 3]
    ddp_average = (
        sum(share(n, 7, World(r, 3)) * m for r, (n, m) in enumerate(zip(sizes, means, strict=True))) / 3
    )
    assert ddp_average == pytest.approx((2 * 0.5 + 2 * 1.0 + 3 * 2.0) / 7)
    assert share(5, 5, World()) == 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank)
    )
    world = init_world()
    out[rank] = torch.tensor(all_sum([rank + 1.0, 10.0], world) + [float(world.is_main)])
    torch.distributed.destroy_process_group()


def test_two_gloo_processes_sum_their_counts():
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2)
    assert out[0].tolist() == [3.0, 20.0, 1.0] and out[1].tolist() == [3.0, 20.0, 0.0]


def test_unit_shares_weigh_tokens_and_token_pairs_not_examples():
    # rank 0 holds examples of 2 and 4 tokens, rank 1 one of 6: 2/3 of the examples, 6/12 of the
    # tokens and 20/56 of the query-key pairs are rank 0's
    lengths, world = [2, 4, 6], World(0, 2)
    mine, theirs = [2, 4], [6]
    assert unit_shares(mine, lengths, ["example", "token", "token_pair"], world) == pytest.approx(
        [2 * 2 / 3, 6 * 2 / 12, 20 * 2 / 56]
    )
    assert unit_shares(theirs, lengths, ["token_pair"], World(1, 2)) == pytest.approx([36 * 2 / 56])


def test_summed_confusion_counts_of_two_slices_give_the_whole_splits_scores():
    preds, labels = [0, 1, 2, 2, 1, 0, 0], [0, 1, 1, 2, 2, 0, 1]
    halves = [confusion_counts(preds[:3], labels[:3], 3), confusion_counts(preds[3:], labels[3:], 3)]
    summed = [a + b for a, b in zip(*halves, strict=True)]
    assert scores(summed, 3) == accuracy_f1(preds, labels)
    # by hand: 4 of 7 correct; F1 per label 2·2/(3+2), 2·1/(2+3), 2·1/(2+2)
    assert scores(summed, 3) == pytest.approx({"accuracy": 4 / 7, "f1": (0.8 + 0.4 + 0.5) / 3})

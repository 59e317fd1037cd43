"""Data-parallel helpers: global-batch sharding, loss shares, and a 2-process gloo all-reduce."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from distill.distributed import World, all_sum, init_world, shard, share


def test_shards_cover_the_global_batch_once_in_order():
    batch = list(range(7))
    parts = [shard(batch, World(r, 3)) for r in range(3)]
    assert parts == [[0, 1], [2, 3], [4, 5, 6]]
    assert shard(batch, World()) == batch


def test_shares_make_the_rank_average_the_global_mean():
    # ranks hold 2, 2 and 3 of 7 examples with mean losses m_r; DDP averages share_r * m_r over 3 ranks
    means, sizes = [0.5, 1.0, 2.0], [2, 2, 3]
    ddp_average = sum(share(n, 7, World(r, 3)) * m for r, (n, m) in enumerate(zip(sizes, means, strict=True))) / 3
    assert ddp_average == pytest.approx((2 * 0.5 + 2 * 1.0 + 3 * 2.0) / 7)
    assert share(5, 5, World()) == 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank))
    world = init_world()
    out[rank] = torch.tensor(all_sum([rank + 1.0, 10.0], world) + [float(world.is_main)])
    torch.distributed.destroy_process_group()


def test_two_gloo_processes_sum_their_counts():
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2)
    assert out[0].tolist() == [3.0, 20.0, 1.0] and out[1].tolist() == [3.0, 20.0, 0.0]

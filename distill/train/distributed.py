"""Data-parallel distillation on ``torch.distributed``, launched by ``torchrun``.

    torchrun --nproc-per-node 2 -m distill.cli run teacher.yaml student.yaml      # 2 GPUs or 2 CPU processes

Each process (rank) holds the whole teacher, in inference mode, and a replica of the student (with
the objectives' projections) wrapped in ``DistributedDataParallel``. Every rank draws the same
global batch order from the same seed and trains on its own slice of each global batch, so
``batch_size`` in student.yaml is the *global* batch whatever the number of processes, and a run on
N processes follows (up to floating-point summation order) the same trajectory as on one. DDP
averages the gradients; each rank's loss is scaled by its share of the global batch so that the
average equals the loss of the whole batch even when the last batch does not split evenly. The
share is counted in the unit the objective averages over (examples for logit losses, real tokens
for hidden states, real token pairs for attention scores), so the equality is exact for all of them.

Only rank 0 writes files (checkpoints, model, metrics, logs); dev evaluation is sharded and its
counts summed across ranks. Backend: NCCL on GPUs, gloo on CPUs (tested with 2 CPU processes).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """Where this process stands: rank ``rank`` of ``size`` (``size == 1``: not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints summaries."""
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        """On GPUs, rank ``r`` of a node uses GPU ``local_rank``; on CPUs, the CPU."""
        if requested.type == "cuda" and self.distributed:
            return torch.device("cuda", self.local_rank)
        return requested


SINGLE = World()  # one process, not distributed: the default of every function taking a world


def init_world() -> World:
    """Join the process group that ``torchrun`` describes in the environment (once per process)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
    return World(rank, size, local_rank)


def shard(indices: list[int], world: World) -> list[int]:
    """This rank's contiguous slice of a global batch; slice sizes differ by at most one."""
    n, r, k = len(indices), world.rank, world.size
    start, stop = r * n // k, (r + 1) * n // k
    return indices[start:stop]


def share(local: int, global_: int, world: World) -> float:
    """The factor that makes DDP's gradient *average* over ranks equal the global batch's mean loss:
    ``Σ_r (n_r·k/n) · mean_r / k = Σ_r n_r·mean_r / n``."""
    return local * world.size / global_ if global_ else 0.0


def units(lengths: list[int], unit: str) -> int:
    """How many of ``unit`` (``example`` | ``token`` | ``token_pair``) examples of these token
    lengths hold: what an objective's mean divides by (see ``Objective.unit``)."""
    if unit == "example":
        return len(lengths)
    if unit == "token":
        return sum(lengths)
    if unit == "token_pair":
        return sum(n * n for n in lengths)
    raise ValueError(f"unknown loss unit {unit!r}")


def unit_shares(local: list[int], global_: list[int], unit_names: list[str], world: World) -> list[float]:
    """:func:`share` per objective, counted in each objective's unit, from the token lengths of
    this rank's slice (``local``) and of the whole global batch (``global_``). Every rank knows the
    global batch, so this needs no communication."""
    return [share(units(local, u), units(global_, u), world) for u in unit_names]


def all_sum(values: list[float], world: World) -> list[float]:
    """Element-wise sum over ranks (counts of correct predictions, losses); identity on one process."""
    if not world.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when it is true on one (a Ctrl-C seen by one process stops them all at
    the same step)."""
    return all_sum([float(flag)], world)[0] > 0 if world.distributed else flag


def gather(obj: object, world: World) -> list[object]:
    """``obj`` of every rank, in rank order, on every rank (small picklable values: RNG states)."""
    if not world.distributed:
        return [obj]
    out: list[object] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def from_main(obj: object, world: World) -> object:
    """Rank 0's ``obj`` on every rank (a decision only rank 0 may take, e.g. which checkpoint)."""
    if not world.distributed:
        return obj
    box = [obj if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


@contextlib.contextmanager
def main_first(world: World) -> Iterator[None]:
    """Rank 0 runs the block first, the others after it (when it fills a cache the others then
    read: the fine-tuned teacher, the teacher-output cache, augmented text). The barrier is in a
    ``finally`` so that an error on rank 0 does not leave the others waiting: they run the block
    and meet the same error, or torchrun stops them when rank 0 exits."""
    if not world.is_main:
        barrier(world)
    try:
        yield
    finally:
        if world.is_main:
            barrier(world)


def close(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()

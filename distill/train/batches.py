"""Where a training loop's batches come from: a split's epochs, or a streamed corpus's chunks.

Both are objects with their own position, so one loop (:func:`distill.train.distiller.fit`) trains
teacher fine-tuning, task distillation and general distillation alike, and one checkpoint holds
where any of them is. The interface:

- iterating yields one :class:`Step` per optimizer step, from the current position on (forever:
  the loop stops after its last step); the position has advanced past a step when it is yielded,
  so a checkpoint taken after the step resumes at the next one;
- ``state_dict()`` / ``load_state_dict()``: the position in plain values (a checkpoint's ``loop``);
- ``steps_per_epoch``: optimizer steps in one pass, for the schedule's length;
- ``whole``: the whole training set when it is in memory (what the teacher-output cache covers),
  else None.

The order is the seed's: one ``random.Random(seed)`` shuffles every epoch (and every chunk) in
turn, and a position stores that RNG's state at the start of its epoch (chunk), so a resumed run
redraws exactly the batches the uninterrupted one drew.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from distill.core.errors import DataError
from distill.data.batching import Encoded, train_batches
from distill.train.schedule import steps_per_epoch


@dataclass(frozen=True)
class Step:
    """One optimizer step's data: ``group`` holds its micro-batches, each a list of indices into
    ``data`` (the *global* batch; each process trains on its slice)."""

    data: Encoded
    group: list[list[int]]
    epoch_end: bool  # the last step of a pass over the data (when dev is evaluated)


class BatchSource(Protocol):
    """What :func:`distill.train.distiller.fit` needs of a batch source (see the module docstring)."""

    @property
    def steps_per_epoch(self) -> int: ...

    @property
    def whole(self) -> Encoded | None: ...

    def __iter__(self) -> Iterator[Step]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def _as_tuple(x):
    """random.setstate wants the tuples back that a checkpoint round trip may turn into lists."""
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def _groups(data: Encoded, batch_size: int, accum: int, rng: random.Random) -> list[list[list[int]]]:
    """One pass's batches in random order (see :func:`train_batches`), ``accum`` per optimizer step."""
    batches = train_batches(data, batch_size, rng)
    return [batches[k : k + accum] for k in range(0, len(batches), accum)]


class SplitBatches:
    """A tokenized split, epoch after epoch; position: the epoch, the steps done in it, and the
    data-order RNG's state at its start."""

    def __init__(self, data: Encoded, batch_size: int, accum: int, seed: int) -> None:
        self.data, self.batch_size, self.accum = data, batch_size, accum
        self.rng = random.Random(seed)
        self.epoch, self.position, self.epoch_rng = 0, 0, None

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.data), self.batch_size, self.accum)

    @property
    def whole(self) -> Encoded:
        return self.data

    def __iter__(self) -> Iterator[Step]:
        while True:
            self.epoch_rng = self.rng.getstate()
            groups = _groups(self.data, self.batch_size, self.accum, self.rng)
            for k in range(self.position, len(groups)):
                self.position = k + 1
                yield Step(self.data, groups[k], epoch_end=self.position == len(groups))
            self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "epoch_rng": self.epoch_rng}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.epoch_rng = (
            state["epoch"],
            state["position"],
            _as_tuple(state["epoch_rng"]),
        )
        self.rng.setstate(self.epoch_rng)


def corpus_steps_per_epoch(texts: int, chunk: int, batch_size: int, accum: int) -> int:
    """Optimizer steps in one pass over ``texts`` texts read in chunks of ``chunk`` (each chunk's
    last batch and last step may be short)."""
    return sum(steps_per_epoch(min(chunk, texts - k), batch_size, accum) for k in range(0, texts, chunk))


class CorpusBatches:
    """Texts streamed from a corpus file in chunks of ``chunk_batches x batch_size``: each chunk is
    tokenized, length-grouped into batches and trained on, then dropped (one chunk in memory).
    Position: the epoch, the chunks done in it, the steps done in the chunk, and the data-order
    RNG's state at the chunk's start (chunks before it are skipped on resume, not tokenized)."""

    def __init__(
        self,
        chunks: Callable[[], Iterator[list[str]]],
        texts: int,
        encode: Callable[[list[str]], Encoded],
        batch_size: int,
        chunk_batches: int,
        accum: int,
        seed: int,
    ) -> None:
        self.chunks, self.texts, self.encode = chunks, texts, encode
        self.batch_size, self.chunk, self.accum = batch_size, batch_size * chunk_batches, accum
        self.rng = random.Random(seed)
        self.epoch, self.chunk_index, self.position, self.chunk_rng = 0, 0, 0, None

    @property
    def steps_per_epoch(self) -> int:
        return corpus_steps_per_epoch(self.texts, self.chunk, self.batch_size, self.accum)

    @property
    def whole(self) -> None:
        return None

    def __iter__(self) -> Iterator[Step]:
        n_chunks = math.ceil(self.texts / self.chunk)
        while True:
            for c, texts in enumerate(self.chunks()):
                if c < self.chunk_index:  # done before a resume: skipped without tokenizing
                    continue
                self.chunk_rng = self.rng.getstate()
                data = self.encode(texts)
                groups = _groups(data, self.batch_size, self.accum, self.rng)
                for k in range(self.position, len(groups)):
                    self.position = k + 1
                    yield Step(data, groups[k], epoch_end=c == n_chunks - 1 and self.position == len(groups))
                self.chunk_index, self.position = self.chunk_index + 1, 0
            self.epoch, self.chunk_index = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "chunk": self.chunk_index,
            "position": self.position,
            "chunk_rng": self.chunk_rng,
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.chunk_index, self.position = state["epoch"], state["chunk"], state["position"]
        self.chunk_rng = _as_tuple(state["chunk_rng"])
        self.rng.setstate(self.chunk_rng)


def iter_corpus(path: str | Path) -> Iterator[str]:
    """Texts of a corpus file, one at a time: ``.txt`` one per non-blank line, ``.jsonl`` the
    ``text`` field of each line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such corpus file (--corpus)")
    jsonl = path.suffix == ".jsonl"
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if not jsonl:
                yield line.rstrip("\n")
                continue
            try:
                text = json.loads(line).get("text")
            except (json.JSONDecodeError, AttributeError):
                raise DataError(f"{path}: line {lineno}: not a JSON object") from None
            if not isinstance(text, str):
                raise DataError(f"{path}: line {lineno}: no string field `text`")
            if text.strip():
                yield text


def iter_chunks(path: str | Path, size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for text in iter_corpus(path):
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

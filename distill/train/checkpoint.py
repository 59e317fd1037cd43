"""Resume checkpoints: the whole training state, written atomically, verified on load.

A checkpoint is a folder ``<output>/checkpoints/resume/<stage>-<step>[-end]/`` holding

- ``state.pt``: the student, the objectives' projections, optimizer, LR schedule and grad scaler,
  the RNG states (python, numpy, torch, CUDA), the loop position (epoch, step within it, the
  data-order RNG at the epoch start), losses so far, dev history and best weights;
- ``meta.json``: stage, steps, the SHA-256 of ``state.pt``, the config it was made with (minus the
  keys that cannot change a result, see :data:`HARMLESS`) and the results of finished stages.

Each is written into a temporary folder and renamed into place (:func:`distill.core.atomic.atomic_dir`),
so a checkpoint is complete or absent. On resume the newest one whose checksum and load succeed is
used; a corrupt or truncated one is skipped with a warning. Only ``keep_last`` are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from distill.config import CheckpointConfig
from distill.core.atomic import atomic_dir
from distill.core.errors import ConfigError, OutputError
from distill.core.interrupt import Interrupted, fault_hook, stop_requested
from distill.train.distributed import SINGLE, World, any_rank, from_main, gather

log = logging.getLogger("distill")
FORMAT = 1

# Config keys that may change between a run and its resumption: they change where things go, how
# much is logged or measured, or evaluation batching (which can move dev scores by float rounding
# only), never what is trained. Everything else in the resolved configs must be equal.
HARMLESS = {
    ("teacher", "cache_dir"),
    ("teacher", "device"),
    ("student", "name"),
    ("student", "output_dir"),
    ("student", "device"),
    ("student", "eval_batch_size"),
    ("student", "speed"),
    ("student", "checkpoint"),
    ("student", "teacher_cache", "dir"),
    ("student", "fail_below"),  # judges the result, never changes it
}


def resume_key(config: dict) -> dict:
    """``config`` without the :data:`HARMLESS` keys: what a checkpoint must match to be resumed."""

    def strip(node, path: tuple):
        if not isinstance(node, dict):
            return node
        return {k: strip(v, (*path, k)) for k, v in node.items() if (*path, k) not in HARMLESS}

    return strip(json.loads(json.dumps(config, default=str)), ())


def config_change(old: dict, new: dict, path: str = "") -> str | None:
    """The first key whose value differs, as ``key.path: was A, now B``; None when equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in old or k not in new:
                return f"{sub}: {'added' if k not in old else 'removed'}"
            found = config_change(old[k], new[k], sub)
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return next(
            (
                c
                for i, (a, b) in enumerate(zip(old, new, strict=True))
                if (c := config_change(a, b, f"{path}.{i}"))
            ),
            None,
        )
    if isinstance(old, list) and isinstance(new, list):
        return f"{path}: {len(old)} entries before, {len(new)} now"
    return None if old == new else f"{path}: was {_short(old)}, now {_short(new)}"


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def capture_rng() -> dict:
    """Every global RNG the loop (dropout, shuffles, initialisers) may draw from."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def rank_rng(state: dict, world: World) -> dict:
    """This rank's RNG states in a checkpoint: each data-parallel process draws its own dropout
    masks, so a checkpoint of a run on N processes holds N states (``rng_ranks``)."""
    return state["rng_ranks"][world.rank] if world.distributed else state["rng"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def training_state(
    loop: dict, student: torch.nn.Module, objectives: list, stepper, best: dict | None
) -> dict:
    """The whole state of a training loop in progress: ``loop`` (its plain values: step, losses,
    the batch source's position, ...), the student, the objectives' projections, the stepper
    (optimizer, schedule, grad scaler), the best weights so far and every RNG."""
    return {
        "loop": loop,
        "student": student.state_dict(),
        "objectives": [o.state_dict() for o in objectives],
        "stepper": stepper.state_dict(),
        "best": best,
        "rng": capture_rng(),
    }


def restore_training(
    state: dict, student: torch.nn.Module, objectives: list, stepper, world: World = SINGLE
) -> tuple[dict, dict | None]:
    """Load :func:`training_state`'s ``state`` into the models, the stepper and this rank's RNGs;
    returns its ``loop`` values and best weights (None when it kept none)."""
    student.load_state_dict(state["student"])
    for o, s in zip(objectives, state["objectives"], strict=True):
        o.load_state_dict(s)
    stepper.load_state_dict(state["stepper"])
    restore_rng(rank_rng(state, world))
    return state["loop"], state.get("best")


@dataclass
class Checkpoint:
    path: Path
    meta: dict  # see the module docstring
    state: dict


class CheckpointManager:
    """The resume checkpoints of one output folder."""

    def __init__(self, root: Path, cfg: CheckpointConfig, key: dict) -> None:
        self.root, self.cfg, self.key = Path(root), cfg, key

    def folders(self) -> list[Path]:
        """Complete checkpoint folders, oldest first (temporary ones start with a dot)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def load(self, folder: Path) -> Checkpoint:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')}, expected {FORMAT}")
        if _sha256(folder / "state.pt") != meta["sha256"]:
            raise ValueError("state.pt does not match its checksum (truncated or corrupt)")
        return Checkpoint(
            folder, meta, torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        )

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint that loads and matches its checksum; broken ones are skipped."""
        for folder in reversed(self.folders()):
            try:
                return self.load(folder)
            except Exception as e:  # any failure to read means: not usable, fall back
                log.warning("checkpoint %s is unusable (%s); trying the previous one", folder, e)
        return None

    def resume_point(self, mode: str, source: str) -> Checkpoint | None:
        """The checkpoint to continue from. ``mode``: ``auto`` (resume when there is one),
        ``require`` (--resume: it is an error when there is none), ``fresh`` (discard them)."""
        if mode == "fresh":
            self.clear()
            return None
        ckpt = self.latest()
        if ckpt is None:
            if mode == "require":
                raise self._none_error()
            return None
        self._refuse_change(ckpt.meta, ckpt.path, source)
        log.info("resuming from %s (stage %d, step %d)", ckpt.path, ckpt.meta["stage"], ckpt.meta["step"])
        return ckpt

    def check(self, mode: str, source: str) -> None:
        """What :meth:`resume_point` would refuse, judged from the newest readable ``meta.json``
        alone: no state is loaded and nothing is removed (the pre-flight of run and validate)."""
        if mode == "fresh":
            return
        for folder in reversed(self.folders()):
            try:
                meta = json.loads((folder / "meta.json").read_text())
            except (OSError, ValueError):
                continue
            if (
                isinstance(meta, dict)
                and meta.get("format") == FORMAT
                and isinstance(meta.get("config"), dict)
            ):
                self._refuse_change(meta, folder, source)
                return
        if mode == "require":
            raise self._none_error()

    def _none_error(self) -> ConfigError:
        return ConfigError(f"{self.root}: --resume: no usable checkpoint to resume from")

    def _refuse_change(self, meta: dict, folder: Path, source: str) -> None:
        change = config_change(meta["config"], self.key)
        if change:
            raise ConfigError(
                f"{source}: cannot resume from {folder}: {change}; this change breaks resumption "
                "(run with --fresh to discard the checkpoints, or use another --output-dir)"
            )

    @staticmethod
    def name(meta: dict) -> str:
        return f"{meta['stage']:02d}-{meta['step']:08d}" + ("-end" if meta["stage_done"] else "")

    def save(self, meta: dict, state: dict) -> Path:
        """Write one checkpoint atomically, then drop all but the newest ``keep_last``."""
        name = self.name(meta)
        try:
            with atomic_dir(self.root / name) as tmp:
                with open(tmp / "state.pt", "wb") as f:
                    torch.save(state, f)
                    f.flush()
                    os.fsync(f.fileno())
                full = {"format": FORMAT, **meta, "sha256": _sha256(tmp / "state.pt"), "config": self.key}
                (tmp / "meta.json").write_text(json.dumps(full, indent=1))
        except OSError as e:
            raise OutputError(
                f"{self.root / name}: could not write the checkpoint ({e.strerror or e}); the previous "
                "checkpoints are intact: free disk space and run the same command again to resume"
            ) from None
        for old in self.folders()[: -self.cfg.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        log.debug("checkpoint written: %s", self.root / name)
        return self.root / name

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def agreed_resume_point(
    manager: CheckpointManager, mode: str, source: str, world: World
) -> Checkpoint | None:
    """:meth:`CheckpointManager.resume_point` decided by rank 0 (which alone may discard the
    checkpoints for ``--fresh``); the other ranks load the same folder, so the output folder must be
    on a file system every node sees for a multi-node run to resume."""
    ckpt, error = None, None
    if world.is_main:
        try:
            ckpt = manager.resume_point(mode, source)
        except ConfigError as e:  # raised on every rank, so that none is left waiting
            error = e
    path, error = from_main((None if ckpt is None else str(ckpt.path), error), world)
    if error is not None:
        raise error
    if world.is_main or path is None:
        return ckpt
    return manager.load(Path(path))


class StageCheckpoints:
    """What a training loop needs from checkpointing: the state to resume from, and a hook to call
    after each optimizer step that saves when due (every ``every_steps`` global steps, or on Ctrl-C).

    On several processes every rank calls the hooks at the same steps (they gather the ranks' RNG
    states and agree on a Ctrl-C); only rank 0 writes."""

    def __init__(
        self,
        manager: CheckpointManager,
        stage: int,
        global_step: int,
        done: list[dict],
        resume: dict | None,
        world: World = SINGLE,
    ) -> None:
        self.manager, self.stage, self.global_step, self.done, self.world = (
            manager,
            stage,
            global_step,
            done,
            world,
        )
        self.resume = resume  # the loop's state (see training_state), or None for a fresh start

    def save(self, step: int, state: dict, stage_done: bool = False) -> Path:
        """Write ``state`` (rank 0); returns the checkpoint's folder (the one rank 0 writes, on every rank)."""
        meta = {
            "stage": self.stage,
            "step": step,
            "global_step": self.global_step,
            "stage_done": stage_done,
            "stages": self.done,
        }
        if self.world.distributed:
            state = {**state, "rng_ranks": gather(capture_rng(), self.world)}
        if not self.world.is_main:
            return self.manager.root / self.manager.name(meta)
        return self.manager.save(meta, state)

    def after_step(self, step: int, last: bool, snapshot: Callable[[], dict]) -> None:
        """``last``: the stage's final step, whose state the stage-end checkpoint will hold."""
        self.global_step += 1
        every = self.manager.cfg.every_steps
        saved = None
        if every and self.global_step % every == 0 and not last:
            saved = self.save(step, snapshot())
        fault_hook(self.global_step)
        if any_rank(stop_requested(), self.world):
            saved = saved or self.save(step, snapshot())
            raise Interrupted(f"checkpoint saved to {saved}; run the same command again to resume")

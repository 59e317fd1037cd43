"""Ctrl-C during training: finish the current step, save a checkpoint, exit with 130.

While :func:`save_on_sigint` is active, the first SIGINT only sets a flag that the training loop
checks after each optimizer step; the loop then writes a checkpoint and raises :class:`Interrupted`.
The handler is removed at the first SIGINT, so a second Ctrl-C stops at once (as
``KeyboardInterrupt``), for a user who does not want to wait for the save.

``DISTILL_TEST_FAULT=kill:K`` or ``sigint:K`` makes the process SIGKILL or SIGINT itself right after
global optimizer step K (and any checkpoint due at K): a test hook to crash a run at an exact,
arbitrary point.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

_requested = False


class Interrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after saving a checkpoint; the message says where."""


def stop_requested() -> bool:
    return _requested


@contextlib.contextmanager
def save_on_sigint() -> Iterator[None]:
    """Turn the first SIGINT into a request to checkpoint and stop (main thread only)."""
    global _requested
    _requested = False
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        global _requested
        _requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested = False


def fault_hook(global_step: int) -> None:
    """Test hook: crash this process after ``global_step`` when ``DISTILL_TEST_FAULT`` says so."""
    fault = os.environ.get("DISTILL_TEST_FAULT")
    if not fault:
        return
    kind, _, at = fault.partition(":")
    if int(at) == global_step:
        os.kill(os.getpid(), signal.SIGKILL if kind == "kill" else signal.SIGINT)

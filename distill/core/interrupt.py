"""Ctrl-C or SIGTERM during training: finish the current step, save a checkpoint, exit with 130 / 143.

While :func:`save_on_sigint` is active, the first SIGINT (Ctrl-C) or SIGTERM (``kill``, a batch
scheduler's time limit, ``docker stop``) only sets a flag that the training loop checks after each
optimizer step; the loop then writes a checkpoint and raises :class:`Interrupted`, which the CLI
turns into exit code 128 + the signal's number (130 for SIGINT, 143 for SIGTERM, as a shell
reports a process killed by it). The handler of that signal is removed at its first arrival, so a
second Ctrl-C stops at once (as ``KeyboardInterrupt``) and a second SIGTERM kills the process, for
a user (or a scheduler's grace period) that does not want to wait for the save.

``DISTILL_TEST_FAULT=kill:K``, ``sigint:K`` or ``sigterm:K`` makes the process SIGKILL, SIGINT or
SIGTERM itself right after global optimizer step K (and any checkpoint due at K): a test hook to
crash or stop a run at an exact, arbitrary point.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

_requested: int | None = None  # the signal that asked to stop, while save_on_sigint is active
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


class Interrupted(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM after saving a checkpoint; the message says where.

    ``signum``: the signal that stopped it (default: the one that asked to stop, else SIGINT)."""

    def __init__(self, message: str, signum: int | None = None) -> None:
        super().__init__(message)
        self.signum = signum or _requested or signal.SIGINT

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def word(self) -> str:
        """How the CLI's one line starts: ``interrupted`` (Ctrl-C) or ``terminated`` (SIGTERM)."""
        return "terminated" if self.signum == signal.SIGTERM else "interrupted"


def stop_requested() -> bool:
    return _requested is not None


@contextlib.contextmanager
def save_on_sigint() -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into a request to checkpoint and stop (main thread only)."""
    global _requested
    _requested = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        global _requested
        _requested = _requested or signum
        signal.signal(signum, _DEFAULTS[signum])

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _requested = None


def fault_hook(global_step: int) -> None:
    """Test hook: crash or signal this process after ``global_step`` when ``DISTILL_TEST_FAULT`` says so."""
    fault = os.environ.get("DISTILL_TEST_FAULT")
    if not fault:
        return
    kind, _, at = fault.partition(":")
    if int(at) == global_step:
        os.kill(os.getpid(), {"kill": signal.SIGKILL, "sigterm": signal.SIGTERM}.get(kind, signal.SIGINT))

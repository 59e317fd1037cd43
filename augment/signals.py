"""SIGINT and SIGTERM during ``augment``: stop at once, leave nothing behind, exit 130 / 143.

Augmenting has no state worth saving (a rerun gives the same bytes), so unlike ``distill run``
(:mod:`distill.core.interrupt`, which checkpoints first) a signal stops the run where it is: SIGINT
raises ``KeyboardInterrupt`` as usual and, inside :func:`stop_on_sigterm`, SIGTERM raises
:class:`Terminated`. Both unwind through :func:`distill.core.atomic.atomic_file`, which deletes the
temporary output; the CLI prints one line.

Worker processes (``--workers N``) ignore SIGINT (Ctrl-C in a terminal reaches the whole process
group; the main process alone decides) and die silently on SIGTERM, which is how the main process
stops them (``Pool.terminate``): no worker prints a traceback.

``AUGMENT_TEST_FAULT=sigint:K`` or ``sigterm:K`` sends the signal once the K-th chunk is in the
temporary file: SIGINT to the process group when this process leads one (as a terminal's Ctrl-C
does), SIGTERM to this process only (as ``kill PID`` does). A test hook, like ``DISTILL_TEST_FAULT``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as a shell reports it


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, so that no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def init_worker() -> None:
    """``Pool`` initializer: leave Ctrl-C to the main process; die quietly when it terminates us."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def fault_hook(chunks_written: int) -> None:
    """Test hook: signal this run after ``chunks_written`` chunks when ``AUGMENT_TEST_FAULT`` says so."""
    fault = os.environ.get("AUGMENT_TEST_FAULT")
    if not fault:
        return
    kind, _, at = fault.partition(":")
    if int(at) != chunks_written:
        return
    if kind == "sigint" and os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGINT if kind == "sigint" else signal.SIGTERM)

"""Shared by the fuzz tests: run a CLI in-process and check that it failed cleanly.

"Cleanly" means exit code 2, exactly one line on stderr that starts as the CLI's errors do and
names what it must name, no traceback, and nothing written: the folder the test watches holds
the same files before and after the call.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def files_under(folder: Path) -> set[str]:
    """Every file and folder below ``folder`` (temporary files included), as relative paths."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_clean_failure(
    main: Callable[[list[str]], int],
    argv: list[str],
    capsys: pytest.CaptureFixture,
    watched: Path,
    *must_name: str,
    prefix: str = "error: ",
) -> str:
    """Run ``main(argv)``; assert a one-line error naming ``must_name`` and no new file under ``watched``."""
    before = files_under(watched)
    rc = main(argv)  # an exception other than SystemExit fails the test with its traceback
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, f"{argv}: exit {rc}, stderr {err!r}"
    assert len(lines) == 1 and lines[0].startswith(prefix), f"{argv}: stderr is not one error line: {err!r}"
    assert "Traceback" not in err
    for name in must_name:
        assert name in lines[0], f"{argv}: {name!r} is not named in {lines[0]!r}"
    assert out == "", f"{argv}: printed {out!r} on stdout"
    assert files_under(watched) == before, f"{argv}: left {files_under(watched) - before}"
    return lines[0]


@contextlib.contextmanager
def unwritable_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder in which this process cannot create files. chmod does not stop root (tests may run
    as root in a container), so as root a sysfs folder, which refuses new files to everyone,
    stands in for a read-only location."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    folder = Path("/sys/kernel")
    try:
        os.close(tempfile.mkstemp(dir=folder)[0])
    except OSError:
        yield folder
        return
    pytest.fail(f"{folder} is writable here; no unwritable folder to test with")

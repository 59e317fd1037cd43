"""Reading input rows and writing augmented rows in CSV, TSV, GLUE TSV or JSONL.

Reading streams through :func:`distill.core.readers.iter_rows`; writing goes to a temporary file
renamed at the end (:func:`distill.core.atomic.atomic_file`). Rows are serialised to text by
:func:`format_rows` (in worker processes), so the main process only concatenates strings.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path

from distill.core.errors import DataError, OutputError
from distill.core.readers import detect_format, iter_rows, read_header, require_columns

Row = dict[str, str]


def check_paths(input_path: str | Path, output_path: str | Path) -> None:
    """Refuse an output that is the input (by path or by inode): the input is never overwritten."""
    src, dst = Path(input_path), Path(output_path)
    same = src.resolve() == dst.resolve()
    if not same and src.exists() and dst.exists():
        same = os.path.samefile(src, dst)
    if same:
        raise DataError(
            f"{output_path}: --output is the input file; choose another path (the input is never overwritten)"
        )


def existing_ancestor(path: str | Path) -> Path:
    """``path`` itself or the nearest folder above it that exists (where a new file would go)."""
    path = Path(path).absolute()
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


def check_output(output_path: str | Path, flag: str = "--output") -> None:
    """Refuse, before any work, an output that names a folder or a device, lies under a file, or whose
    location cannot be written (read-only file system, no permission): a file is created and
    removed in the nearest existing folder, where the run would create its folders and file."""
    path = Path(output_path)
    if path.is_dir():
        raise OutputError(f"{output_path}: {flag} is a folder; give the path of a file to write")
    if path.exists() and not path.is_file():  # the finished file is renamed onto it: not onto /dev/null
        raise OutputError(
            f"{output_path}: {flag} exists and is not a regular file; give the path of a file to write"
        )
    where = existing_ancestor(path.parent)
    if not where.is_dir():
        raise OutputError(f"{output_path}: {flag}: cannot write there, {where} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=where)
    except OSError as e:
        raise OutputError(
            f"{output_path}: {flag}: cannot write to {where} ({e.strerror or e}); choose another path"
        ) from None
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(probe)


def open_rows(path: str | Path, fmt: str | None, encoding: str, columns: list[str]):
    """Check that ``path`` has data rows and the text ``columns``; stream ``(line, row)`` pairs."""
    header = read_header(path, fmt, encoding)
    try:
        require_columns(path, header, columns, key="text column")
    except DataError as e:
        flag = "--text-column" if columns[0] not in header else "--pair-column"
        raise DataError(f"{e}; name it with {flag} or text_columns in the config") from None
    return header, iter_rows(path, fmt, encoding)


def header_line(columns: list[str], fmt: str) -> str:
    """The header of a delimited output ('' for JSONL)."""
    return "" if fmt == "jsonl" else format_rows([dict(zip(columns, columns, strict=True))], columns, fmt)


def format_rows(rows: list[Row], columns: list[str], fmt: str) -> str:
    """``rows`` as lines of ``fmt`` (each ending in ``\\n``), columns in ``columns`` order."""
    if fmt == "jsonl":
        return "".join(json.dumps({c: r[c] for c in columns}, ensure_ascii=False) + "\n" for r in rows)
    buf = io.StringIO()
    if fmt == "glue":
        writer = csv.writer(buf, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n", escapechar=None)
        for r in rows:
            values = [r[c] for c in columns]
            if any(("\t" in v or "\n" in v) for v in values):
                raise DataError(
                    f"a GLUE TSV field cannot hold a tab or newline: {values!r}; write csv/tsv/jsonl"
                )
            writer.writerow(values)
    else:
        writer = csv.writer(buf, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        for r in rows:
            writer.writerow([r[c] for c in columns])
    return buf.getvalue()


def output_format(path: str | Path, configured: str | None, input_format: str) -> str:
    """``output_format`` from the config, else the output extension, else the input's format."""
    if configured:
        return configured
    try:
        return detect_format(path)
    except DataError:
        return input_format

"""Streaming row readers for CSV, TSV, GLUE-style TSV and JSONL files.

Every reader yields ``(line_number, row)`` pairs, where ``row`` maps column name to string, and
never holds the file in memory, so ``augment`` can stream files of any size and ``distill`` can
report the exact line of a bad row. Problems become a :class:`DataError` naming file and line.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from distill.core.errors import DataError
from distill.core.schema import encoding_problem

FORMATS = ("csv", "tsv", "glue", "jsonl")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}

# Long texts (whole documents on one line) are legitimate; csv's default 128 KiB field cap is not.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

Row = dict[str, str]


def detect_format(path: str | Path) -> str:
    """The format implied by a file's extension (``.csv``, ``.tsv``, ``.jsonl``/``.json``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise DataError(
            f"{path}: cannot tell the format from the extension {suffix or '(none)'!r}; "
            f"set `format:` to one of {', '.join(FORMATS)}"
        )
    return _EXTENSIONS[suffix]


def _decoded_lines(path: Path, encoding: str) -> Iterator[str]:
    """Lines of ``path`` decoded one by one, so a bad byte is reported with its line number.

    A leading byte-order mark (Excel's UTF-8 CSVs) is dropped, so it does not stick to the first
    column's name."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode(encoding)
                yield line.removeprefix("\ufeff") if lineno == 1 else line
            except UnicodeDecodeError as e:
                bad = raw[e.start : e.end]
                raise DataError(
                    f"{path}: line {lineno}: bytes {bad!r} are not valid {encoding}; "
                    "set `encoding:` to the file's encoding (e.g. latin-1)"
                ) from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")


def _iter_delimited(path: Path, delimiter: str, quoting: int, encoding: str) -> Iterator[tuple[int, Row]]:
    reader = csv.reader(_decoded_lines(path, encoding), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError(f"{path}: no header row (the first line must name the columns)")
        header = [h.strip() for h in header]
        for fields in reader:
            if not fields:  # blank line
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"{path}: line {reader.line_num}: {len(fields)} fields, the header has {len(header)}"
                )
            yield reader.line_num, dict(zip(header, fields, strict=True))
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num}: {e}") from None


def _iter_jsonl(path: Path, encoding: str) -> Iterator[tuple[int, Row]]:
    keys: list[str] | None = None  # the first object's keys: every later object needs them too
    for lineno, line in enumerate(_decoded_lines(path, encoding), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
        if keys is None:
            keys = list(obj)
        missing = [k for k in keys if k not in obj]
        if missing:
            raise DataError(
                f"{path}: line {lineno}: no key {missing[0]!r} (the first object has {', '.join(map(repr, keys))})"
            )
        yield (
            lineno,
            {k: v if isinstance(v, str) else json.dumps(v) if v is not None else "" for k, v in obj.items()},
        )


def iter_rows(path: str | Path, fmt: str | None = None, encoding: str = "utf-8") -> Iterator[tuple[int, Row]]:
    """Yield ``(line_number, row)`` for each data row of ``path``.

    ``fmt`` is one of :data:`FORMATS` or ``None`` to detect it from the extension. ``glue`` is
    tab-separated with quoting off, as the GLUE files are (their texts contain bare quotes).
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    problem = encoding_problem(encoding)
    if problem:
        raise DataError(f"{path}: encoding: {problem}, got {encoding!r}")
    _check_file(path)
    if fmt == "jsonl":
        return _iter_jsonl(path, encoding)
    if fmt == "csv":
        return _iter_delimited(path, ",", csv.QUOTE_MINIMAL, encoding)
    if fmt == "tsv":
        return _iter_delimited(path, "\t", csv.QUOTE_MINIMAL, encoding)
    return _iter_delimited(path, "\t", csv.QUOTE_NONE, encoding)


def iter_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each non-blank line of a plain-text file (one text per line,
    the line break dropped); a bad byte is a DataError naming its line, as in :func:`iter_rows`."""
    path = Path(path)
    problem = encoding_problem(encoding)
    if problem:
        raise DataError(f"{path}: encoding: {problem}, got {encoding!r}")
    _check_file(path)
    for lineno, line in enumerate(_decoded_lines(path, encoding), 1):
        if line.strip():
            yield lineno, line.rstrip("\r\n")


def read_header(path: str | Path, fmt: str | None = None, encoding: str = "utf-8") -> list[str]:
    """Column names of a delimited file (the keys of the first object for JSONL)."""
    for _, row in iter_rows(path, fmt, encoding):
        return list(row)
    raise DataError(f"{path}: has a header but no data rows")


def require_columns(path: str | Path, columns: list[str], wanted: list[str], key: str = "column") -> None:
    """Raise a DataError naming the first missing column and the ones that exist."""
    for name in wanted:
        if name not in columns:
            raise DataError(
                f"{path}: missing {key} {name!r} (the file has: {', '.join(map(repr, columns)) or 'none'})"
            )

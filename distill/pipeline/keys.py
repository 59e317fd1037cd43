"""Content-addressed step keys: what a step's result depends on, hashed.

A step's key is the hash of its *parts*: the toolkit version, its kind, the parsed content of its
config file (comments and formatting do not count), the teacher.yaml keys it reads, its options
(minus those that cannot change the result, such as ``workers``), the keys of its input steps and,
for steps that read user files (the data step's sources, a general step's corpus), a content hash
of those files. Keys are computed from configs alone, before anything runs, so the dry run can tell
which steps will run. Each part is also hashed on its own and stored in ``done.json``, so a re-run
can say *what* changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from distill.core.errors import DistillError
from distill.core.schema import load_yaml

KEY_LENGTH = 12


def toolkit_version() -> str:
    try:
        return importlib.metadata.version("distill-kit")
    except importlib.metadata.PackageNotFoundError:  # running from a checkout without `pip install -e`
        return "unknown"


def digest(value: Any) -> str:
    """SHA-256 of a JSON-serialisable value, key order ignored."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """Content hash of a file, or of every file under a folder (relative names included)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


class Missing(DistillError):
    """A file a key depends on does not exist (yet): the step cannot be planned as skippable."""


def files_digest(paths: list[Path]) -> str:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise Missing(", ".join(missing))
    return digest([file_digest(p) for p in paths])


def data_source_files(data: dict[str, Any]) -> list[Path]:
    """The files a teacher.yaml ``data:`` section reads (the packaged corpus for ``embedded:``)."""
    source = str(data.get("source", ""))
    if source.startswith("embedded:"):
        from distill.data.embedded import embedded_corpus

        try:
            return [embedded_corpus(source.removeprefix("embedded:")).path]
        except DistillError as e:
            raise Missing(str(e)) from None
    return [Path(p) for p in (source, data.get("dev"), data.get("test")) if p]


def config_content(path: Path) -> dict[str, Any]:
    """A config file as parsed YAML: the part of it that matters to a key."""
    return load_yaml(path)


def step_key(parts: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The step's key and the per-part hashes stored beside it (for 'what changed' messages)."""
    hashed = {name: digest(value) for name, value in parts.items()}
    return digest(hashed)[:KEY_LENGTH], hashed

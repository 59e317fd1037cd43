"""mkdocs hooks: the site's front page is README.md, copied as ``index.md`` at build time.

The README links to the pages as ``docs/<page>.md`` (so they open on GitHub); here those links lose
the ``docs/`` prefix. A README link to another file of the repository (a recipe's results page, its
plot) brings that file into the site at the same path, so the link resolves and the page renders; a
link to a file that does not exist is left as it is, and ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _local(target: str) -> str | None:
    """The path part of a relative link, or None for URLs and same-page anchors."""
    if target.startswith(("#", "http://", "https://", "mailto:")):
        return None
    return target.split("#", 1)[0] or None


def front_page(text: str) -> str:
    """README's text as the site's index.md: ``docs/x.md`` -> ``x.md``, ``docs/`` -> ``index.md``."""

    def fix(m: re.Match[str]) -> str:
        target = m.group(1)
        if target in ("docs", "docs/"):
            return "](index.md)"
        return "](" + target.removeprefix("docs/") + ")"

    return LINK.sub(fix, text)


def repo_files(text: str, base: Path) -> list[Path]:
    """Files of the repository (outside docs/) that ``text``, read from folder ``base``, links to;
    for a linked Markdown page, the files that page links to as well."""
    found: list[Path] = []
    for target in LINK.findall(text):
        path = _local(target)
        if path is None:
            continue
        file = (base / path).resolve()
        if not file.is_file() or file.is_relative_to(ROOT / "docs") or not file.is_relative_to(ROOT):
            continue
        if file not in found:
            found.append(file)
        if file.suffix == ".md" and base == ROOT:
            found += [f for f in repo_files(file.read_text(encoding="utf-8"), file.parent) if f not in found]
    return found


def on_files(files: Files, config: MkDocsConfig) -> Files:
    text = README.read_text(encoding="utf-8")
    files.append(File.generated(config, "index.md", content=front_page(text)))
    for file in repo_files(text, ROOT):
        uri = file.relative_to(ROOT).as_posix()
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(file)))
    return files


def on_serve(server, config: MkDocsConfig, builder):  # noqa: ANN001  (mkdocs' LiveReloadServer)
    server.watch(str(README))
    return server

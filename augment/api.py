"""Augmentation from Python: ``augment.augment(texts | DataFrame, config)``.

``config`` is an augment.yaml path or the mapping it holds (validated the same way, errors naming
it). A list of texts gives a list of texts: each original (when ``keep_original``) followed by its
copies, in input order. A pandas DataFrame gives a DataFrame of the same columns: each row's copies
carry its other columns (labels, ids), the text columns being ``text_columns:`` (default: the
frame's ``text`` column when the config names none of its columns). The same pipeline as
``augment run`` (corpus statistics from the given rows, then per-row seeded copies), so the same
seed gives the same output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.base import tokenize
from augment.bounds import check_size
from augment.config import build_pipeline, load_config, parse_config
from augment.runner import augment_rows, target_columns
from distill.core.errors import ConfigError


def augment(data: Any, config: str | Path | dict, seed: int | None = None) -> Any:
    """Augmented ``data`` (see the module docstring); ``seed`` overrides the config's."""
    source = str(config) if isinstance(config, str | Path) else "augment config (dict)"
    cfg, strategies = load_config(config) if isinstance(config, str | Path) else parse_config(config, source)
    frame = type(data).__module__.split(".")[0] == "pandas"
    if frame:
        columns = list(data.columns)
        if not set(cfg.text_columns) <= set(columns):
            if "text" not in columns:
                raise ConfigError(
                    f"{source}: text_columns: {cfg.text_columns} are not columns of the DataFrame ({', '.join(map(str, columns))})"
                )
            cfg.text_columns = ["text"]
        rows = data.to_dict("records")
    else:
        if isinstance(data, str) or not all(isinstance(t, str) for t in data):
            raise ConfigError(
                f"{source}: expected a list of texts or a pandas DataFrame, got {type(data).__name__}"
            )
        cfg.text_columns = ["text"]
        rows = [{"text": t} for t in data]
    check_size(len(rows), cfg, source)
    pipeline = build_pipeline(cfg, strategies, source)
    targets = target_columns(cfg)
    if pipeline.needs_corpus:
        pipeline.observe([tokenize(str(r[c])) for r in rows for c in targets])
    pipeline.fit()
    out = augment_rows(pipeline, cfg, cfg.seed if seed is None else seed, 0, rows)
    if not frame:
        return [r["text"] for r in out]
    import pandas as pd

    return pd.DataFrame(out, columns=columns)

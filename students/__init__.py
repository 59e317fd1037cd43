"""Student models: build one from student.yaml, start it from the teacher, load a saved one."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill.errors import ConfigError
from students.init import init_from_teacher
from students.tinybert import build_tinybert, tinybert_config

__all__ = ["build_tinybert", "init_from_teacher", "load", "tinybert_config"]


def load(path: str | Path):
    """Load a saved student (any family) and its tokenizer: ``model, tokenizer = students.load(p)``."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path}: not a saved model folder (no config.json)")
    return AutoModelForSequenceClassification.from_pretrained(path), AutoTokenizer.from_pretrained(path)

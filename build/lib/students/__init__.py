"""Student models: a registry of families (TinyBERT, DistilBERT-style, BiLSTM), build one from
student.yaml, load a saved one without the training code."""

from __future__ import annotations

import json
from pathlib import Path

from distill.errors import ConfigError
from students import bilstm, distilbert, tinybert  # noqa: F401  (register the families)
from students.family import STUDENTS, BuildRequest, BuiltStudent
from students.init import init_from_teacher
from students.tinybert import build_tinybert, tinybert_config

__all__ = [
    "STUDENTS", "BuildRequest", "BuiltStudent", "build", "build_tinybert", "init_from_teacher", "load", "tinybert_config",
]  # fmt: skip


def build(req: BuildRequest) -> BuiltStudent:
    """Build the student of family ``req.arch.family`` and initialise it as ``req.init`` says."""
    return STUDENTS.get(req.arch.family)(req)


def load(path: str | Path):
    """Load a saved student (any family) and its tokenizer: ``model, tokenizer = students.load(p)``."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path}: not a saved model folder (no config.json)")
    if json.loads((path / "config.json").read_text()).get("model_type") == bilstm.MODEL_TYPE:
        return bilstm.BiLSTMClassifier.from_pretrained(path), bilstm.WordTokenizer.from_pretrained(path)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(path), AutoTokenizer.from_pretrained(path)

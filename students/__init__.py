"""Student models: a registry of families (TinyBERT, DistilBERT-style, BiLSTM), build one from
student.yaml, load a saved one without the training code.

``FAMILIES`` names the family modules, in the order messages list them; each registers one
:class:`StudentFamily` on ``STUDENTS`` when imported.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from distill.core.errors import ConfigError
from students.family import (
    STUDENTS,
    BuildRequest,
    BuiltStudent,
    StudentFamily,
    StudentShape,
    family_names,
    load_hf,
    saved_family,
)
from students.init import init_from_teacher
from students.tinybert import build_tinybert, tinybert_config

FAMILIES = ("tinybert", "distilbert", "bilstm")
for _name in FAMILIES:
    importlib.import_module(f"students.{_name}")

__all__ = [
    "FAMILIES",
    "STUDENTS",
    "BuildRequest",
    "BuiltStudent",
    "StudentFamily",
    "StudentShape",
    "build",
    "build_tinybert",
    "family_names",
    "init_from_teacher",
    "load",
    "tinybert_config",
]


def build(req: BuildRequest) -> BuiltStudent:
    """Build the student of family ``req.arch.family`` and initialise it as ``req.init`` says."""
    return STUDENTS.get(req.arch.family).build(req)


def load(path: str | Path):
    """Load a saved student (any family) and its tokenizer: ``model, tokenizer = students.load(p)``."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path}: not a saved model folder (no config.json)")
    own = saved_family(json.loads((path / "config.json").read_text()).get("model_type"))
    return own.load(path) if own else load_hf(path)

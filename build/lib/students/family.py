"""The students registry: family name (``architecture.family``) -> builder, like ``OBJECTIVES``.

A builder takes a :class:`BuildRequest` (the resolved config, the loaded teacher, the training
texts) and returns a :class:`BuiltStudent`: the model, the tokenizer it reads (the teacher's for
Transformer students, its own for the BiLSTM) and what its initialisation did, for the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from distill.errors import ConfigError
from distill.registry import Registry


@dataclass
class BuildRequest:
    arch: object  # distill.config.ArchitectureConfig
    sizes: dict[str, int]  # resolved sizes (see ArchitectureConfig.resolved)
    teacher: nn.Module  # the loaded teacher classifier
    teacher_tokenizer: object
    label_names: list[str]
    texts: list[str]  # training texts (both sides of pairs), for a word vocabulary
    pair: bool  # sentence-pair task
    init: str  # random | teacher | glove | general:<path> | <path>
    layer_map: list[int]
    init_layers: list[int] | None = None  # distilbert: teacher layers to copy
    source: str = "student.yaml"


@dataclass
class BuiltStudent:
    model: nn.Module
    tokenizer: object
    own_tokenizer: bool = False
    notes: list[str] = field(default_factory=list)


STUDENTS: Registry[Callable[[BuildRequest], BuiltStudent]] = Registry("student family")


def load_saved_weights(model: nn.Module, init: str, num_labels: int, source: str) -> str:
    """``init: general:<path>`` or ``<path>``: load a saved Transformer student's weights by name
    (a mismatched classifier, e.g. from general distillation, is left as initialised)."""
    from transformers import AutoModelForSequenceClassification

    path = init.removeprefix("general:")
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(f"{source}: init: {path!r} is not a saved student folder (no config.json)")
    loaded = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels, ignore_mismatched_sizes=True)
    mine = model.state_dict()
    usable = {k: v for k, v in loaded.state_dict().items() if k in mine and mine[k].shape == v.shape}
    missing = [k for k in mine if k not in usable and not k.startswith("classifier")]
    if missing:
        raise ConfigError(
            f"{source}: init: {path!r} does not fit this architecture ({len(missing)} tensors missing or "
            f"of another shape, e.g. {missing[0]})"
        )
    model.load_state_dict(usable, strict=False)
    return f"weights from {path}"

"""Validate what the run will look up in the teacher and the student, without any weights.

``distill validate`` and the pre-flight of ``distill run`` build the teacher classifier and a
Transformer student's encoder from their configs on PyTorch's ``meta`` device (no memory, no
weights, no download beyond config.json) and make the family adapters' look-ups the run will make:
embeddings, the layers as applied, each mapped layer's self-attention. A family the adapters do not
know, a variant they refuse (ALBERT's inner groups) or a layer they cannot find is then one line,
before a teacher is fine-tuned.
"""

from __future__ import annotations

from typing import Any

import torch

from distill.core.errors import ConfigError
from distill.models.adapters import Adapter, adapter_for


def lookups(adapter: Adapter, model: torch.nn.Module, layers: list[int], what: str) -> None:
    """The look-ups a run makes in ``model`` (mapped ``layers``, 1-based); a failure is a ConfigError."""
    n = adapter.num_layers(model.config)
    try:
        adapter.embeddings(model), adapter.word_embeddings(model)
        applied = adapter.applied(model)
        if len(applied) != n:
            raise ValueError(f"{len(applied)} layers as applied, config.json says {n}")
        for i in layers:
            adapter.attention(applied[i - 1])
    except (AttributeError, IndexError, TypeError, ValueError) as e:
        raise ConfigError(
            f"{what}: the {adapter.title} adapter cannot find its parts in {type(model).__name__}: {e}"
        ) from None


def check_structures(
    teacher_config: Any, layer_map: list[int], build_student: Any, teacher_source: str, student_source: str
) -> None:
    """Build the teacher (and, given ``build_student``, the student's encoder) on the meta device and
    run the look-ups; ``build_student()`` returns the student module (None: not a Transformer)."""
    from transformers import AutoModelForSequenceClassification

    adapter = adapter_for(teacher_config.model_type, f"{teacher_source}: model")
    with torch.device("meta"):
        teacher = AutoModelForSequenceClassification.from_config(teacher_config)
    lookups(adapter, teacher, layer_map, f"{teacher_source}: model")
    if build_student is None:
        return
    with torch.device("meta"):
        student = build_student()
    s_adapter = adapter_for(student.config.model_type, f"{student_source}: architecture")
    lookups(s_adapter, student, list(range(1, len(layer_map) + 1)), f"{student_source}: architecture")

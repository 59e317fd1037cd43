"""DistilBERT-style students (Sanh et al. 2019): the teacher's own architecture with fewer layers.

The student is the teacher's config with ``num_layers`` Transformer layers (default half the
teacher's), same width, heads, FFN and vocabulary, so it reads the teacher's tokens and saves as
the same Hugging Face model type. It starts as DistilBERT did: embeddings copied, each student
layer copied from one teacher layer ("one layer out of two"), pooler and classifier copied. Which
teacher layers is ``architecture.init_layers``, default the layer map (``uniform``: 3 of 6 layers
-> [2, 4, 6]; DistilBERT's own choice for 6 of 12 is ``[1, 3, 5, 7, 9, 11]``, 1-based).
"""

from __future__ import annotations

import torch
from pydantic import model_validator
from transformers import AutoModelForSequenceClassification, PretrainedConfig

from distill.models.adapters import adapter_for, adapter_of
from distill.models.dims import ModelDims
from students.family import (
    ArchitectureBase,
    BuildRequest,
    BuiltStudent,
    StudentShape,
    load_saved_weights,
    register,
    transformer_family,
)
from students.init import copy_head, copy_shared


def distilbert_config(
    teacher: PretrainedConfig, num_layers: int, label_names: list[str], layers: list[int] | None = None
) -> PretrainedConfig:
    """The teacher's config with ``num_layers`` layers (its family adapter keeps layer types and sharing
    consistent with the teacher ``layers`` the student's come from) and the data's labels."""
    cfg = adapter_for(teacher.model_type).smaller(teacher, num_layers, layers or [])
    cfg.num_labels = len(label_names)
    cfg.id2label = dict(enumerate(label_names))
    cfg.label2id = {n: i for i, n in enumerate(label_names)}
    return cfg


@torch.no_grad()
def copy_teacher_layers(student: torch.nn.Module, teacher: torch.nn.Module, layers: list[int]) -> list[str]:
    """Copy embeddings, teacher layer ``layers[m-1]`` (1-based) into student layer ``m``, the parts
    every layer reads, the pooler and the classifier. Shapes match by construction."""
    adapter = adapter_of(teacher)
    adapter.embeddings(student).load_state_dict(adapter.embeddings(teacher).state_dict())
    done = ["embeddings (copied)", *adapter.copy_layers(student, teacher, layers)]
    return done + copy_shared(student, teacher) + copy_head(student, teacher)


def build_distilbert(
    teacher: PretrainedConfig, num_layers: int, label_names: list[str], layers: list[int] | None = None
) -> torch.nn.Module:
    return AutoModelForSequenceClassification.from_config(
        distilbert_config(teacher, num_layers, label_names, layers)
    )


class DistilBERTArchitecture(ArchitectureBase):
    """``family: distilbert``: the teacher's own architecture with ``num_layers`` (default: half the
    teacher's) layers, initialised from the teacher layers ``init_layers`` (default: the layer map)."""

    @model_validator(mode="after")
    def _keeps_teacher_width(self) -> DistilBERTArchitecture:
        given = self.given("preset", "hidden_size", "num_heads", "intermediate_size")
        if given:
            raise ValueError(
                f"family distilbert keeps the teacher's width, heads and FFN; remove {', '.join(given)}"
            )
        self.foreign_checks()
        return self


def resolve(arch: ArchitectureBase, teacher: ModelDims, teacher_ffn: int | None) -> StudentShape:
    """Half the teacher's layers (or ``num_layers``), its width, heads and FFN."""
    sizes = {
        "num_layers": max(1, teacher.num_layers // 2),
        "intermediate_size": teacher_ffn or 4 * teacher.hidden_size,
    }
    if arch.num_layers is not None:
        sizes["num_layers"] = arch.num_layers
    sizes.setdefault("hidden_size", teacher.hidden_size)
    sizes.setdefault("num_heads", teacher.num_heads)
    return StudentShape.of(sizes)


def build(req: BuildRequest) -> BuiltStudent:
    layers = req.init_layers or req.layer_map
    model = build_distilbert(req.teacher.config, req.shape.num_layers, req.label_names, layers)
    if req.init in ("teacher", "glove"):
        notes = copy_teacher_layers(model, req.teacher, layers)
    elif req.init == "random":
        notes = ["random"]
    else:
        notes = [load_saved_weights(model, req.init, len(req.label_names), req.source)]
    return BuiltStudent(model, req.teacher_tokenizer, notes=notes)


def build_encoder(arch: ArchitectureBase, shape: StudentShape, teacher: PretrainedConfig) -> torch.nn.Module:
    """The teacher's bare encoder with the student's layers, for general distillation."""
    from transformers import AutoModel

    return AutoModel.from_config(distilbert_config(teacher, shape.num_layers, ["0", "1"]))


FAMILY = register(
    transformer_family(
        name="distilbert",
        title="DistilBERT",
        schema=DistilBERTArchitecture,
        resolve=resolve,
        build=build,
        copies_teacher_layers=True,
        build_encoder=build_encoder,
        minimal={"family": "distilbert"},
        owns={"init_layers": "`init_layers` is for family: distilbert"},
    )
)

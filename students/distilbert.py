"""DistilBERT-style students (Sanh et al. 2019): the teacher's own architecture with fewer layers.

The student is the teacher's config with ``num_layers`` Transformer layers (default half the
teacher's), same width, heads, FFN and vocabulary, so it reads the teacher's tokens and saves as
the same Hugging Face model type. It starts as DistilBERT did: embeddings copied, each student
layer copied from one teacher layer ("one layer out of two"), pooler and classifier copied. Which
teacher layers is ``architecture.init_layers``, default the layer map (``uniform``: 3 of 6 layers
-> [2, 4, 6]; DistilBERT's own choice for 6 of 12 is ``[1, 3, 5, 7, 9, 11]``, 1-based).
"""

from __future__ import annotations

import copy

import torch
from transformers import AutoModelForSequenceClassification, PretrainedConfig

from students.family import STUDENTS, BuildRequest, BuiltStudent, load_saved_weights
from students.init import _bert_parts, copy_relative_bias


def distilbert_config(teacher: PretrainedConfig, num_layers: int, label_names: list[str]) -> PretrainedConfig:
    cfg = copy.deepcopy(teacher)
    cfg.num_hidden_layers = num_layers
    cfg.num_labels = len(label_names)
    cfg.id2label = dict(enumerate(label_names))
    cfg.label2id = {n: i for i, n in enumerate(label_names)}
    return cfg


@torch.no_grad()
def copy_teacher_layers(student: torch.nn.Module, teacher: torch.nn.Module, layers: list[int]) -> list[str]:
    """Copy embeddings, teacher layer ``layers[m-1]`` (1-based) into student layer ``m``, the
    pooler and the classifier. Shapes match by construction."""
    s_emb, s_layers, s_pool = _bert_parts(student)
    t_emb, t_layers, t_pool = _bert_parts(teacher)
    s_emb.load_state_dict(t_emb.state_dict())
    for m, t in enumerate(layers, 1):
        s_layers[m - 1].load_state_dict(t_layers[t - 1].state_dict())
    done = ["embeddings (copied)", f"layers {' '.join(f'{m}<-{t}' for m, t in enumerate(layers, 1))} (copied)"]
    if copy_relative_bias(student, teacher):
        done.append("relative position bias (copied)")
    if s_pool is not None and t_pool is not None:
        s_pool.load_state_dict(t_pool.state_dict())
        done.append("pooler (copied)")
    student.classifier.load_state_dict(teacher.classifier.state_dict())
    done.append("classifier (copied)")
    return done


def build_distilbert(teacher: PretrainedConfig, num_layers: int, label_names: list[str]) -> torch.nn.Module:
    return AutoModelForSequenceClassification.from_config(distilbert_config(teacher, num_layers, label_names))


@STUDENTS.register("distilbert")
def build(req: BuildRequest) -> BuiltStudent:
    model = build_distilbert(req.teacher.config, req.sizes["num_layers"], req.label_names)
    if req.init in ("teacher", "glove"):
        notes = copy_teacher_layers(model, req.teacher, req.init_layers or req.layer_map)
    elif req.init == "random":
        notes = ["random"]
    else:
        notes = [load_saved_weights(model, req.init, len(req.label_names), req.source)]
    return BuiltStudent(model, req.teacher_tokenizer, notes=notes)

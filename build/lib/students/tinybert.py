"""TinyBERT students (Jiao et al. 2020) as plain Hugging Face BERT classifiers.

The student is a ``BertForSequenceClassification`` with the TinyBERT shape (TinyBERT-4: 4 layers,
312 hidden, 12 heads, 1200 FFN; TinyBERT-6: 6 x 768 x 12 x 3072) or any explicit shape, the
teacher's vocabulary and positions, so it shares the teacher's tokenizer and the result saves and
loads with ``from_pretrained`` without this library.
"""

from __future__ import annotations

from transformers import BertConfig, BertForSequenceClassification, PretrainedConfig

from students.family import STUDENTS, BuildRequest, BuiltStudent, load_saved_weights
from students.init import init_from_teacher


def tinybert_config(sizes: dict[str, int], teacher: PretrainedConfig, label_names: list[str], dropout: float | None = None) -> BertConfig:
    """A BertConfig of the given ``sizes`` that reads the teacher's token ids; ``dropout`` (hidden
    and attention) defaults to BERT's 0.1."""
    extra = {} if dropout is None else {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    if sizes["hidden_size"] % sizes["num_heads"]:
        raise ValueError(f"hidden_size {sizes['hidden_size']} is not a multiple of num_heads {sizes['num_heads']}")
    return BertConfig(
        vocab_size=teacher.vocab_size,
        hidden_size=sizes["hidden_size"],
        num_hidden_layers=sizes["num_layers"],
        num_attention_heads=sizes["num_heads"],
        intermediate_size=sizes["intermediate_size"],
        max_position_embeddings=teacher.max_position_embeddings,
        type_vocab_size=getattr(teacher, "type_vocab_size", 2) or 2,
        pad_token_id=teacher.pad_token_id if teacher.pad_token_id is not None else 0,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
        **extra,
    )


def build_tinybert(sizes: dict[str, int], teacher: PretrainedConfig, label_names: list[str], dropout: float | None = None) -> BertForSequenceClassification:
    """A randomly initialised TinyBERT-shaped classifier (BERT's own initialisation)."""
    return BertForSequenceClassification(tinybert_config(sizes, teacher, label_names, dropout))


@STUDENTS.register("tinybert")
def build(req: BuildRequest) -> BuiltStudent:
    """TinyBERT family: BERT of ``req.sizes``; ``init: teacher`` copies or PCA-projects (see init.py)."""
    model = build_tinybert(req.sizes, req.teacher.config, req.label_names, req.arch.dropout)
    if req.init == "teacher":
        notes = init_from_teacher(model, req.teacher, req.layer_map) or ["nothing"]
    elif req.init == "random":
        notes = ["random"]
    else:
        notes = [load_saved_weights(model, req.init, len(req.label_names), req.source)]
    return BuiltStudent(model, req.teacher_tokenizer, notes=notes)

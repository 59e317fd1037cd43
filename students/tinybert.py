"""TinyBERT students (Jiao et al. 2020) as plain Hugging Face BERT classifiers.

The student is a ``BertForSequenceClassification`` with the TinyBERT shape (TinyBERT-4: 4 layers,
312 hidden, 12 heads, 1200 FFN; TinyBERT-6: 6 x 768 x 12 x 3072) or any explicit shape, the
teacher's vocabulary and positions, so it shares the teacher's tokenizer and the result saves and
loads with ``from_pretrained`` without this library.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import model_validator
from transformers import BertConfig, BertForSequenceClassification, PretrainedConfig

from distill.models.dims import ModelDims
from distill.models.layer_importance import teacher_batches
from students import pruned_init
from students.family import (
    ArchitectureBase,
    BuildRequest,
    BuiltStudent,
    StudentShape,
    load_saved_weights,
    register,
    transformer_family,
)
from students.init import init_from_teacher

PRESETS: dict[str, dict[str, int]] = {
    # Jiao et al. 2020, TinyBERT: 4 layers x 312 and 6 layers x 768.
    "tinybert4": {"num_layers": 4, "hidden_size": 312, "num_heads": 12, "intermediate_size": 1200},
    "tinybert6": {"num_layers": 6, "hidden_size": 768, "num_heads": 12, "intermediate_size": 3072},
}


def _teacher_activation(teacher: PretrainedConfig) -> str:
    """The teacher's FFN nonlinearity by name (BERT's ``hidden_act``, DistilBERT's ``activation``) where
    BERT has it, else BERT's gelu."""
    from transformers.activations import ACT2FN

    act = getattr(teacher, "hidden_act", None) or getattr(teacher, "activation", None)
    return act if isinstance(act, str) and act in ACT2FN else "gelu"


def tinybert_config(
    sizes: dict[str, int] | StudentShape,
    teacher: PretrainedConfig,
    label_names: list[str],
    dropout: float | None = None,
    tokenizer=None,
) -> BertConfig:
    """A BertConfig of the given ``sizes`` that reads the teacher's token ids (``tokenizer``: that
    tokenizer's instead, its vocabulary and padding id); ``dropout`` (hidden and attention) defaults
    to BERT's 0.1."""
    if isinstance(sizes, StudentShape):
        sizes = sizes.as_dict()
    extra = (
        {} if dropout is None else {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    )
    if sizes["hidden_size"] % sizes["num_heads"]:
        raise ValueError(
            f"hidden_size {sizes['hidden_size']} is not a multiple of num_heads {sizes['num_heads']}"
        )
    pad = teacher.pad_token_id if teacher.pad_token_id is not None else 0
    if tokenizer is not None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return BertConfig(
        vocab_size=len(tokenizer) if tokenizer is not None else teacher.vocab_size,
        hidden_size=sizes["hidden_size"],
        num_hidden_layers=sizes["num_layers"],
        num_attention_heads=sizes["num_heads"],
        intermediate_size=sizes["intermediate_size"],
        max_position_embeddings=teacher.max_position_embeddings,
        type_vocab_size=getattr(teacher, "type_vocab_size", 2) or 2,
        # the teacher's nonlinearity and LayerNorm epsilon: a student cut from it computes as it does
        hidden_act=_teacher_activation(teacher),
        layer_norm_eps=getattr(teacher, "layer_norm_eps", None) or 1e-12,
        pad_token_id=pad,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
        **extra,
    )


def build_tinybert(
    sizes: dict[str, int] | StudentShape,
    teacher: PretrainedConfig,
    label_names: list[str],
    dropout: float | None = None,
    tokenizer=None,
) -> BertForSequenceClassification:
    """A randomly initialised TinyBERT-shaped classifier (BERT's own initialisation)."""
    return BertForSequenceClassification(tinybert_config(sizes, teacher, label_names, dropout, tokenizer))


class TinyBERTArchitecture(ArchitectureBase):
    """``family: tinybert``: any BERT shape; ``preset`` or ``num_layers`` required."""

    @model_validator(mode="after")
    def _shape_given(self) -> TinyBERTArchitecture:
        if self.preset is None and self.num_layers is None:
            raise ValueError("set `preset` (tinybert4, tinybert6) or `num_layers`")
        self.foreign_checks()
        return self


def resolve(arch: ArchitectureBase, teacher: ModelDims, teacher_ffn: int | None) -> StudentShape:
    """Explicit keys, then the preset, then the teacher's width and heads; FFN 4 x hidden."""
    sizes = dict(PRESETS[arch.preset]) if arch.preset else {}
    for key in ("num_layers", "hidden_size", "num_heads", "intermediate_size"):
        if getattr(arch, key) is not None:
            sizes[key] = getattr(arch, key)
    sizes.setdefault("hidden_size", teacher.hidden_size)
    sizes.setdefault("num_heads", teacher.num_heads)
    sizes.setdefault("intermediate_size", 4 * sizes["hidden_size"])
    return StudentShape.of(sizes)


def teacher_init(teacher: PretrainedConfig, shape: StudentShape) -> tuple[str, str | None]:
    """What ``init: teacher`` does for a student of ``shape``: ``copy`` (the teacher's shapes: copy what
    lines up, init.py), ``pruned`` (narrower in any dimension, cut out of the teacher, pruned_init.py)
    or ``pca`` (narrower, but the teacher cannot be cut: PCA of its embeddings), and for ``pca`` why it
    is not cut. Validate prints it; ``build`` does it."""
    from distill.models.adapters import adapter_for

    s = shape
    full = (
        teacher.hidden_size,
        teacher.num_attention_heads,
        adapter_for(teacher.model_type).ffn_size(teacher),
    )
    if (s.hidden_size, s.num_heads, s.intermediate_size) == full:
        return "copy", None
    why = pruned_init.refusal(teacher, s.hidden_size, s.num_heads, s.intermediate_size, s.num_layers)
    return ("pca", why) if why else ("pruned", None)


def random_layers(init: str, shape: StudentShape, teacher: PretrainedConfig) -> str | None:
    """Why a TinyBERT student's layers start random (the step budget's question), None: from the teacher."""
    if init == "random":
        return "init: random"
    if init == "pca" and teacher_init(teacher, shape)[0] != "copy":
        return "init: pca"
    if init == "teacher" and teacher_init(teacher, shape)[0] == "pca":
        return f"init: teacher, and the teacher cannot be cut: {teacher_init(teacher, shape)[1]}"
    return None


def build(req: BuildRequest) -> BuiltStudent:
    """TinyBERT family: BERT of ``req.shape``. ``init: teacher`` copies what lines up at the teacher's
    shape and cuts a narrower student out of the teacher (:func:`teacher_init`); ``init: pruned``
    insists on the cut (pruned_init.py; validate checks that it applies); ``init: pca`` copies what
    lines up, PCA-projecting the embeddings of a narrower student, layers random (init.py)."""
    model = build_tinybert(req.shape, req.teacher.config, req.label_names, req.arch.dropout, req.tokenizer)
    if req.tokenizer is not None:  # its own tokens: nothing of the teacher's embeddings applies (validate)
        notes = [
            "random"
            if req.init == "random"
            else load_saved_weights(model, req.init, len(req.label_names), req.source)
        ]
        notes.append(f"its own tokenizer ({len(req.tokenizer):,} tokens)")
        return BuiltStudent(model, req.tokenizer, own_tokenizer=True, notes=notes)
    if req.init in ("teacher", "pca", "pruned"):
        device = next(req.teacher.parameters()).device
        notes, channels = init_encoder(
            model,
            req.teacher,
            req.layer_map,
            req.init,
            lambda: teacher_batches(req.teacher_tokenizer, req.texts, device),
        )
        return BuiltStudent(model, req.teacher_tokenizer, notes=notes, channels=channels)
    if req.init == "random":
        notes = ["random"]
    else:
        notes = [load_saved_weights(model, req.init, len(req.label_names), req.source)]
    return BuiltStudent(model, req.teacher_tokenizer, notes=notes)


def init_encoder(student, teacher, layer_map: list[int], init: str, batches: Callable[[], list[dict]]):
    """``init: teacher | pruned | pca`` of a TinyBERT classifier (:func:`build`) or of general
    distillation's bare encoder: the teacher's shape is copied, a narrower one cut out of the teacher
    (importance over ``batches()``, run only for a cut) where it can be and ``init`` allows, else PCA
    embeddings and random layers. Returns (what was done, the kept channels of a cut or None)."""
    c = student.config
    shape = StudentShape.of(
        {
            "num_layers": c.num_hidden_layers,
            "hidden_size": c.hidden_size,
            "num_heads": c.num_attention_heads,
            "intermediate_size": c.intermediate_size,
        }
    )
    how, why = teacher_init(teacher.config, shape) if init == "teacher" else (init, None)
    if how == "pruned":
        if not pruned_init.applies(student, teacher):
            raise ValueError("init: pruned does not apply to this teacher and shape (validate checks it)")
        imp = pruned_init.importance(teacher, batches())
        notes = pruned_init.pruned_copy(student, teacher, layer_map, imp)
        return notes, pruned_init.kept_channels(imp, c.hidden_size)
    notes = init_from_teacher(student, teacher, layer_map) or ["nothing"]
    return notes + ([f"not cut out of the teacher ({why})"] if why else []), None


def build_encoder(arch: ArchitectureBase, shape: StudentShape, teacher: PretrainedConfig):
    """The bare BERT encoder general distillation trains (no classifier)."""
    from transformers import AutoModel

    return AutoModel.from_config(tinybert_config(shape, teacher, ["0", "1"], arch.dropout))


FAMILY = register(
    transformer_family(
        name="tinybert",
        title="TinyBERT",
        schema=TinyBERTArchitecture,
        resolve=resolve,
        build=build,
        copies_teacher_layers=False,
        build_encoder=build_encoder,
        init_encoder=init_encoder,
        minimal={"family": "tinybert", "preset": "tinybert4"},
        inits=("random", "teacher", "pruned", "pca"),
        own_tokenizer=True,
        random_layers=random_layers,
        deployed_type=lambda teacher: "bert",
        owns={
            "dropout": "`dropout` is for family: tinybert (distilbert keeps the teacher's, bilstm has `bilstm.dropout`)"
        },
    )
)

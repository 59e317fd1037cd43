"""The students registry: family name (``architecture.family``) -> :class:`StudentFamily`, like ``OBJECTIVES``.

A family is one registered object that says everything the rest of the toolkit asks about it: the
schema of its ``architecture:`` block, its shape against the teacher (a :class:`StudentShape`),
the one line ``distill validate`` prints for it, what it supports (general distillation, layer
maps, intermediate objectives), how it is built and how a saved one is loaded. A new family is one
module that registers one of these (and its name in ``students.FAMILIES``); nothing else branches
on family names.

A builder takes a :class:`BuildRequest` (the resolved config, the loaded teacher, the training
texts) and returns a :class:`BuiltStudent`: the model, the tokenizer it reads (the teacher's for
Transformer students, its own for the BiLSTM) and what its initialisation did, for the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from torch import nn

from distill.core.errors import ConfigError
from distill.core.registry import Registry
from distill.core.schema import PositiveInt, Probability
from distill.models.dims import ModelDims
from students.bilstm_block import BiLSTMConfig
from students.init import init_from_teacher

SHAPE_KEYS = ("num_layers", "hidden_size", "num_heads", "intermediate_size")
DEFAULT_FAMILY = "tinybert"  # an `architecture:` block without `family`


@dataclass(frozen=True)
class StudentShape:
    """The student's resolved sizes (a BiLSTM: no layers or heads, its pooled width as ``hidden_size``,
    its ReLU layer as ``intermediate_size``). ``order`` is only the key order that config.resolved.yaml
    has always shown (which keys were given first); it takes no part in comparisons."""

    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    order: tuple[str, ...] = field(default=SHAPE_KEYS, compare=False, repr=False)

    @classmethod
    def of(cls, sizes: dict[str, int]) -> StudentShape:
        """From a sizes dict with all of :data:`SHAPE_KEYS`, keeping its key order."""
        return cls(**{k: sizes[k] for k in SHAPE_KEYS}, order=tuple(sizes))

    def as_dict(self) -> dict[str, int]:
        """``student.architecture.resolved`` of config.resolved.yaml."""
        return {k: getattr(self, k) for k in self.order}

    def dims(self) -> ModelDims:
        """What the objectives are built for."""
        return ModelDims(self.hidden_size, self.num_heads, self.num_layers)


def _known_family(value: Any) -> Any:
    names = family_names()
    if value not in names:  # worded as the Literal of the names was
        raise PydanticCustomError(
            "literal_error",
            "Input should be {expected}",
            {"expected": ", ".join(map(repr, names[:-1])) + f" or {names[-1]!r}"},
        )
    return value


class ArchitectureBase(BaseModel):
    """The keys of an ``architecture:`` block. Every family's schema has them all, so a key meant for
    another family is refused by the family's own check with a message that says whose key it is."""

    model_config = ConfigDict(extra="forbid")

    family: str = DEFAULT_FAMILY
    preset: Literal["tinybert4", "tinybert6"] | None = None
    num_layers: PositiveInt | None = None
    hidden_size: PositiveInt | None = Field(None, description="default: the teacher's")
    num_heads: PositiveInt | None = Field(None, description="default: the teacher's")
    intermediate_size: PositiveInt | None = Field(None, description="default: 4 x hidden_size")
    init_layers: list[PositiveInt] | None = Field(
        None, description="distilbert: teacher layers to copy; default: the layer map"
    )
    dropout: Probability | None = Field(
        None, description="tinybert: hidden and attention dropout; default: BERT's 0.1"
    )
    bilstm: BiLSTMConfig | None = None

    @field_validator("family", mode="before")
    @classmethod
    def _family_known(cls, value: Any) -> Any:
        return _known_family(value)

    def given(self, *keys: str) -> list[str]:
        return [k for k in keys if getattr(self, k) is not None]

    def foreign_checks(self) -> None:
        """Refuse a key that another family owns (its ``owns``: key -> message), after the family's own
        checks; the families are asked in reverse registration order (the BiLSTM's block first)."""
        for name in reversed(_ORDER):
            if name != self.family:
                for key, message in STUDENTS.get(name).owns.items():
                    if getattr(self, key) is not None:
                        raise ValueError(message.format(family=self.family))

    @property
    def student_family(self) -> StudentFamily:
        return STUDENTS.get(self.family)

    def shape(
        self, teacher_hidden: int, teacher_heads: int, teacher_layers: int = 0, teacher_ffn: int | None = None
    ) -> StudentShape:
        """Concrete sizes against the teacher's (see the family's ``resolve``)."""
        return self.student_family.resolve(
            self, ModelDims(teacher_hidden, teacher_heads, teacher_layers), teacher_ffn
        )

    def resolved(
        self, teacher_hidden: int, teacher_heads: int, teacher_layers: int = 0, teacher_ffn: int | None = None
    ) -> dict[str, int]:
        """:meth:`shape` as the dict config.resolved.yaml shows."""
        return self.shape(teacher_hidden, teacher_heads, teacher_layers, teacher_ffn).as_dict()


@dataclass
class BuildRequest:
    arch: ArchitectureBase  # the family's validated `architecture:` block
    shape: StudentShape  # resolved against the teacher
    teacher: nn.Module  # the loaded teacher classifier
    teacher_tokenizer: object
    label_names: list[str]
    texts: list[str]  # training texts (both sides of pairs), for a word vocabulary
    pair: bool  # sentence-pair task
    init: str  # random | teacher | glove | general:<path> | <path>
    layer_map: list[int]
    init_layers: list[int] | None = None  # distilbert: teacher layers to copy
    source: str = "student.yaml"
    tokenizer: object | None = None  # student.yaml `tokenizer:`, loaded: the student reads its own tokens


@dataclass
class BuiltStudent:
    model: nn.Module
    tokenizer: object
    own_tokenizer: bool = False
    notes: list[str] = field(default_factory=list)
    # A student cut out of its teacher: the teacher channel behind each student channel (starts W_h/W_e)
    channels: list[int] | None = None


@dataclass(frozen=True)
class StudentFamily:
    """One student family, as everything outside its module sees it."""

    name: str  # architecture.family
    title: str  # as messages name it: "BiLSTM student"
    schema: type[ArchitectureBase]  # its `architecture:` block
    # (arch, teacher dims, teacher FFN) -> the student's shape
    resolve: Callable[[ArchitectureBase, ModelDims, int | None], StudentShape]
    # validate's one line: (arch, shape, layer map) -> text
    describe: Callable[[ArchitectureBase, StudentShape, list[int] | str], str]
    build: Callable[[BuildRequest], BuiltStudent]
    load: Callable[[Path], tuple[nn.Module, object]]  # a saved student folder -> (model, tokenizer)
    # (saved folder, shape, teacher config, source): a saved student given as `init` fits the shape
    check_init: Callable[[str, StudentShape, object, str], None]
    # (arch, shape, teacher config, labels) -> fp32 bytes of the saved student (the pre-flight's disk estimate)
    weight_bytes: Callable[[ArchitectureBase, StudentShape, object, int], int]
    features: frozenset[str]  # what it exposes in `Features` (checked against the objectives' `needs`)
    is_transformer: bool  # layers, heads, a layer map; prunable, BERT-optimisable
    # `init: teacher` copies whole teacher layers (the sanity advice suggests such a family)
    copies_teacher_layers: bool
    # The encoder general distillation trains, (arch, shape, teacher config) -> nn.Module; None: not supported.
    build_encoder: Callable[[ArchitectureBase, StudentShape, object], nn.Module] | None = None
    model_type: str | None = (
        None  # the config.json model_type of its own saved format; None: a Hugging Face model
    )
    minimal: dict[str, Any] = field(default_factory=dict)  # the smallest `architecture:` block it takes
    # student.yaml `tokenizer:` (a tokenizer of its own, not the teacher's) is taken by its build
    own_tokenizer: bool = False
    inits: tuple[str, ...] = ("random", "teacher")  # the word inits it takes besides a saved folder
    # its own keys of the shared block -> the message for another family
    owns: dict[str, str] = field(default_factory=dict)
    # (init, shape, teacher config) -> why its Transformer layers start random ("init: random"), None
    # when they start from the teacher (or it has none): the step budget (distillation/sanity.py)
    random_layers: Callable[[str, StudentShape, object], str | None] = lambda init, shape, teacher: (
        "init: random" if init == "random" else None
    )
    # teacher config -> the config.json model_type of the saved student (which export graphs apply)
    deployed_type: Callable[[object], str] = lambda teacher: teacher.model_type
    # general distillation's `init: teacher | pca | pruned` of the encoder: (encoder, teacher encoder,
    # layer map, init, () -> importance batches) -> (what was done, the kept channels of a cut or None)
    init_encoder: Callable[
        [nn.Module, nn.Module, list[int], str, Callable[[], list[dict]]], tuple[list[str], list[int] | None]
    ] = lambda student, teacher, layer_map, init, batches: (
        init_from_teacher(student, teacher, layer_map),
        None,
    )

    @property
    def general(self) -> bool:
        """Supports general distillation (intermediate objectives on a corpus)."""
        return self.build_encoder is not None


STUDENTS: Registry[StudentFamily] = Registry("student family")
_ORDER: list[str] = []  # registration order: how messages list the families


def register(family: StudentFamily) -> StudentFamily:
    STUDENTS.register(family.name)(family)
    _ORDER.append(family.name)
    return family


def family_names() -> list[str]:
    """The registered families, in ``students.FAMILIES`` order."""
    return list(_ORDER)


def saved_family(model_type: str | None) -> StudentFamily | None:
    """The family whose own saved format has this config.json ``model_type`` (None: a Hugging Face model)."""
    return next(
        (STUDENTS.get(n) for n in _ORDER if STUDENTS.get(n).model_type == model_type and model_type), None
    )


def load_hf(path: Path) -> tuple[nn.Module, object]:
    """A saved Hugging Face classifier and its tokenizer (the Transformer families' ``load``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def check_hf_init(path: str, shape: StudentShape, teacher: object, source: str) -> None:
    """A saved Transformer student given as ``init`` must fit the shape, read from its config.json; only
    what changes a tensor's shape is compared (as :func:`load_saved_weights` does)."""
    import json

    try:
        saved = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{source}: init: {path!r}: config.json cannot be read ({e})") from None
    exact = {
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "vocab_size": getattr(teacher, "vocab_size", None),
    }
    wrong = [
        f"{k} {saved[k]} (the student's: {v})"
        for k, v in exact.items()
        if v is not None and k in saved and saved[k] != v
    ]
    if isinstance(saved.get("num_hidden_layers"), int) and saved["num_hidden_layers"] < shape.num_layers:
        wrong.append(f"num_hidden_layers {saved['num_hidden_layers']} (the student has {shape.num_layers})")
    if wrong:
        raise ConfigError(
            f"{source}: init: {path!r} does not fit this architecture: its config.json has {', '.join(wrong)}"
        )


def transformer_bytes(vocab: int, positions: int, hidden: int, layers: int, ffn: int, labels: int) -> int:
    """fp32 bytes of a BERT-shaped classifier: embeddings, per layer attention + FFN + norms, pooler, head."""
    per_layer = 4 * (hidden * hidden + hidden) + 2 * hidden * ffn + ffn + hidden + 4 * hidden
    return 4 * (
        (vocab + positions + 2) * hidden
        + 2 * hidden
        + layers * per_layer
        + hidden * hidden
        + hidden
        + (hidden + 1) * labels
    )


def hf_weight_bytes(arch: ArchitectureBase, shape: StudentShape, teacher: object, labels: int) -> int:
    """A Transformer student's size, estimated from its shape before it is built."""
    return transformer_bytes(
        getattr(teacher, "vocab_size", 30522),
        getattr(teacher, "max_position_embeddings", 512),
        shape.hidden_size,
        shape.num_layers,
        shape.intermediate_size,
        labels,
    )


def describe_transformer(arch: ArchitectureBase, shape: StudentShape, layer_map: list[int] | str) -> str:
    return (
        f"{shape.num_layers} layers x {shape.hidden_size} ({shape.num_heads} heads, FFN {shape.intermediate_size}), "
        f"layer map {layer_map}"
    )


TRANSFORMER_FEATURES = frozenset({"logits", "embeddings", "hidden", "attn", "qkv"})


def transformer_family(**fields: Any) -> StudentFamily:
    """A family whose students are Hugging Face transformer classifiers: saved and loaded with
    ``save_pretrained``/``from_pretrained``, a saved ``init`` checked from its config.json, every
    intermediate feature exposed, validate's line from the shape. ``fields`` give the rest (name,
    title, schema, resolve, build, ...) and may override any of these."""
    defaults = dict(
        describe=describe_transformer,
        load=load_hf,
        check_init=check_hf_init,
        weight_bytes=hf_weight_bytes,
        features=TRANSFORMER_FEATURES,
        is_transformer=True,
    )
    return StudentFamily(**{**defaults, **fields})


def load_saved_weights(model: nn.Module, init: str, num_labels: int, source: str) -> str:
    """``init: general:<path>`` or ``<path>``: load a saved Transformer student's weights by name
    (a mismatched classifier, e.g. from general distillation, is left as initialised)."""
    from transformers import AutoModelForSequenceClassification

    path = init.removeprefix("general:")
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(f"{source}: init: {path!r} is not a saved student folder (no config.json)")
    loaded = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=num_labels, ignore_mismatched_sizes=True
    )
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

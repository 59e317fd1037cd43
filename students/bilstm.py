"""The BiLSTM student of Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple
Neural Networks".

Single sentence: word embedding (GloVe-initialised) -> 1-layer BiLSTM (``hidden`` units per
direction) -> max-pool over time -> ReLU layer -> logits. Sentence pairs (siamese): both sentences
go through the same encoder to ``h1``, ``h2``, and the classifier reads
``[h1; h2; h1 ⊙ h2; |h1 - h2|]``.

It takes the same batch a Hugging Face classifier takes (``input_ids``, ``attention_mask``,
``token_type_ids`` marking the second sentence of a pair) and returns an output with ``.logits``,
so evaluation, speed measurement and the distiller treat it like the Transformer students. It
saves to a folder (``config.json`` with ``model_type: distill-bilstm``, ``model.safetensors``,
``vocab.json``) that :func:`students.load` reads back without the training code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from pydantic import model_validator
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers.modeling_outputs import SequenceClassifierOutput

from distill.core.atomic import write_text
from distill.core.errors import ConfigError
from distill.models.dims import ModelDims
from students.bilstm_block import BiLSTMConfig
from students.family import (
    ArchitectureBase,
    BuildRequest,
    BuiltStudent,
    StudentFamily,
    StudentShape,
    register,
)
from students.init import init_embeddings
from students.word_tokenizer import WordTokenizer

MODEL_TYPE = "distill-bilstm"


class BiLSTMArchitecture(ArchitectureBase):
    """``family: bilstm``: word-level BiLSTM with its own tokenizer; sized by the ``bilstm`` block."""

    @model_validator(mode="after")
    def _sized_by_its_block(self) -> BiLSTMArchitecture:
        if (
            self.given("preset", "hidden_size", "num_heads", "intermediate_size")
            or self.num_layers
            or self.init_layers
        ):
            raise ValueError(
                "family bilstm is sized by the `bilstm:` block (hidden, mlp), not by Transformer sizes"
            )
        self.foreign_checks()
        if self.bilstm is None:
            self.bilstm = BiLSTMConfig()
        return self


@dataclass
class BiLSTMSettings:
    vocab_size: int
    embedding_dim: int
    hidden: int = 300
    mlp: int = 400
    num_labels: int = 2
    dropout: float = 0.1
    pair: bool = False
    id2label: dict[int, str] | None = None
    # the task, as a Hugging Face config records it (distill.compress.scoring reads both)
    problem_type: str | None = None
    label_thresholds: list[float] | None = None  # a multi-label model's, tuned on dev


def max_pool(states: Tensor, mask: Tensor) -> Tensor:
    """Max over real time steps: states (batch, seq, 2h), mask (batch, seq) -> (batch, 2h)."""
    return states.masked_fill(~mask.bool()[..., None], torch.finfo(states.dtype).min).amax(1)


def second_sentence(ids: Tensor, mask: Tensor, types: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split concatenated pairs: ids/mask/types (batch, seq) with sentence 1 (type 0) first ->
    (ids_1, mask_1), (ids_2, mask_2) each (batch, seq), sentence 2 shifted to the start."""
    mask = mask.long()
    first = mask * (types == 0)
    shift = first.sum(1, keepdim=True)  # (batch, 1): length of sentence 1
    pos = torch.arange(ids.size(1), device=ids.device)[None, :] + shift  # (batch, seq)
    inside = pos < ids.size(1)
    pos = pos.clamp_max(ids.size(1) - 1)
    mask2 = torch.gather(mask * (types == 1), 1, pos) * inside
    return torch.gather(ids, 1, pos) * mask2, first, mask2


class BiLSTMClassifier(nn.Module):
    def __init__(self, settings: BiLSTMSettings) -> None:
        super().__init__()
        self.settings = settings
        s = settings
        self.embedding = nn.Embedding(s.vocab_size, s.embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(s.embedding_dim, s.hidden, num_layers=1, batch_first=True, bidirectional=True)
        features = 2 * s.hidden * (4 if s.pair else 1)
        self.classifier = nn.Sequential(
            nn.Dropout(s.dropout),
            nn.Linear(features, s.mlp),
            nn.ReLU(),
            nn.Dropout(s.dropout),
            nn.Linear(s.mlp, s.num_labels),
        )

    def encode(self, ids: Tensor, mask: Tensor) -> Tensor:
        """(batch, seq) word ids -> (batch, 2·hidden) max-pooled BiLSTM states (padding skipped)."""
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(ids), lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
        real = mask.bool().clone()
        real[:, 0] = True  # a sentence always has one token ([UNK] for an empty text)
        return max_pool(states, real)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        **_: object,
    ) -> SequenceClassifierOutput:
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        if self.settings.pair:
            types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            ids2, mask1, mask2 = second_sentence(input_ids, mask, types)
            h1, h2 = self.encode(input_ids * mask1, mask1), self.encode(ids2, mask2)
            features = torch.cat([h1, h2, h1 * h2, (h1 - h2).abs()], dim=-1)  # (batch, 8·hidden)
        else:
            features = self.encode(input_ids, mask)  # (batch, 2·hidden)
        return SequenceClassifierOutput(logits=self.classifier(features))

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors")
        )
        write_text(
            folder / "config.json", json.dumps({"model_type": MODEL_TYPE, **asdict(self.settings)}, indent=2)
        )

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> BiLSTMClassifier:
        folder = Path(folder)
        cfg = json.loads((folder / "config.json").read_text())
        cfg.pop("model_type")
        if cfg.get("id2label"):
            cfg["id2label"] = {int(k): v for k, v in cfg["id2label"].items()}
        model = cls(BiLSTMSettings(**cfg))
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model.eval()


def build(req: BuildRequest) -> BuiltStudent:
    """Word vocabulary from the training texts, embeddings from GloVe (``init: teacher``/``glove``;
    a BiLSTM has no teacher layers to copy), ``random``, or a saved BiLSTM folder."""
    cfg = req.arch.bilstm
    if req.init not in ("teacher", "glove", "random"):
        path = req.init.removeprefix("general:")
        if not (Path(path) / "vocab.json").is_file():
            raise ConfigError(
                f"{req.source}: init: {path!r} is not a saved BiLSTM student folder (no vocab.json)"
            )
        model, tok = BiLSTMClassifier.from_pretrained(path), WordTokenizer.from_pretrained(path)
        return BuiltStudent(
            model.train(), tok, own_tokenizer=True, notes=[f"weights and vocabulary from {path}"]
        )
    from distill.core.vectors import load_vectors

    tok = WordTokenizer.build(req.texts, cfg.max_vocab, cfg.min_freq)
    kv, identity = load_vectors(cfg.vectors, key=f"{req.source}: architecture.bilstm.vectors")
    settings = BiLSTMSettings(
        vocab_size=len(tok),
        embedding_dim=kv.vector_size,
        hidden=cfg.hidden,
        mlp=cfg.mlp,
        num_labels=len(req.label_names),
        dropout=cfg.dropout,
        pair=req.pair,
        id2label=dict(enumerate(req.label_names)),
    )
    model = BiLSTMClassifier(settings)
    notes = [f"vocabulary {len(tok)} words ([PAD], [UNK] + training words)"]
    if req.init != "random":
        found = init_embeddings(model.embedding.weight, tok.words, kv)
        notes.append(
            f"embeddings from {identity.split(':')[0] if identity.startswith('/') else identity}: "
            f"{found}/{len(tok) - 2} words found, the rest random, [UNK] zero"
        )
    model.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
    return BuiltStudent(model, tok, own_tokenizer=True, notes=notes)


def resolve(arch: BiLSTMArchitecture, teacher: ModelDims, teacher_ffn: int | None) -> StudentShape:
    """No layers or heads; the pooled width (both directions) as ``hidden_size``, the ReLU layer as the FFN."""
    return StudentShape(
        num_layers=0, hidden_size=2 * arch.bilstm.hidden, num_heads=0, intermediate_size=arch.bilstm.mlp
    )


def describe(arch: BiLSTMArchitecture, shape: StudentShape, layer_map: list[int] | str) -> str:
    return f"BiLSTM {arch.bilstm.hidden} x 2 directions, MLP {arch.bilstm.mlp}"


def load(path: Path) -> tuple[BiLSTMClassifier, WordTokenizer]:
    return BiLSTMClassifier.from_pretrained(path), WordTokenizer.from_pretrained(path)


def check_init(path: str, shape: StudentShape, teacher: object, source: str) -> None:
    if not (Path(path) / "vocab.json").is_file():
        raise ConfigError(f"{source}: init: {path!r} is not a saved BiLSTM student folder (no vocab.json)")


def weight_bytes(arch: BiLSTMArchitecture, shape: StudentShape, teacher: object, labels: int) -> int:
    """Its size before it is built (the vocabulary at its cap)."""
    b = arch.bilstm
    # the packaged GloVe is 50-d; a user's file is at most 300-d, typically
    emb = 50 if b.vectors is None else 300
    return 4 * (
        b.max_vocab * emb + 8 * (emb + b.hidden + 1) * b.hidden + 2 * b.hidden * b.mlp + (b.mlp + 1) * labels
    )


FAMILY = register(
    StudentFamily(
        name="bilstm",
        title="BiLSTM",
        schema=BiLSTMArchitecture,
        resolve=resolve,
        describe=describe,
        build=build,
        load=load,
        check_init=check_init,
        weight_bytes=weight_bytes,
        features=frozenset({"logits"}),
        is_transformer=False,
        copies_teacher_layers=False,
        model_type=MODEL_TYPE,
        inits=("random", "teacher", "glove"),
        # small and quick to train: its sanity check suffices
        random_layers=lambda init, shape, teacher: None,
        deployed_type=lambda teacher: MODEL_TYPE,
        minimal={"family": "bilstm"},
        owns={"bilstm": "the `bilstm:` block needs family: bilstm, got family {family}"},
    )
)

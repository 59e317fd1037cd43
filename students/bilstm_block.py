"""The ``bilstm:`` sub-block of ``architecture:`` (the BiLSTM family's sizes and vocabulary), apart from
the model code: every family's schema has the key (see ``students.family.ArchitectureBase``), so a
block given to another family is type-checked as it always was before that family refuses it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from distill.core.schema import PositiveInt, Probability


class BiLSTMConfig(BaseModel):
    """The BiLSTM student (Tang et al. 2019): GloVe embeddings -> 1-layer BiLSTM -> max-pool -> ReLU MLP."""

    model_config = ConfigDict(extra="forbid")

    hidden: PositiveInt = Field(300, description="LSTM units per direction")
    mlp: PositiveInt = Field(400, description="units of the ReLU layer before the logits")
    dropout: Probability = 0.1
    vectors: str | None = Field(None, description="word2vec/GloVe file; default: the packaged GloVe 6B 50-d")
    max_vocab: PositiveInt = Field(
        50_000, description="most frequent training words kept; others map to [UNK]"
    )
    min_freq: PositiveInt = 1
    freeze_embeddings: bool = False

    @field_validator("vectors")
    @classmethod
    def _vectors_exist(cls, vectors: str | None) -> str | None:
        if vectors is not None and not Path(vectors).expanduser().is_file():
            raise ValueError("no such vectors file")
        return vectors

"""Embedding-layer distillation (TinyBERT, Jiao et al. 2020, eq. 10)."""

from __future__ import annotations

from torch import Tensor

from distill.models.features import Features
from distill.objectives.base import OBJECTIVES, ModelDims, Objective, WeightOnly, masked_mse, projection


def embedding_mse(student_emb: Tensor, teacher_emb: Tensor, mask: Tensor) -> Tensor:
    """``L_emb = MSE(E_S W_e, E_T)`` over real tokens; pass ``E_S W_e`` already projected."""
    return masked_mse(student_emb, teacher_emb, mask)


@OBJECTIVES.register("emb")
class EmbeddingMSE(Objective):
    """``L_emb = MSE(E_S W_e, E_T)``: the student's embedding-layer output, projected by a learned
    ``W_e`` (student width -> teacher width; identity when equal), matches the teacher's.

    YAML::

        objectives:
          emb: {weight: 1.0}
    """

    needs = frozenset({"embeddings"})
    unit = "token"
    Params = WeightOnly

    def __init__(self, params: WeightOnly, student: ModelDims, teacher: ModelDims) -> None:
        super().__init__(params, student, teacher)
        self.W_e = projection(student.hidden_size, teacher.hidden_size)

    def forward(self, student: Features, teacher: Features, labels: Tensor) -> Tensor:
        return embedding_mse(self.W_e(student.embeddings), teacher.embeddings, student.mask)

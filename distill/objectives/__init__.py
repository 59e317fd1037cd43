"""Distillation objectives, one family per file, selected by name in student.yaml.

=============  =====================================================  ==========================
YAML name      loss                                                   file
=============  =====================================================  ==========================
``emb``        ``MSE(E_S W_e, E_T)``                                  embedding.py
``hidden``     ``Σ_m MSE(H_S^m W_h, H_T^{g(m)})``                     hidden.py
``hidden_cos`` ``1 - cos(h_S, h_T)``                                  hidden.py
``attn``       ``Σ_m 1/h Σ_i MSE(A_i^S, A_i^T)``, pre-softmax scores  attention.py
``relation``   ``Σ_{Q,K,V} 1/R Σ_r KL(rel_T ‖ rel_S)`` (MiniLMv2)         relation.py
``pred``       ``-softmax(z_T/t) · log_softmax(z_S/t)``               prediction.py
``kd_kl``      ``T² KL(p_T ‖ p_S)``                                   prediction.py
``logit_mse``  ``mean (z_S - z_T)²``                                  prediction.py
``ce``         cross-entropy with the gold labels                      prediction.py
``mse``        ``mean (y_S - y)²`` with the gold targets (regression)   prediction.py
``bce``        per-label BCE with the 0/1 targets (multi-label)          multilabel.py
``soft_bce``   ``T² mean BCE(σ(z_S/T), σ(z_T/T))`` (multi-label)         multilabel.py
=============  =====================================================  ==========================
"""

from distill.objectives import attention, embedding, hidden, multilabel, prediction, relation  # noqa: F401
from distill.objectives.base import OBJECTIVES, ModelDims, Objective

__all__ = ["OBJECTIVES", "ModelDims", "Objective"]

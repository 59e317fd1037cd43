"""nlpaug's ContextualWordEmbsAug through our adapter, with a tiny local BERT (no hub)."""

from __future__ import annotations

import numpy as np

from augment.nlpaug_adapter import NlpaugStrategy
from tests.augment.conftest import VOCAB

WORDS = ["the", "flight", "was", "late", "and", "the", "food", "was", "cold"]


def contextual(tiny_mlm) -> NlpaugStrategy:
    args = {
        "model_path": str(tiny_mlm),
        "model_type": "bert",
        "action": "substitute",
        "aug_p": 0.5,
        "top_k": 5,
        "device": "cpu",
    }
    return NlpaugStrategy("ContextualWordEmbsAug", args)


def test_contextual_word_embs_aug_works_with_transformers_5_and_is_seeded(tiny_mlm):
    import nlpaug.model.lang_models as nml

    originals = (nml.Bert, nml.DistilBert, nml.Roberta)
    strategy = contextual(tiny_mlm)
    assert (nml.Bert, nml.DistilBert, nml.Roberta) == originals  # the shim is gone after building
    out = strategy.apply([WORDS] * 6, None, np.random.default_rng(0))
    assert out == strategy.apply([WORDS] * 6, None, np.random.default_rng(0))  # same generator, same copies
    assert out != strategy.apply([WORDS] * 6, None, np.random.default_rng(1))
    assert all(len(c) == len(WORDS) for c in out)  # substitution keeps the length
    changed = [(w, orig) for c in out for w, orig in zip(c, WORDS, strict=True) if w != orig]
    assert len(changed) >= 6  # aug_p = 0.5 of 9 words, 6 copies
    allowed = {w for w in VOCAB if w.isalpha()}  # whole words of the tiny vocab: no [CLS], no ##pieces
    assert {w for w, _ in changed} <= allowed

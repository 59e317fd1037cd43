"""Tiny randomly initialised MPNet models and an MPNet tokenizer on a hand-made vocabulary."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

from tests.conftest import WORDS

# MPNet's embeddings fix padding_idx at 1, so <pad> must be id 1 (as in all-mpnet-base-v2's vocab).
SPECIALS = ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"]


def tiny_mpnet_tokenizer() -> MPNetTokenizer:
    return MPNetTokenizer(vocab={t: i for i, t in enumerate([*SPECIALS, *WORDS])})


def tiny_mpnet_config(**kw) -> MPNetConfig:
    base = dict(
        vocab_size=len(SPECIALS) + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=66,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    base.update(kw)
    return MPNetConfig(**base)


def save_tiny_mpnet(folder: Path, **kw) -> Path:
    """A bare MPNetModel (no classifier, like all-mpnet-base-v2) and its tokenizer, saved."""
    torch.manual_seed(0)
    model = MPNetModel(tiny_mpnet_config(**kw))
    with torch.no_grad():  # the init leaves the relative-position bias at 0: make it matter in the tests
        model.encoder.relative_attention_bias.weight.normal_(0.0, 1.0)
    model.save_pretrained(folder)
    tiny_mpnet_tokenizer().save_pretrained(folder)
    return folder


def save_tiny_mpnet_classifier(folder: Path, seed: int = 0, **kw) -> Path:
    """A fine-tuned-looking MPNetForSequenceClassification (labels neg/pos) and its tokenizer, saved:
    what a teacher step makes of all-mpnet-base-v2. initializer_range 0.2 (not 0.02) spreads the
    logits so that agreement between two predictors means something."""
    from transformers import MPNetForSequenceClassification

    torch.manual_seed(seed)
    cfg = tiny_mpnet_config(
        initializer_range=0.2,
        num_labels=2,
        id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1},
        **kw,
    )
    model = MPNetForSequenceClassification(cfg)
    with torch.no_grad():
        model.mpnet.encoder.relative_attention_bias.weight.normal_(0.0, 1.0)
    model.save_pretrained(folder)
    tiny_mpnet_tokenizer().save_pretrained(folder)
    return folder

"""Tiny randomly initialised models of every registered encoder family, built from configs (no downloads).

``CONFIGS`` holds one entry per family adapter (distill.models.adapters): adding a family is its
adapter file plus one entry here, and every contract test is parametrized over this dict.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AlbertConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    BertConfig,
    BertTokenizerFast,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    ErnieConfig,
    ModernBertConfig,
    MPNetConfig,
    PretrainedConfig,
    RobertaConfig,
)

from tests.conftest import WORDS, write_vocab

VOCAB = 5 + len(WORDS)  # the tiny BERT tokenizer's: [PAD]=0 [UNK] [CLS] [SEP] [MASK] + words
COMMON = dict(vocab_size=VOCAB, pad_token_id=0)
SIZES = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)
NO_TOKEN_TYPES = ("roberta", "distilbert", "modernbert", "mpnet")  # their tokenizers produce none
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _deberta() -> PretrainedConfig:
    # DeBERTa-v3's settings: relative attention with c2p and p2c, shared keys, log buckets, no
    # absolute positions, no token types.
    return DebertaV2Config(
        **COMMON,
        **SIZES,
        **NO_DROPOUT,
        max_position_embeddings=64,
        relative_attention=True,
        pos_att_type=["p2c", "c2p"],
        position_buckets=8,
        max_relative_positions=-1,
        position_biased_input=False,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        type_vocab_size=0,
    )


def _modernbert() -> PretrainedConfig:
    # A window of 4 tokens (2 each side) so that sequences of 7+ tokens meet its edge; layers
    # [global, local, local, global].
    return ModernBertConfig(
        **COMMON,
        **SIZES,
        max_position_embeddings=64,
        local_attention=4,
        global_attn_every_n_layers=3,
        attention_dropout=0.0,
        embedding_dropout=0.0,
        mlp_dropout=0.0,
        bos_token_id=2,
        eos_token_id=3,
        cls_token_id=2,
        sep_token_id=3,
    )


CONFIGS = {
    "bert": lambda: BertConfig(**COMMON, **SIZES, **NO_DROPOUT, max_position_embeddings=64),
    "roberta": lambda: RobertaConfig(
        **COMMON, **SIZES, **NO_DROPOUT, max_position_embeddings=66, type_vocab_size=1
    ),
    "electra": lambda: ElectraConfig(
        **COMMON, **SIZES, **NO_DROPOUT, embedding_size=16, max_position_embeddings=64
    ),
    "distilbert": lambda: DistilBertConfig(
        vocab_size=VOCAB,
        pad_token_id=0,
        dim=32,
        n_layers=4,
        n_heads=4,
        hidden_dim=64,
        dropout=0.0,
        attention_dropout=0.0,
        max_position_embeddings=64,
    ),
    "albert": lambda: AlbertConfig(
        **COMMON, **SIZES, **NO_DROPOUT, embedding_size=16, max_position_embeddings=64, num_hidden_groups=1
    ),
    "deberta-v2": _deberta,
    "modernbert": _modernbert,
    "ernie": lambda: ErnieConfig(
        **COMMON, **SIZES, **NO_DROPOUT, max_position_embeddings=64, use_task_id=True
    ),
    "mpnet": lambda: MPNetConfig(
        **{**COMMON, "pad_token_id": 1}, **SIZES, **NO_DROPOUT, max_position_embeddings=66
    ),
}


def classifier(family: str, seed: int = 0, labels: int = 2) -> torch.nn.Module:
    """A random ``*ForSequenceClassification`` of ``family``, eval mode, position-dependent parts made
    to matter (MPNet's relative bias starts at zero)."""
    torch.manual_seed(seed)
    cfg = CONFIGS[family]()
    cfg.num_labels = labels
    cfg.initializer_range = 0.2  # logits spread enough that a wrong copy shows
    model = AutoModelForSequenceClassification.from_config(cfg).eval()
    _stir(model)
    return model


def _stir(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "relative_attention_bias" in name or "rel_embeddings" in name:
                p.normal_(0.0, 1.0)


def save_encoder(family: str, folder: Path, seed: int = 0) -> Path:
    """A bare encoder of ``family`` (no classifier) and the tiny tokenizer, saved: a teacher to fine-tune."""
    torch.manual_seed(seed)
    model = AutoModel.from_config(CONFIGS[family]())
    _stir(model)
    model.save_pretrained(folder)
    # as their own tokenizers: ids and mask only where the family reads no token types
    names = {"model_input_names": ["input_ids", "attention_mask"]} if family in NO_TOKEN_TYPES else {}
    tokenizer = BertTokenizerFast(vocab=str(write_vocab(folder)), do_lower_case=True, **names)
    tokenizer.save_pretrained(folder)
    return folder


def batch(seq: int = 9, rows: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random ids (no specials) with right padding: row r has ``seq - 2r`` real tokens."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, seq), generator=g)
    mask = torch.ones(rows, seq, dtype=torch.long)
    for r in range(rows):
        mask[r, seq - 2 * r :] = 0
    ids = ids.masked_fill(mask == 0, 0)
    return {"input_ids": ids, "attention_mask": mask}


def save_classifier(family: str, folder: Path, seed: int = 0) -> Path:
    """A fine-tuned-looking ``*ForSequenceClassification`` of ``family`` (labels neg/pos) and the tiny
    tokenizer (ids and mask only where the family reads no token types), saved."""
    model = classifier(family, seed)
    model.config.id2label, model.config.label2id = {0: "neg", 1: "pos"}, {"neg": 0, "pos": 1}
    model.save_pretrained(folder)
    names = {"model_input_names": ["input_ids", "attention_mask"]} if family in NO_TOKEN_TYPES else {}
    BertTokenizerFast(vocab=str(write_vocab(folder)), do_lower_case=True, **names).save_pretrained(folder)
    return folder

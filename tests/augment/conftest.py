"""Fixtures: a hand-made GloVe-format vector file and a tiny random BertForMaskedLM."""

from __future__ import annotations

from pathlib import Path

import pytest

# Hand-made 3-d vectors with a known neighbour order (cosine): cat ~ kitten > dog; car ~ truck > bus.
VECTORS = {
    "cat": [1.0, 0.0, 0.0],
    "kitten": [0.95, 0.1, 0.0],
    "dog": [0.8, 0.6, 0.0],
    "car": [0.0, 0.0, 1.0],
    "truck": [0.0, 0.1, 0.95],
    "bus": [0.0, 0.6, 0.8],
    "airplane": [0.0, 0.9, 0.2],
}

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "flight",
    "was",
    "late",
    "food",
    "cold",
    "good",
    "bad",
    "crew",
    "and",
    "a",
    "cat",
    "dog",
    "air",
    "##plane",
    "##s",
    "un",
    "##known",
    ".",
    ",",
    "!",
]


@pytest.fixture
def glove_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.glove.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in VECTORS.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-mlm")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(folder / "vocab.txt"), do_lower_case=True)  # transformers 5: `vocab=`
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

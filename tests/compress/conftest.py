"""Tiny random BERT classifiers saved like real ones (save_pretrained + a hand-built vocab), and tiny
BiLSTM students saved as `distill run` saves them (students.bilstm: config.json, model.safetensors,
vocab.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

WORDS = [
    "good",
    "great",
    "love",
    "fine",
    "nice",
    "happy",
    "bad",
    "awful",
    "hate",
    "sad",
    "boring",
    "terrible",
    "the",
    "a",
    "movie",
    "was",
    "is",
    "it",
    "not",
    "very",
    "so",
    "and",
    "but",
    "i",
    "you",
    "this",
    "that",
    "day",
    "food",
    "service",
    "really",
]
TEXTS = [
    "the movie was great",
    "i hate this awful day",
    "not bad",
    "so boring and sad",
    "really nice food",
    "the service was terrible",
    "i love it",
    "this is fine",
    "a very happy day",
    "awful awful awful",
    "it was not good",
    "you are great",
    "boring movie but nice food",
    "i really hate the service",
] * 4


def save_tiny_bert(path: Path, seed: int = 0, hidden: int = 32, heads: int = 4, ffn: int = 64) -> Path:
    torch.manual_seed(seed)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab=str(path / "vocab.txt"), do_lower_case=True)
    # initializer_range 0.2 (not BERT's 0.02): logits far enough apart that "agreement" is meaningful.
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=ffn,
        num_labels=2,
        max_position_embeddings=64,
        initializer_range=0.2,
        id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1},
    )
    BertForSequenceClassification(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


POSITIVE = {"good", "great", "love", "fine", "nice", "happy"}
NEGATIVE = {"bad", "awful", "hate", "sad", "boring", "terrible"}


def label_of(text: str) -> str:
    """'pos' when the text has more positive than negative words."""
    words = text.split()
    return "pos" if sum(w in POSITIVE for w in words) > sum(w in NEGATIVE for w in words) else "neg"


def save_tiny_bilstm(path: Path, pair: bool = False, train_steps: int = 0, seed: int = 0) -> Path:
    """A BiLSTMClassifier with a word vocabulary built from TEXTS (no GloVe), optionally fitted for a
    few full-batch steps to the word-count labels, so its predictions vary and margins are moderate."""
    from students.bilstm import BiLSTMClassifier, BiLSTMSettings
    from students.word_tokenizer import WordTokenizer

    torch.manual_seed(seed)
    tok = WordTokenizer.build(TEXTS)
    model = BiLSTMClassifier(
        BiLSTMSettings(
            vocab_size=len(tok), embedding_dim=16, hidden=12, mlp=16, pair=pair, id2label={0: "neg", 1: "pos"}
        )
    )
    texts = sorted(set(TEXTS))
    enc, y = tok(texts, return_tensors="pt"), torch.tensor([label_of(t) == "pos" for t in texts]).long()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(train_steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(**enc).logits, y).backward()
        opt.step()
    model.eval().save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bilstm(tmp_path_factory) -> Path:
    return save_tiny_bilstm(tmp_path_factory.mktemp("models") / "tiny-bilstm", train_steps=8)


@pytest.fixture(scope="session")
def tiny_pair_bilstm(tmp_path_factory) -> Path:
    return save_tiny_bilstm(tmp_path_factory.mktemp("models") / "tiny-pair-bilstm", pair=True)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    return save_tiny_bert(
        tmp_path_factory.mktemp("models") / "tiny-teacher", seed=1, hidden=48, heads=4, ffn=96
    )


@pytest.fixture(scope="session")
def eval_csv(tmp_path_factory) -> Path:
    """Labelled texts: 'pos' when the text has more positive than negative words."""
    path = tmp_path_factory.mktemp("data") / "eval.csv"
    lines = ["text,label", *(f"{t},{label_of(t)}" for t in TEXTS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_fast_bench(
    tmp_path: Path, sources: list[tuple[str, Path, str]], kinds: list[str], eval_csv: Path
) -> dict:
    """`distill bench` through the CLI on (name, folder, role) sources with tiny timing budgets; its report.json."""
    from distill.cli import main

    cfg = {
        "sources": [{"name": n, "path": str(p), "role": r} for n, p, r in sources],
        "kinds": kinds,
        "batch_sizes": [1, 4],
        "seq_lens": [8],
        "warmup": 1,
        "reps": 3,
        "max_seconds": 0.5,
        "min_reps": 2,
        "eval": {"path": str(eval_csv)},
        "out": str(tmp_path / "r"),
    }
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["bench", str(tmp_path / "bench.yaml")]) == 0
    return json.loads((tmp_path / "r" / "report.json").read_text())

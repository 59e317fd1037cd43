"""Shared fixtures: tiny random BERT models and a hand-built tokenizer, made in the test, no downloads."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

transformers.utils.logging.disable_progress_bar()  # keep stderr for the messages tests assert
transformers.logging.set_verbosity_error()

WORDS = [
    "good",
    "great",
    "fine",
    "nice",
    "happy",
    "love",
    "bad",
    "awful",
    "poor",
    "sad",
    "hate",
    "terrible",
    "the",
    "a",
    "flight",
    "was",
    "is",
    "service",
    "food",
    "crew",
    "seat",
    "delay",
    "late",
    "on",
    "time",
    "very",
    "not",
    "it",
    "this",
    "plane",
    "trip",
]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; on a shared, loaded machine two OpenMP threads per op
    spin-wait on each other (measured: test_general 67 s on 2 threads at load 4.7, 3 s on 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# teacher.yaml for the tiny encoder fixtures: fine-tuned on ~64 toy rows in a few seconds.
TINY_TEACHER_YAML = """
name: {name}
model: {model}
max_length: 16
data:
  source: {data}
  split: {{dev: 0.25, test: 0.25, seed: 0}}
finetune: {{epochs: 12, batch_size: 8, lr: 2.0e-3, warmup_ratio: 0.0, seed: 0}}
cache_dir: {cache}
"""


def write_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    return vocab


def tiny_tokenizer(folder: Path) -> BertTokenizerFast:
    """The tiny vocabulary's WordPiece tokenizer (transformers 5 reads a vocabulary from `vocab=`; it
    ignores `vocab_file=`, which left every word [UNK])."""
    return BertTokenizerFast(vocab=str(write_vocab(folder)), do_lower_case=True)


def tiny_config(**kw) -> BertConfig:
    base = dict(
        vocab_size=5 + len(WORDS),
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    base.update(kw)
    return BertConfig(**base)


def save_tiny_encoder(folder: Path) -> Path:
    """A bare, randomly initialised 4-layer BertModel (no classifier) with its tokenizer, in ``folder``."""
    torch.manual_seed(0)
    BertModel(tiny_config()).save_pretrained(folder)
    tiny_tokenizer(folder).save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_encoder_dir(tmp_path: Path) -> Path:
    return save_tiny_encoder(tmp_path / "tiny-encoder")


@pytest.fixture
def tiny_classifier_dir(tmp_path: Path) -> Path:
    """A randomly initialised BertForSequenceClassification with labels (pos, neg) in that order."""
    torch.manual_seed(0)
    folder = tmp_path / "tiny-classifier"
    cfg = tiny_config(num_labels=2, id2label={0: "pos", 1: "neg"}, label2id={"pos": 0, "neg": 1})
    BertForSequenceClassification(cfg).save_pretrained(folder)
    tiny_tokenizer(folder).save_pretrained(folder)
    return folder


def toy_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Learnable sentiment: a positive text holds a positive word, a negative one a negative word."""
    rng = random.Random(seed)
    pos, neg = WORDS[:6], WORDS[6:12]
    filler = WORDS[12:]
    rows = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = rng.sample(filler, rng.randint(2, 6)) + [rng.choice(pos if label == "positive" else neg)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows, header=("text", "label"), delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def inferred_task_configs(tmp_path: Path, model: Path, rows, objectives: str) -> tuple[Path, Path, Path]:
    """(data, teacher.yaml, student.yaml): ``rows`` as a CSV whose task is left to inference, a
    teacher.yaml on it and a one-stage student.yaml with ``objectives`` (a YAML flow mapping)."""
    data = write_csv(tmp_path / "d.csv", rows)
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(f"name: t\nmodel: {model}\nmax_length: 16\ndata: {{source: {data}}}\n")
    student = tmp_path / "student.yaml"
    student.write_text(
        "name: s\narchitecture: {num_layers: 2}\nstages:\n"
        f"  - {{name: p, epochs: 1, lr: 1.0e-4, objectives: {objectives}}}\n"
    )
    return data, teacher, student

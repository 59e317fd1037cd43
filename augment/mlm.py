"""Masked-language-model word candidates (the BERT branch of TinyBERT's data augmentation, Jiao et
al., 2020, "TinyBERT: Distilling BERT for Natural Language Understanding", section 3.1 and its
``data_augmentation.py``).

For every word that the model's tokenizer keeps as a single word-piece, the word is replaced by the
mask token and the ``K`` most likely tokens at that position are its candidates (word-pieces
``##..``, special tokens and the word itself excluded). Words of several pieces get ``None``: the
caller (``augment.tinybert``) uses GloVe for them.

Batching: :func:`mlm_candidates` builds one row per masked word for all words of many sentences
and runs them ``batch_size`` rows per forward pass (on GPU when there is one);
:func:`mlm_candidates_loop` is the reference's one-forward-per-word loop, kept for the benchmark
and as the test oracle. Unlike the reference, the masked sentence is fed alone, not as a pair with
its unmasked copy (half the sequence length, and the model cannot copy the word back).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from augment.base import is_word
from distill.core.errors import ConfigError, first_line


@dataclass
class MaskedLM:
    """An ``AutoModelForMaskedLM`` with its tokenizer and the token ids that are never candidates."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    banned: torch.Tensor  # bool (vocab,): special tokens and "##" continuation pieces

    @property
    def mask_id(self) -> int:
        return self.tokenizer.mask_token_id


def resolve_device(device: str) -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' was chosen but no CUDA device is available")
    return torch.device(device)


def load_mlm(name: str, device: str = "auto", key: str = "mlm_model") -> MaskedLM:
    """Load an ``AutoModelForMaskedLM`` and its fast tokenizer from a folder or a hub id."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    looks_local = name.startswith((".", "/", "~")) or Path(name).expanduser().exists()
    path = Path(name).expanduser()
    if looks_local and not path.is_dir():
        raise ConfigError(f"{key}: no such model folder: {name}")
    source = str(path) if looks_local else name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForMaskedLM.from_pretrained(source)
    except (OSError, ValueError) as e:
        first = first_line(e)
        raise ConfigError(f"{key}: cannot load masked LM {name!r}: {first}") from None
    if tokenizer.mask_token_id is None:
        raise ConfigError(f"{key}: the tokenizer of {name!r} has no mask token")
    dev = resolve_device(device)
    model.eval().to(dev)
    vocab = tokenizer.get_vocab()
    banned = torch.zeros(max(len(vocab), model.get_output_embeddings().weight.shape[0]), dtype=torch.bool)
    for token, i in vocab.items():
        if token.startswith("##") or not is_word(token):
            banned[i] = True
    banned[list(tokenizer.all_special_ids)] = True
    return MaskedLM(model, tokenizer, dev, banned)


def _encode(
    mlm: MaskedLM, sentences: list[list[str]], max_length: int
) -> list[tuple[list[int], list[int | None]]]:
    """Per sentence: its input ids and, per word, the position of its single piece (None otherwise)."""
    if not sentences:
        return []
    enc = mlm.tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length)
    unk = mlm.tokenizer.unk_token_id
    out = []
    for b, words in enumerate(sentences):
        ids = enc["input_ids"][b]
        pieces: dict[int, list[int]] = {}
        for pos, w in enumerate(enc.word_ids(b)):
            if w is not None:
                pieces.setdefault(w, []).append(pos)
        single: list[int | None] = []
        for i, word in enumerate(words):
            ps = pieces.get(i, [])
            single.append(ps[0] if len(ps) == 1 and ids[ps[0]] != unk and is_word(word) else None)
        out.append((ids, single))
    return out


def _top_tokens(mlm: MaskedLM, logits: torch.Tensor, exclude: list[int], k: int) -> list[list[str]]:
    """The ``k`` best allowed tokens per row of ``logits`` (vocab-sized), minus each row's own id."""
    logits = logits.float().masked_fill(mlm.banned[: logits.shape[1]].to(logits.device), float("-inf"))
    logits[torch.arange(len(exclude)), torch.tensor(exclude)] = float("-inf")
    top = torch.topk(logits, k, dim=1).indices.cpu().tolist()
    return [mlm.tokenizer.convert_ids_to_tokens(row) for row in top]


@torch.inference_mode()
def mlm_candidates(
    mlm: MaskedLM, sentences: list[list[str]], k: int, batch_size: int = 64, max_length: int = 128
) -> list[list[list[str] | None]]:
    """Per sentence and word: the ``k`` MLM candidates of a single-piece word, else None.

    All masked positions of all ``sentences`` are run together, ``batch_size`` rows per forward pass.
    """
    encoded = _encode(mlm, sentences, max_length)
    result: list[list[list[str] | None]] = [[None] * len(s) for s in sentences]
    rows = [
        (b, i, pos)
        for b, (_, single) in enumerate(encoded)
        for i, pos in enumerate(single)
        if pos is not None
    ]
    rows.sort(key=lambda row: len(encoded[row[0]][0]))  # similar lengths together: little padding
    pad = mlm.tokenizer.pad_token_id or 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(encoded[b][0]) for b, _, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        originals = []
        for r, (b, _, pos) in enumerate(chunk):
            seq = encoded[b][0]
            ids[r, : len(seq)] = torch.tensor(seq)
            attention[r, : len(seq)] = 1
            originals.append(seq[pos])
            ids[r, pos] = mlm.mask_id
        logits = mlm.model(input_ids=ids.to(mlm.device), attention_mask=attention.to(mlm.device)).logits
        positions = torch.tensor([pos for _, _, pos in chunk], device=logits.device)
        at_mask = logits[torch.arange(len(chunk), device=logits.device), positions]
        for (b, i, _), cands in zip(chunk, _top_tokens(mlm, at_mask, originals, k), strict=True):
            result[b][i] = cands
    return result


@torch.inference_mode()
def mlm_candidates_loop(
    mlm: MaskedLM, sentences: list[list[str]], k: int, max_length: int = 128
) -> list[list[list[str] | None]]:
    """Same answer as :func:`mlm_candidates`, one forward pass per masked word (the reference way)."""
    result: list[list[list[str] | None]] = []
    for ids, single in _encode(mlm, sentences, max_length):
        row: list[list[str] | None] = []
        for pos in single:
            if pos is None:
                row.append(None)
                continue
            masked = torch.tensor([ids], device=mlm.device)
            masked[0, pos] = mlm.mask_id
            logits = mlm.model(input_ids=masked).logits[:, pos]
            row.append(_top_tokens(mlm, logits, [ids[pos]], k)[0])
        result.append(row)
    return result

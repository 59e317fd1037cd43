"""The tests' own tiny models read their words: a tokenizer that maps every word to [UNK] would
leave every end-to-end test training on text lengths alone."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from tests.compress.conftest import WORDS as COMPRESS_WORDS
from tests.compress.conftest import save_tiny_bert
from tests.conftest import WORDS, save_tiny_encoder, tiny_tokenizer
from tests.family_helpers import save_classifier, save_encoder


@pytest.mark.parametrize(
    "make, words",
    [
        (tiny_tokenizer, WORDS),
        (lambda d: AutoTokenizer.from_pretrained(save_tiny_encoder(d)), WORDS),
        (lambda d: AutoTokenizer.from_pretrained(save_encoder("roberta", d)), WORDS),
        (lambda d: AutoTokenizer.from_pretrained(save_classifier("bert", d)), WORDS),
        (lambda d: AutoTokenizer.from_pretrained(save_tiny_bert(d)), COMPRESS_WORDS),
    ],
    ids=["tiny_tokenizer", "save_tiny_encoder", "save_encoder", "save_classifier", "save_tiny_bert"],
)
def test_the_tiny_tokenizers_know_their_words(tmp_path, make, words):
    tokenizer = make(tmp_path / "model")
    assert tokenizer.tokenize(" ".join(words[:3])) == words[:3]
    assert tokenizer.unk_token_id not in tokenizer(" ".join(words))["input_ids"]

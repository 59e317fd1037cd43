"""A student with its own tokenizer (student.yaml ``tokenizer:``): what it can learn, checked first.

The teacher reads its tokens of each text and the student reads its own tokens of the same text
(``Encoded.student_view``, the path the BiLSTM's word ids already take); batches are drawn by index,
so both always see the same examples. Token positions no longer correspond (one tokenizer splits a
word the other keeps whole, and the sequences differ in length), so every objective that compares
the two models position by position (embeddings, hidden states, attention scores, Q/K/V relations)
is refused, with the reason; the prediction-level ones (``pred``, ``kd_kl``, ``logit_mse``, ``ce``,
``mse``) read one vector per example and apply. ``init: teacher | pca | pruned`` copy the teacher's
embedding rows, which index the teacher's vocabulary: such a student starts ``init: random`` or from
a saved student of its tokenizer's vocabulary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from distill.core.errors import ConfigError, first_line
from distill.objectives import OBJECTIVES

# Features indexed by token position: objectives that read them need the two token sequences aligned.
TOKEN_FEATURES = frozenset({"embeddings", "hidden", "attn", "qkv"})
TEACHER_EMBEDDING_INITS = ("teacher", "pca", "pruned")


def prediction_objectives() -> list[str]:
    """The objectives that read one vector per example (logits, labels): those a student of another
    tokenizer can learn by."""
    return [n for n in OBJECTIVES.names() if not OBJECTIVES.get(n).needs & TOKEN_FEATURES]


def load_tokenizer(name: str, source: str):
    """The tokenizer ``name`` names (a folder or hub id); a ConfigError naming the key when it cannot be loaded."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as e:
        first = first_line(e)
        where = "local folder" if os.path.isdir(name) else "hub id (needs the model hub or its local cache)"
        raise ConfigError(f"{source}: tokenizer: cannot load {name!r} as a {where}: {first}") from None


def check_own_tokenizer(plan) -> object | None:
    """The student's own tokenizer, loaded, after the checks above (None: it reads the teacher's)."""
    cfg, source = plan.student_cfg, plan.student_source
    name = cfg.tokenizer
    if name is None:
        return None
    if not plan.family.own_tokenizer:
        takes = "the BiLSTM builds its own word vocabulary" if not plan.family.is_transformer else ""
        raise ConfigError(
            f"{source}: tokenizer: family {plan.family.name} reads the teacher's tokens"
            f"{' (' + takes + ')' if takes else ''}; a student of its own tokenizer is family: tinybert"
        )
    if cfg.init in TEACHER_EMBEDDING_INITS:
        raise ConfigError(
            f"{source}: init: {cfg.init} copies the teacher's embedding rows, which index the teacher's "
            f"vocabulary, not that of tokenizer {name!r}; use init: random, or a saved student of that tokenizer"
        )
    for i, stage in enumerate(cfg.stages):
        for objective in stage.objectives:
            if OBJECTIVES.get(objective).needs & TOKEN_FEATURES:
                raise ConfigError(
                    f"{source}: stages.{i}.objectives.{objective}: compares the models token by token, but the "
                    f"student reads its own tokens (tokenizer: {name}), which do not align with the teacher's; "
                    f"objectives that apply: {', '.join(prediction_objectives())}"
                )
    tokenizer = load_tokenizer(name, source)
    saved = Path(cfg.init.removeprefix("general:")) / "config.json"
    if cfg.init != "random" and saved.is_file():  # a saved student must index this tokenizer's vocabulary
        vocab = json.loads(saved.read_text()).get("vocab_size")
        if vocab is not None and vocab != len(tokenizer):
            raise ConfigError(
                f"{source}: init: {cfg.init!r} has a vocabulary of {vocab:,} tokens, tokenizer {name!r} "
                f"{len(tokenizer):,}: the saved student was not trained on that tokenizer"
            )
    return tokenizer

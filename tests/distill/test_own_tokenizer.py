"""A Transformer student with its own tokenizer (student.yaml `tokenizer:`): each model reads its own
tokens of the same text; prediction-level objectives only, refused otherwise with the reason."""

from __future__ import annotations

import json
import textwrap

import pytest
from transformers import AutoTokenizer, BertTokenizerFast

from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, WORDS, toy_rows, write_csv

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def letter_tokenizer(folder):
    """A WordPiece tokenizer of letters: every word is spelled out ('good' -> g ##o ##o ##d), so
    its token sequences differ from the teacher's word tokens in ids and in length."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *LETTERS, *(f"##{c}" for c in LETTERS)]
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    return folder


STUDENT = """
name: own-tokens
architecture: {{num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}}
tokenizer: {tokenizer}
init: {init}
batch_size: 8
speed: {{latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}}
stages:
  - {{name: prediction, epochs: 20, lr: 3.0e-3, objectives: {objectives}}}
"""


def configs(
    tmp_path, model, init="random", objectives="{pred: {temperature: 2.0}, ce: {weight: 0.5}}", family=""
):
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(TINY_TEACHER_YAML.format(name="t", model=model, data=data, cache=tmp_path / "cache"))
    )
    student = tmp_path / "student.yaml"
    body = STUDENT.format(tokenizer=letter_tokenizer(tmp_path / "letters"), init=init, objectives=objectives)
    if family:
        body = body.replace(
            "architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}", family
        )
    student.write_text(textwrap.dedent(body))
    return teacher, student


def test_a_student_of_its_own_tokenizer_learns_from_the_teachers_predictions(tmp_path, tiny_encoder_dir):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["stages"][0]["loss_last"] < m["stages"][0]["loss_first"]
    assert m["student"]["dev"]["accuracy"] > m["data"]["majority_dev_accuracy"]  # it learned something
    # saved with the tokenizer it read: the letters' vocabulary, not the teacher's words
    saved = AutoTokenizer.from_pretrained(out)
    assert saved.tokenize("good") == ["g", "##o", "##o", "##d"]
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == 5 + 2 * len(LETTERS) != 5 + len(WORDS)
    assert "its own tokenizer (57 tokens)" in (out / "run.log").read_text()
    # the teacher-output cache keys on the teacher's tokens of the text: a student of the teacher's
    # tokens on the same data reads the logits the letter student's run cached
    assert m["stages"][0]["teacher_cache"] == "miss"
    same = tmp_path / "same-tokens.yaml"
    same.write_text(student.read_text().replace(f"tokenizer: {tmp_path / 'letters'}", "tokenizer: null"))
    assert main(["run", str(teacher), str(same), "--output-dir", str(tmp_path / "same")]) == 0
    again = json.loads((tmp_path / "same" / "metrics.json").read_text())
    assert again["stages"][0]["teacher_cache"] == "hit"


@pytest.mark.parametrize(
    "init, objectives, family, error",
    [
        (
            "random",
            "{hidden: {}, pred: {}}",
            "",
            "stages.0.objectives.hidden: compares the models token by token, but the student reads its own "
            "tokens (tokenizer: {tok}), which do not align with the teacher's; objectives that apply: bce, ce, "
            "kd_kl, logit_mse, mse, pred, soft_bce",
        ),
        (
            "teacher",
            "{pred: {}}",
            "",
            "init: teacher copies the teacher's embedding rows, which index the teacher's vocabulary, not that "
            "of tokenizer '{tok}'; use init: random, or a saved student of that tokenizer",
        ),
        (
            "teacher",
            "{pred: {}}",
            "architecture: {family: distilbert, num_layers: 2}",
            "tokenizer: family distilbert reads the teacher's tokens; a student of its own tokenizer is "
            "family: tinybert",
        ),
    ],
)
def test_validate_refuses_what_a_student_of_other_tokens_cannot_do(
    tmp_path, tiny_encoder_dir, capsys, init, objectives, family, error
):
    teacher, student = configs(tmp_path, tiny_encoder_dir, init, objectives, family)
    assert main(["validate", str(teacher), str(student)]) == 2
    expected = error.format(tok=tmp_path / "letters")
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {student}: {expected}"


def test_a_tokenizer_that_cannot_be_loaded_is_named(tmp_path, tiny_encoder_dir, capsys):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    student.write_text(student.read_text().replace(str(tmp_path / "letters"), str(tmp_path / "nothing")))
    assert main(["validate", str(teacher), str(student)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {student}: tokenizer: cannot load '{tmp_path / 'nothing'}' as a hub id")


def test_general_distillation_refuses_a_student_of_other_tokens(tmp_path, tiny_encoder_dir):
    from distill.core.errors import ConfigError
    from distill.distillation.general import general_distill

    teacher, student = configs(tmp_path, tiny_encoder_dir)
    corpus = tmp_path / "texts.txt"
    corpus.write_text("".join(t + "\n" for t, _ in toy_rows(16)))
    with pytest.raises(ConfigError) as e:
        general_distill(teacher, student, corpus, tmp_path / "g", epochs=1, lr=1e-3, batch_size=8)
    assert str(e.value) == (
        f"{student}: tokenizer: general distillation compares the models token by token, and a student of "
        "its own tokenizer reads other tokens; it learns by prediction-level objectives in distill run"
    )
    assert not (tmp_path / "g").exists()

"""Token lengths and truncation per split: the figures, the warning, in metrics.json and in validate."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest

from distill.cli import main
from distill.config import TeacherConfig
from distill.core.errors import ConfigError
from distill.data.dataset import DataSplits, TextDataset
from distill.distillation.lengths import length_figures, lengths_line, measure_lengths, token_lengths
from tests.conftest import TINY_TEACHER_YAML, tiny_tokenizer, toy_rows, write_csv
from tests.test_fuzz_configs import STUDENT_YAML


def test_length_figures_count_what_max_length_cuts():
    f = length_figures([3, 5, 7, 9, 20, 8, 8, 4, 6, 5], 8)
    assert f == {"examples": 10, "truncated": 2, "fraction": 0.2, "p50": 6, "p95": 20, "max_length": 8}
    assert length_figures([5] * 100, 5)["truncated"] == 0  # exactly max_length is not cut


def test_token_lengths_count_special_tokens_and_both_sentences_of_a_pair(tmp_path):
    tok = tiny_tokenizer(tmp_path)
    long = " ".join(["good"] * 100)
    single = TextDataset(["good", "the flight was late", long], [0, 1, 0])
    assert token_lengths(single, tok) == [3, 6, 102]  # [CLS] ... [SEP], untruncated
    pairs = TextDataset(["good", "bad"], [0, 1], pairs=["the flight", long])
    assert token_lengths(pairs, tok) == [6, 104]  # [CLS] a [SEP] b [SEP]


def splits_of(texts: list[str]) -> DataSplits:
    d = TextDataset(texts, [i % 2 for i in range(len(texts))])
    return DataSplits(d, d.subset([0, 1]), d.subset([2, 3]), ["a", "b"])


def test_measure_lengths_warns_naming_max_length_and_the_95th_percentile(tmp_path, tiny_encoder_dir, caplog):
    cfg = TeacherConfig(name="t", model=str(tiny_encoder_dir), data={"source": "x"}, max_length=5)
    texts = ["good", "the flight was very late and bad", "bad", "nice crew"] * 5  # 3, 9, 3, 4 tokens
    with caplog.at_level(logging.INFO, logger="distill"):
        figures = measure_lengths(splits_of(texts), cfg, "teacher.yaml")
    assert figures["train"] == {
        "examples": 20,
        "truncated": 5,
        "fraction": 0.25,
        "p50": 3,
        "p95": 9,
        "max_length": 5,
    }
    assert figures["dev"]["truncated"] == 1 and figures["test"]["truncated"] == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "teacher.yaml: max_length 5 cuts 25.0% of train (95th percentile 9 tokens), 50.0% of dev (95th percentile 9 tokens); "
        "those examples are truncated to their first 5 tokens for the teacher and the student: raise `max_length` "
        "(up to the model's limit) if the rest matters"
    ]
    assert f"data: {lengths_line(figures)}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="distill"):
        measure_lengths(splits_of(texts), cfg.model_copy(update={"max_length": 9}), "teacher.yaml")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_unloadable_tokenizer_is_a_config_error(tiny_encoder_dir):
    (tiny_encoder_dir / "tokenizer.json").write_text("{not json")
    cfg = TeacherConfig(name="t", model=str(tiny_encoder_dir), data={"source": "x"})
    with pytest.raises(ConfigError) as e:
        measure_lengths(splits_of(["good"] * 4), cfg, "teacher.yaml")
    assert str(e.value).startswith(
        f"teacher.yaml: model: cannot load the tokenizer of '{tiny_encoder_dir}' (local folder)"
    )


def configs(tmp_path: Path, model: Path) -> tuple[Path, Path]:
    data = write_csv(tmp_path / "toy.csv", toy_rows(64))  # 5..9 tokens, a fifth of them 9
    text = TINY_TEACHER_YAML.format(name="t", model=model, data=data, cache=tmp_path / "cache").replace(
        "max_length: 16", "max_length: 8"
    )
    (tmp_path / "teacher.yaml").write_text(textwrap.dedent(text))
    (tmp_path / "student.yaml").write_text(STUDENT_YAML)
    return tmp_path / "teacher.yaml", tmp_path / "student.yaml"


def test_run_writes_the_figures_to_metrics_and_warns_and_validate_prints_them(
    tmp_path, tiny_encoder_dir, capsys, caplog
):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    assert main(["validate", str(teacher), str(student)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("ok: ") and printed[1].startswith(
        "tokens per example (teacher tokenizer, max_length 8): train p50 "
    )

    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="distill"):
        assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    lengths = m["data"]["lengths"]
    assert list(lengths) == ["train", "dev", "test"]
    for split, f in lengths.items():
        assert f["examples"] == m["data"][split] and f["max_length"] == 8 and f["p95"] == 9
        assert f["fraction"] == f["truncated"] / f["examples"] and 5 <= f["p50"] <= 9
    assert sum(f["truncated"] for f in lengths.values()) > 0.1 * 64
    assert lengths_line(lengths) == printed[1]  # validate printed the run's figures
    log = (out / "run.log").read_text()
    assert (
        "WARNING" in log and f"{teacher}: max_length 8 cuts " in log and "(95th percentile 9 tokens)" in log
    )
    assert f"data: {printed[1]}" in log

"""``augment.augment(texts | DataFrame, config)``: the rows ``augment run`` writes for the same
input, config and seed; a DataFrame's other columns (labels) carried to every copy."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
import yaml

import augment
from augment.cli import main
from distill.core.errors import ConfigError
from tests.augment.test_cli import ROWS, TANG


def cli_rows(tmp_path, cfg_text: str) -> list[dict]:
    data = tmp_path / "train.tsv"
    data.write_text(
        "sentence\tquestion\tlabel\n" + "".join("\t".join(r) + "\n" for r in ROWS), encoding="utf-8"
    )
    cfg = tmp_path / "augment.yaml"
    cfg.write_text(cfg_text, encoding="utf-8")
    out = tmp_path / "out.tsv"
    assert main(["run", str(cfg), "--input", str(data), "--output", str(out), "--no-progress"]) == 0
    with open(out, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_texts_and_a_dataframe_give_the_rows_augment_run_writes(tmp_path):
    text = TANG.format(cols="[sentence]", mode="first")
    expected = cli_rows(tmp_path, text)
    frame = pd.DataFrame(ROWS, columns=["sentence", "question", "label"])
    out = augment.augment(frame, yaml.safe_load(text))
    assert list(out.columns) == ["sentence", "question", "label"]
    assert out.to_dict("records") == expected  # every copy carries its row's question and label
    texts = augment.augment([r[0] for r in ROWS], tmp_path / "augment.yaml")  # a path works too
    assert texts == [r["sentence"] for r in expected]
    assert augment.augment([r[0] for r in ROWS], yaml.safe_load(text), seed=4) != texts


def test_bad_input_is_one_line(tmp_path):
    cfg = yaml.safe_load(TANG.format(cols="[review]", mode="first"))
    with pytest.raises(
        ConfigError, match=r"text_columns: \['review'\] are not columns of the DataFrame \(a, b\)"
    ):
        augment.augment(pd.DataFrame({"a": ["x"], "b": ["y"]}), cfg)
    with pytest.raises(ConfigError, match="expected a list of texts or a pandas DataFrame, got str"):
        augment.augment("one text", cfg)
    with pytest.raises(ConfigError, match="unknown key"):
        augment.augment(["x"], {**cfg, "n_iterr": 2})

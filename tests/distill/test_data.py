"""Data loaders on files the tests write, including every bad-input case."""

from __future__ import annotations

import json
import logging
import random

import pytest

from distill.core.errors import DataError
from distill.data.batching import collate, encode, eval_batches, train_batches
from distill.data.config import DataConfig
from distill.data.dataset import TextDataset, load_splits
from tests.conftest import tiny_tokenizer, toy_rows, write_csv


def cfg(**kw) -> DataConfig:
    return DataConfig(**kw)


def test_csv_split_is_stratified_seeded_and_complete(tmp_path):
    path = write_csv(tmp_path / "d.csv", toy_rows(200))
    a = load_splits(cfg(source=str(path), split={"dev": 0.1, "test": 0.2, "seed": 3}))
    b = load_splits(cfg(source=str(path), split={"dev": 0.1, "test": 0.2, "seed": 3}))
    assert (len(a.train), len(a.dev), len(a.test)) == (140, 20, 40)
    assert a.label_names == ["negative", "positive"]  # sorted train labels
    assert a.dev.texts == b.dev.texts and a.train.texts == b.train.texts  # same seed, same split
    assert sum(a.dev.labels) == 10 and sum(a.test.labels) == 20  # stratified: half positive
    all_texts = sorted(a.train.texts + a.dev.texts + a.test.texts)
    assert all_texts == sorted(t for t, _ in toy_rows(200))
    c = load_splits(cfg(source=str(path), split={"dev": 0.1, "test": 0.2, "seed": 4}))
    assert c.dev.texts != a.dev.texts


def test_tsv_with_custom_columns_and_label_order(tmp_path):
    rows = [(t, y, "x") for t, y in toy_rows(40)]
    path = write_csv(tmp_path / "d.tsv", rows, header=("review", "sentiment", "other"), delimiter="\t")
    s = load_splits(
        cfg(source=str(path), text_column="review", label_column="sentiment", labels=["positive", "negative"])
    )
    assert s.label_names == ["positive", "negative"]
    i = s.train.texts.index(s.train.texts[0])
    assert s.label_names[s.train.labels[i]] in ("positive", "negative")
    pos_words = {"good", "great", "fine", "nice", "happy", "love"}
    for text, label in zip(s.train.texts, s.train.labels, strict=True):
        assert (label == 0) == bool(pos_words & set(text.split()))


def test_jsonl_with_separate_dev_and_test_files(tmp_path):
    def jsonl(name, rows):
        p = tmp_path / name
        p.write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in rows) + "\n")
        return p

    train, dev, test = (
        jsonl("train.jsonl", toy_rows(30)),
        jsonl("dev.jsonl", toy_rows(8, 1)),
        jsonl("test.jsonl", toy_rows(6, 2)),
    )
    s = load_splits(cfg(source=str(train), dev=str(dev), test=str(test)))
    assert (len(s.train), len(s.dev), len(s.test)) == (30, 8, 6)
    assert sorted(s.dev.texts) == sorted(t for t, _ in toy_rows(8, 1))


def test_glue_sst2_folder_with_quotes(tmp_path):
    glue = tmp_path / "SST-2"
    glue.mkdir()
    rows = [(f'a "quoted {t}', "1" if y == "positive" else "0") for t, y in toy_rows(50)]
    write_rows = "sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows)
    (glue / "train.tsv").write_text(write_rows)
    (glue / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[:10]))
    s = load_splits(cfg(source=str(glue), format="glue", glue_task="sst2", split={"test": 0.2}))
    assert s.label_names == ["0", "1"]
    assert len(s.dev) == 10 and len(s.test) == 10 and len(s.train) == 40
    assert all(t.startswith('a "quoted') for t in s.dev.texts)  # quotes kept verbatim (QUOTE_NONE)


def test_glue_mrpc_sentence_pairs(tmp_path):
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    body = "".join(f"{i % 2}\t{i}\t{i + 100}\tfirst {i}\tsecond {i}\n" for i in range(30))
    (tmp_path / "train.tsv").write_text(header + body)
    (tmp_path / "dev.tsv").write_text(header + body[: body.index("\n", 0) + 1] * 4)
    s = load_splits(cfg(source=str(tmp_path), format="glue", glue_task="mrpc"))
    assert s.train.pairs is not None and len(s.train.pairs) == len(s.train.texts)
    i = s.train.texts.index("first 3")
    assert s.train.pairs[i] == "second 3" and s.train.labels[i] == 1
    tok = tiny_tokenizer(tmp_path / "tok")
    enc = encode(s.train, tok, 32)
    assert enc.token_type_ids is not None and 1 in enc.token_type_ids[0]


def test_load_from_disk_with_classlabel(tmp_path):
    import datasets

    rows = toy_rows(40)
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )
    train = datasets.Dataset.from_dict(
        {"text": [t for t, _ in rows], "label": [int(y == "positive") for _, y in rows]}, features=features
    )
    dd = datasets.DatasetDict({"train": train, "validation": train.select(range(10))})
    dd.save_to_disk(str(tmp_path / "ds"))
    s = load_splits(cfg(source=str(tmp_path / "ds"), format="disk"))
    assert s.label_names == ["negative", "positive"]
    assert len(s.dev) == 10 and len(s.test) + len(s.train) == 40
    assert s.dev.labels == [int(y == "positive") for _, y in rows[:10]]


def test_embedded_tweets_binary():
    s = load_splits(cfg(source="embedded:tweets", max_train_examples=500, max_eval_examples=200))
    assert s.label_names == ["negative", "positive"]
    assert (len(s.train), len(s.dev), len(s.test)) == (500, 200, 200)
    rate, label = s.majority_rate()
    assert label == "negative" and 0.65 < rate < 0.75  # 16,186 of 23,140 tweets are negative


# --- bad input --------------------------------------------------------------------------------


def error(**kw) -> str:
    with pytest.raises(DataError) as e:
        load_splits(cfg(**kw))
    return str(e.value)


def test_missing_column(tmp_path):
    path = write_csv(tmp_path / "d.csv", toy_rows(10), header=("sentence", "label"))
    assert error(source=str(path)) == f"{path}: missing column 'text' (the file has: 'sentence', 'label')"


def test_empty_file_and_missing_file(tmp_path):
    (tmp_path / "e.csv").write_text("")
    assert error(source=str(tmp_path / "e.csv")) == f"{tmp_path / 'e.csv'}: file is empty"
    assert (
        error(source=str(tmp_path / "nope.csv"))
        == f"{tmp_path / 'nope.csv'}: no such file or folder (data.source)"
    )


def test_unknown_label_names_line(tmp_path):
    rows = toy_rows(10)
    rows[4] = ("it was fine", "neutral")
    path = write_csv(tmp_path / "d.csv", rows)
    assert error(source=str(path), labels=["negative", "positive"]) == (
        f"{path}: line 6: unknown label 'neutral'; expected one of negative, positive"
    )


def test_undecodable_bytes_state_the_encoding(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nfine day,positive\ncaf\xe9 awful,negative\n")
    assert error(source=str(path)) == (
        f"{path}: line 3: bytes b'\\xe9' are not valid utf-8; set `encoding:` to the file's encoding (e.g. latin-1)"
    )


def test_latin1_file_reads_with_encoding(tmp_path):
    path = tmp_path / "d.csv"
    rows = "".join(f"caf\xe9 {t},{y}\n" for t, y in toy_rows(20))
    path.write_bytes(("text,label\n" + rows).encode("latin-1"))
    s = load_splits(cfg(source=str(path), encoding="latin-1"))
    assert all(t.startswith("café") for t in s.train.texts)


def test_empty_text_rows_are_reported_not_used(tmp_path, caplog):
    rows = toy_rows(20)
    rows[2] = ("   ", "positive")
    rows[7] = ("", "negative")
    path = write_csv(tmp_path / "d.csv", rows)
    with caplog.at_level(logging.WARNING, logger="distill"):
        s = load_splits(cfg(source=str(path)))
    assert f"{path}: skipped 2 rows with empty text (lines 4, 9)" in caplog.text
    assert len(s.train) + len(s.dev) + len(s.test) == 18


def test_ragged_row_and_bad_json(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\ngood,positive\ntoo,many,fields\n")
    assert error(source=str(path)) == f"{path}: line 3: 3 fields, the header has 2"
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "good", "label": "positive"}\n{"text": \n')
    assert error(source=str(path)).startswith(f"{path}: line 2: not valid JSON")


def test_single_label_and_unknown_extension(tmp_path):
    path = write_csv(tmp_path / "d.csv", [(t, "positive") for t, _ in toy_rows(10)])
    assert error(source=str(path)) == f"{path}: only one label ('positive'); a classifier needs two or more"
    (tmp_path / "d.xlsx").write_text("x")
    assert error(source=str(tmp_path / "d.xlsx")) == (
        f"{tmp_path / 'd.xlsx'}: cannot tell the format from the extension '.xlsx'; set `format:` to one of csv, tsv, glue, jsonl"
    )


# --- batching ---------------------------------------------------------------------------------


def test_length_grouped_batches_cover_everything_once_and_pad_per_batch(tmp_path):
    rows = toy_rows(300)
    data = encode(
        TextDataset([t for t, _ in rows], [int(y == "positive") for _, y in rows]),
        tiny_tokenizer(tmp_path),
        16,
    )
    batches = train_batches(data, 8, random.Random(0), group=4)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(300))
    spread = [
        max(len(data.input_ids[i]) for i in b) - min(len(data.input_ids[i]) for i in b) for b in batches
    ]
    assert sum(spread) / len(spread) <= 1.0  # sorted within chunks: lengths inside a batch nearly equal
    assert batches != train_batches(data, 8, random.Random(1), group=4)
    b = collate(data, batches[0])
    width = max(len(data.input_ids[i]) for i in batches[0])
    assert b["input_ids"].shape == (len(batches[0]), width) and b["attention_mask"].sum(1).tolist() == [
        len(data.input_ids[i]) for i in batches[0]
    ]
    assert sorted(i for b in eval_batches(data, 7) for i in b) == list(range(300))


# --- labels that are not class names (regression targets, multi-label lists) ------------------


def labelled(tmp_path, labels, name="d.csv", header=("text", "label")):
    rows = [(t, y) for (t, _), y in zip(toy_rows(len(labels)), labels, strict=True)]
    return write_csv(tmp_path / name, rows, header=header)


def test_float_labels_are_refused_as_a_regression_target(tmp_path):
    rng = random.Random(0)
    scores = [f"{rng.uniform(0, 5):.2f}" for _ in range(200)]
    path = labelled(tmp_path, scores, header=("text", "score"))
    distinct = len(set(scores))
    msg = error(source=str(path), label_column="score")
    assert msg.startswith(
        f"{path}: label column 'score' holds {distinct} distinct numbers, not all integers ("
    )
    assert "looks like a regression target" in msg
    assert msg.endswith("supported here: classification with class-name or integer labels")
    # few distinct values are refused too: 0.5 is not a class id
    path = labelled(tmp_path, ["0.5", "1.5"] * 20, name="half.csv")
    assert "holds 2 distinct numbers, not all integers (0.5, 1.5)" in error(source=str(path))


def test_many_scattered_integer_labels_are_refused(tmp_path):
    rng = random.Random(0)
    counts = [str(rng.randrange(0, 10_000)) for _ in range(200)]  # like counts: many values, gaps
    path = labelled(tmp_path, counts)
    msg = error(source=str(path))
    assert (
        f"label column 'label' holds {len(set(counts))} distinct integers that are not the class ids 0..k-1 or 1..k"
        in msg
    )
    assert "looks like a regression target" in msg


@pytest.mark.parametrize(
    "labels, shown",
    [
        (["negative,sports", "positive", "negative", "positive,politics"] * 10, "'negative,sports'"),
        (["a; b", "b", "c; a"] * 10, "'a; b'"),
        (["x|y", "y|z"] * 10, "'x|y'"),
    ],
)
def test_delimited_multi_label_column_is_refused(tmp_path, labels, shown):
    path = labelled(tmp_path, labels)
    msg = error(source=str(path))
    assert msg.startswith(f"{path}: label column 'label' holds lists of labels (")
    assert shown in msg and "looks like multi-label data" in msg
    assert msg.endswith("supported here: classification with class-name or integer labels")


def test_jsonl_list_labels_are_refused_as_multi_label(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": [y]}) + "\n" for t, y in toy_rows(20)))
    assert "holds lists of labels" in error(source=str(path))


@pytest.mark.parametrize(
    "labels",
    [
        [str(i % 30) for i in range(120)],  # integer class ids 0..k-1, many of them
        [str(1 + i % 5) for i in range(40)],  # star ratings 1..5
        ["-1", "0", "1"] * 10,  # sentiment polarity
        ["0.0", "1.0"] * 10,  # integers written as floats
        [str(i) for i in (3, 7, 12) * 10],  # a few integer codes
        ["not sure", "yes", "no"] * 10,  # names with spaces
        ["Arts, Culture", "Sports", "Politics"] * 10,  # a name with a comma whose parts are no labels
        ["4.5 stars?", "bad"] * 10,
    ],
)
def test_class_labels_that_look_odd_are_accepted(tmp_path, labels):
    path = labelled(tmp_path, labels)
    s = load_splits(cfg(source=str(path), split={"dev": 0.25, "test": 0.25}))
    assert set(s.label_names) == set(labels)


def test_declared_labels_skip_the_shape_check(tmp_path):
    path = labelled(tmp_path, ["0.5", "1.5"] * 20)
    assert load_splits(cfg(source=str(path), labels=["0.5", "1.5"])).label_names == ["0.5", "1.5"]


# --- GLUE folders without a dev file ----------------------------------------------------------


def glue_train_only(tmp_path):
    glue = tmp_path / "SST-2"
    glue.mkdir()
    rows = [(t, "1" if y == "positive" else "0") for t, y in toy_rows(50)]
    (glue / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return glue


def test_glue_folder_without_dev_file_carves_dev_when_split_dev_is_set(tmp_path, caplog):
    glue = glue_train_only(tmp_path)
    with caplog.at_level(logging.INFO, logger="distill"):
        s = load_splits(
            cfg(source=str(glue), format="glue", glue_task="sst2", split={"dev": 0.2, "test": 0.2})
        )
    assert (len(s.train), len(s.dev), len(s.test)) == (30, 10, 10)
    assert f"{glue}: no dev.tsv; carving the dev split (split.dev: 0.2) out of train.tsv" in caplog.text


def test_glue_folder_without_dev_file_names_both_remedies(tmp_path):
    glue = glue_train_only(tmp_path)
    assert error(source=str(glue), format="glue", glue_task="sst2") == (
        f"{glue}: no dev.tsv in the GLUE folder; add it, or set data.split.dev (e.g. 0.1) to carve dev out of train.tsv"
    )
    assert "no dev_matched.tsv in the GLUE folder" in error(source=str(glue), glue_task="mnli", format="glue")

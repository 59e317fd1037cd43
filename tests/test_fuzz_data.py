"""Fuzzing the data files: empty, header only, binary, wrong or missing columns, mixed encodings,
1 MB lines, labels outside the label set, regression targets and multi-label lists as labels, a GLUE
folder without a dev file, ragged rows, broken JSONL lines, for `distill validate`,
`distill run`, `augment run` and the compress commands' data flags.

Every bad file fails with exit code 2 and one stderr line naming the file and the line (or
column), before any model is trained, and leaves no file behind. Decided behaviours tested here:
a byte that is not valid in the configured encoding is an error naming the line and the bytes (no
silent replacement; `encoding: latin-1` reads such a file), a UTF-8 byte-order mark is dropped,
and a 1 MB line is data like any other (texts are truncated to `max_length` when tokenized).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
import yaml
from transformers import BertModel

from augment.cli import main as augment_main
from distill.cli import main as distill_main
from distill.data.config import DataConfig
from distill.data.dataset import load_splits
from tests.conftest import TINY_TEACHER_YAML, tiny_config, tiny_tokenizer, toy_rows
from tests.fuzz_helpers import assert_clean_failure
from tests.test_fuzz_configs import STUDENT_YAML

ROWS = toy_rows(40)  # lines 2..41 of every file below; the bad line, when appended, is line 42
BIG = "good " * 200_000  # a 1 MB text
BINARY = bytes(random.Random(0).randrange(256) for _ in range(4096))


def delimited(rows=ROWS, header=("text", "label"), sep=",") -> str:
    return sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows)


def jsonl(rows=ROWS) -> str:
    return "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows)


# name -> (file name, content, extra `data:` keys, texts the error must contain)
BAD_DATA: dict[str, tuple[str, bytes, dict, tuple[str, ...]]] = {
    "empty": ("d.csv", b"", {}, ("file is empty",)),
    "header only": ("d.csv", b"text,label\n", {}, ("no rows with text",)),
    "blank texts only": ("d.csv", b"text,label\n ,positive\n,negative\n", {}, ("no rows with text",)),
    "binary csv": ("d.csv", BINARY, {}, ("line ", "are not valid utf-8")),
    "binary jsonl": ("d.jsonl", BINARY, {}, ("line 1: ",)),
    "binary tsv": ("d.tsv", b"text\tlabel\n" + BINARY, {}, ("line ",)),
    "wrong columns": (
        "d.csv",
        delimited(header=("sentence", "label")).encode(),
        {},
        ("missing column 'text' (the file has: 'sentence', 'label')",),
    ),
    "missing label column": (
        "d.csv",
        b"text\n" + "".join(f"{t}\n" for t, _ in ROWS).encode(),
        {},
        ("missing column 'label' (the file has: 'text')",),
    ),
    "latin-1 line in UTF-8": (
        "d.csv",
        delimited().encode() + "caf\u00e9 good,positive\n".encode("latin-1"),
        {},
        ("line 42: bytes b'\\xe9' are not valid utf-8; set `encoding:`",),
    ),
    "latin-1 byte at the end of a 1 MB line": (
        "d.csv",
        delimited().encode() + BIG.encode() + b"\xe9,positive\n",
        {},
        ("line 42: bytes b'\\xe9' are not valid utf-8",),
    ),
    "UTF-16 file": (
        "d.csv",
        delimited().encode("utf-16"),
        {},
        ("line 1: bytes b'\\xff' are not valid utf-8",),
    ),
    "label outside the label set": (
        "d.csv",
        delimited(ROWS + [("good flight", "neutral")]).encode(),
        {"labels": ["negative", "positive"]},
        ("line 42: unknown label 'neutral'; expected one of negative, positive",),
    ),
    "one label only": (
        "d.csv",
        delimited([(t, "positive") for t, _ in ROWS]).encode(),
        {},
        ("only one label ('positive')",),
    ),
    "ragged row, too many fields": (
        "d.csv",
        delimited().encode() + b"good,positive,extra\n",
        {},
        ("line 42: 3 fields, the header has 2",),
    ),
    "ragged row, too few fields": (
        "d.csv",
        delimited().encode() + b"good\n",
        {},
        ("line 42: 1 fields, the header has 2",),
    ),
    "ragged TSV row": (
        "d.tsv",
        delimited(sep="\t").encode() + b"a\tb\tc\n",
        {},
        ("line 42: 3 fields, the header has 2",),
    ),
    "unterminated quote": ("d.csv", delimited().encode() + b'"good flight,positive\n', {}, ("line 42: ",)),
    "JSONL bad line": ("d.jsonl", (jsonl() + "{not json\n").encode(), {}, ("line 41: not valid JSON",)),
    "JSONL array line": (
        "d.jsonl",
        (jsonl() + "[1, 2]\n").encode(),
        {},
        ("line 41: expected a JSON object, got list",),
    ),
    "JSONL missing key": (
        "d.jsonl",
        (jsonl() + '{"label": "positive"}\n').encode(),
        {},
        ("line 41: no key 'text' (the first object has 'text', 'label')",),
    ),
    "unknown extension": (
        "d.txt",
        delimited().encode(),
        {},
        ("cannot tell the format from the extension '.txt'",),
    ),
    "unknown format for a folder": ("folder", b"", {}, ("not a `datasets.save_to_disk` folder",)),
    "GLUE ragged row": (
        "d.tsv",
        delimited(header=("sentence", "label"), sep="\t").encode() + b'a "quoted\tx\ty\n',
        {"format": "glue", "glue_task": "sst2"},
        ("line 42: 3 fields, the header has 2",),
    ),
    "GLUE folder without dev.tsv": (
        "glue",
        b"",
        {"format": "glue", "glue_task": "sst2", "split": {"test": 0.25}},
        ("no dev.tsv in the GLUE folder; add it, or set data.split.dev",),
    ),
    "GLUE wrong columns": (
        "d.tsv",
        delimited(sep="\t").encode(),
        {"format": "glue", "glue_task": "sst2"},
        ("missing column 'sentence' (the file has: 'text', 'label')",),
    ),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("fuzz-data") / "encoder"
    BertModel(tiny_config()).save_pretrained(folder)
    tiny_tokenizer(folder).save_pretrained(folder)
    return folder


def configs(folder: Path, encoder: Path, data: dict) -> tuple[Path, Path]:
    teacher = yaml.safe_load(
        TINY_TEACHER_YAML.format(name="t", model=encoder, data="x", cache=folder / "cache")
    )
    teacher["data"].update(data)
    (folder / "teacher.yaml").write_text(yaml.safe_dump(teacher))
    (folder / "student.yaml").write_text(STUDENT_YAML)
    return folder / "teacher.yaml", folder / "student.yaml"


def write_data(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    if name == "folder":
        path.mkdir()
    elif name == "glue":  # a GLUE task folder holding train.tsv alone
        path.mkdir()
        (path / "train.tsv").write_text(delimited(header=("sentence", "label"), sep="\t"))
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_training_data_fails_validate_and_run_cleanly(tmp_path, encoder, capsys, case):
    name, content, extra, expected = BAD_DATA[case]
    path = write_data(tmp_path, name, content)
    teacher, student = configs(tmp_path, encoder, {"source": str(path), **extra})
    for argv in (
        ["validate", str(teacher), str(student)],
        ["run", str(teacher), str(student), "--output-dir", str(tmp_path / "out")],
    ):
        line = assert_clean_failure(distill_main, argv, capsys, tmp_path, *expected)
        assert line.startswith(f"error: {path}"), line  # the data file is named first


@pytest.mark.parametrize(
    "dev, expected",
    [
        (None, "dev.csv: no such file"),
        (
            delimited(ROWS[:6] + [("good", "maybe")]).encode(),
            "dev.csv: line 8: unknown label 'maybe'; expected one of negative, positive",
        ),
        (b"text,label\n", "dev.csv: no rows with text"),
        (delimited(header=("review", "label")).encode(), "dev.csv: missing column 'text'"),
    ],
)
def test_bad_dev_file(tmp_path, encoder, capsys, dev, expected):
    train = write_data(tmp_path, "train.csv", delimited().encode())
    if dev is not None:
        write_data(tmp_path, "dev.csv", dev)
    teacher, student = configs(tmp_path, encoder, {"source": str(train), "dev": str(tmp_path / "dev.csv")})
    assert_clean_failure(
        distill_main,
        ["run", str(teacher), str(student), "--output-dir", str(tmp_path / "out")],
        capsys,
        tmp_path,
        expected,
    )


def test_glue_folder_without_train_file(tmp_path, encoder, capsys):
    glue = tmp_path / "SST-2"
    glue.mkdir()
    (glue / "dev.tsv").write_text(delimited(header=("sentence", "label"), sep="\t"))
    teacher, student = configs(
        tmp_path, encoder, {"source": str(glue), "format": "glue", "glue_task": "sst2"}
    )
    assert_clean_failure(
        distill_main,
        ["validate", str(teacher), str(student)],
        capsys,
        tmp_path,
        f"{glue / 'train.tsv'}: no such file",
    )


@pytest.mark.parametrize(
    "data, expected",
    [
        (
            {"encoding": "klingon"},
            'data.encoding: expected a Python codec name such as utf-8, latin-1 or cp1252, got "klingon"',
        ),
        ({"encoding": "utf-16"}, "data.encoding: expected an ASCII-compatible codec"),
        (
            {"split": {"dev": 0.5, "test": 0.5}},
            "data.split: dev + test must be below 1 (the rest is the train split), got 0.5 + 0.5",
        ),
        ({"source": ""}, "data.source: expected a non-empty string"),
    ],
)
def test_data_settings_are_config_errors(tmp_path, encoder, capsys, data, expected):
    csv = write_data(tmp_path, "d.csv", delimited().encode())
    teacher, student = configs(tmp_path, encoder, {"source": str(csv), **data})
    line = assert_clean_failure(distill_main, ["run", str(teacher), str(student)], capsys, tmp_path, expected)
    assert line.startswith(f"error: {teacher}: ")


def test_mixed_encoding_reads_with_the_right_encoding_and_odd_files_that_are_fine(tmp_path):
    latin = write_data(
        tmp_path, "latin.csv", delimited().encode() + "caf\u00e9 good,positive\n".encode("latin-1")
    )
    s = load_splits(DataConfig(source=str(latin), encoding="latin-1"))
    assert "caf\u00e9 good" in s.train.texts + s.dev.texts + s.test.texts  # no replacement characters
    bom = write_data(tmp_path, "bom.csv", b"\xef\xbb\xbf" + delimited().encode())  # Excel's UTF-8 CSV
    # the column is "text"
    assert load_splits(DataConfig(source=str(bom))).label_names == [
        "negative",
        "positive",
    ]
    crlf = write_data(tmp_path, "crlf.csv", delimited().replace("\n", "\r\n").encode())
    assert set(load_splits(DataConfig(source=str(crlf))).train.texts) <= {t for t, _ in ROWS}  # no stray "\r"
    big = write_data(tmp_path, "big.csv", delimited(ROWS + [(BIG, "positive")]).encode())
    s = load_splits(DataConfig(source=str(big)))
    # read whole: the tokenizer truncates it to max_length
    assert BIG in s.train.texts + s.dev.texts + s.test.texts


# ---------------------------------------------------------------------------------------------
# augment input files

AUGMENT_CONFIGS = {
    "streaming only": {
        "n_iter": 2,
        "text_columns": ["text"],
        "strategies": [{"name": "masking", "p_mask": 0.3}, {"name": "ngram"}],
    },
    "with corpus pass": {
        "n_iter": 2,
        "text_columns": ["text"],
        "strategies": [{"name": "pos", "p_pos": 0.3}, {"name": "ngram"}],
    },
}
AUGMENT_BAD = {
    k: v
    for k, v in BAD_DATA.items()
    if k
    not in (
        "label outside the label set",
        "one label only",
        "unknown format for a folder",
        "GLUE ragged row",
        "GLUE wrong columns",
        "blank texts only",
        "regression labels",
        "multi-label column",
        "GLUE folder without dev.tsv",
    )
}
AUGMENT_MESSAGES = {
    "header only": ("has a header but no data rows",),
    "wrong columns": ("missing text column 'text'",),
    "missing label column": (),
    "unterminated quote": ("line 42: ",),
}


@pytest.mark.parametrize("pipeline", sorted(AUGMENT_CONFIGS))
@pytest.mark.parametrize("case", sorted(AUGMENT_BAD))
def test_bad_augment_input_fails_before_any_output(tmp_path, capsys, pipeline, case):
    name, content, _, expected = AUGMENT_BAD[case]
    path = write_data(tmp_path, name, content)
    config = tmp_path / "aug.yaml"
    config.write_text(yaml.safe_dump(AUGMENT_CONFIGS[pipeline]))
    output = tmp_path / "not-yet" / "out.csv"  # its folder must not be created either
    argv = ["run", str(config), "--input", str(path), "--output", str(output), "--no-progress"]
    if case == "missing label column":  # augment needs only the text column: this one is fine
        assert augment_main(argv) == 0 and output.is_file()
        return
    expected = AUGMENT_MESSAGES.get(case, expected)
    assert_clean_failure(
        augment_main, argv, capsys, tmp_path, str(path), *expected, prefix="augment: error: "
    )
    text = ["text", str(config), "a good flight", "--corpus", str(path)]
    if pipeline == "with corpus pass":
        assert_clean_failure(
            augment_main, text, capsys, tmp_path, str(path), *expected, prefix="augment: error: "
        )


def test_augment_reads_a_1mb_line(tmp_path):
    path = write_data(tmp_path, "big.csv", delimited([ROWS[0], ("the flight " + BIG, "positive")]).encode())
    config = tmp_path / "aug.yaml"
    # dedup off: a short row's two masked copies may coincide, and this test counts rows
    config.write_text(
        yaml.safe_dump(
            {
                **AUGMENT_CONFIGS["streaming only"],
                "dedup": False,
                "strategies": [{"name": "masking", "p_mask": 0.1}],
            }
        )
    )
    output = tmp_path / "out.csv"
    assert (
        augment_main(["run", str(config), "--input", str(path), "--output", str(output), "--no-progress"])
        == 0
    )
    lines = output.read_text().splitlines()
    assert lines[0] == "text,label" and len(lines) == 1 + 2 * 3  # each row: the original and 2 copies
    assert all(len(line) > 900_000 for line in lines[4:])


# ---------------------------------------------------------------------------------------------
# compress / export / bench data flags


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    from tests.compress.conftest import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("fuzz-data") / "classifier")


@pytest.mark.parametrize(
    "case",
    ["empty", "binary csv", "latin-1 line in UTF-8", "JSONL missing key", "ragged row, too many fields"],
)
def test_compress_data_flags(tmp_path, capsys, classifier, case):
    name, content, _, expected = BAD_DATA[case]
    path = write_data(tmp_path, name, content)
    for argv in (
        [
            "compress",
            str(classifier),
            "--out",
            str(tmp_path / "o"),
            "--prune-heads",
            "0.5",
            "--train-data",
            str(path),
        ],
        ["export", str(classifier), "--out", str(tmp_path / "o"), "--verify-data", str(path)],
        ["bench", "--model", str(classifier), "--eval-data", str(path), "--out", str(tmp_path / "o")],
    ):
        assert_clean_failure(distill_main, argv, capsys, tmp_path, str(path), *expected)

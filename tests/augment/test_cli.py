"""The CLI end to end: determinism across runs and workers, pair modes, guards, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment.cli import main

ROWS = [
    ("the flight was late and the food was cold .", "is it late ?", "0"),
    ("i loved the friendly crew", "was the crew nice", "1"),
    ("worst airline ever , never again", "would you fly again", "0"),
    ("great seats and a good movie selection", "how were the seats", "1"),
] * 5

TANG = """
seed: 3
n_iter: 6
text_columns: {cols}
pair_mode: {mode}
strategies:
  - name: masking
    p_mask: 0.3
  - name: pos
    p_pos: 0.2
  - name: ngram
    p_ng: 0.25
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write(
        tmp_path / "train.tsv", "sentence\tquestion\tlabel\n" + "".join("\t".join(r) + "\n" for r in ROWS)
    )


def config(tmp_path: Path, cols: str = "[sentence]", mode: str = "first", extra: str = "") -> Path:
    return write(tmp_path / "augment.yaml", TANG.format(cols=cols, mode=mode) + extra)


def run(cfg: Path, inp: Path, out: Path, *more: str) -> int:
    return main(["run", str(cfg), "--input", str(inp), "--output", str(out), "--no-progress", *more])


def test_same_seed_same_bytes_across_runs_and_worker_counts(tmp_path, data):
    cfg = config(tmp_path)
    outs = [tmp_path / f"o{i}.tsv" for i in range(3)]
    assert run(cfg, data, outs[0]) == 0
    assert run(cfg, data, outs[1]) == 0
    assert run(cfg, data, outs[2], "--workers", "2") == 0
    first = outs[0].read_bytes()
    assert first == outs[1].read_bytes() == outs[2].read_bytes()
    assert run(cfg, data, tmp_path / "other.tsv", "--seed", "4") == 0
    assert (tmp_path / "other.tsv").read_bytes() != first
    lines = first.decode().splitlines()
    assert lines[0] == "sentence\tquestion\tlabel" and lines[1] == "\t".join(ROWS[0])
    assert 20 * 2 < len(lines) - 1 <= 20 * 7  # originals + up to n_iter deduplicated copies each
    assert "[MASK]" in first.decode()
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed


@pytest.mark.parametrize(
    ("mode", "changed"),
    [("first", {"sentence"}), ("second", {"question"}), ("both", {"sentence", "question"})],
)
def test_sentence_pair_modes_augment_the_chosen_columns(tmp_path, data, mode, changed):
    cfg = config(tmp_path, "[sentence, question]", mode, "keep_original: false\n")
    out = tmp_path / "out.jsonl"
    assert run(cfg, data, out) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    originals = {r[2]: r for r in ROWS}
    seen_changed = set()
    for row in rows:
        orig = next(
            o
            for o in ROWS
            if (o[0] == row["sentence"] or "sentence" in changed)
            and (o[1] == row["question"] or "question" in changed)
        )
        assert row["label"] in originals
        seen_changed |= {c for c, v in (("sentence", orig[0]), ("question", orig[1])) if row[c] != v}
    assert seen_changed == changed


def test_text_prints_n_augmentations(tmp_path, capsys):
    assert main(["text", str(config(tmp_path)), "the flight was late and the food was cold", "-n", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 1 <= len(lines) <= 8 and len(set(lines)) == len(lines)


def error_of(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    return err[0]


def test_output_equal_to_input_is_refused(tmp_path, data, capsys):
    before = data.read_bytes()
    err = error_of(capsys, ["run", str(config(tmp_path)), "--input", str(data), "--output", str(data)])
    assert (
        err
        == f"augment: error: {data}: --output is the input file; choose another path (the input is never overwritten)"
    )
    assert data.read_bytes() == before


def test_bad_input_errors_are_one_line(tmp_path, data, capsys):
    out = str(tmp_path / "o.tsv")
    cfg = str(config(tmp_path))
    missing = write(tmp_path / "nocol.tsv", "text\tlabel\nhello\t1\n")
    assert error_of(capsys, ["run", cfg, "--input", str(missing), "--output", out]) == (
        f"augment: error: {missing}: missing text column 'sentence' (the file has: 'text', 'label'); "
        "name it with --text-column or text_columns in the config"
    )
    empty = write(tmp_path / "empty.tsv", "")
    assert (
        error_of(capsys, ["run", cfg, "--input", str(empty), "--output", out])
        == f"augment: error: {empty}: file is empty"
    )
    bad = write(tmp_path / "bad.yaml", "strategies:\n  - name: masking\n    p_mask: 1.5\n")
    assert error_of(capsys, ["run", str(bad), "--input", str(data), "--output", out]) == (
        f"augment: error: {bad}: strategies.0.p_mask: expected a number in [0, 1], got 1.5"
    )
    bad = write(tmp_path / "bad.yaml", "strategies:\n  - name: maskin\n")
    assert error_of(capsys, ["run", str(bad), "--input", str(data), "--output", out]) == (
        f"augment: error: {bad}: strategies.0.name: unknown strategy 'maskin'; did you mean 'masking'?"
    )
    bad = write(tmp_path / "bad.yaml", "n_iters: 3\nstrategies:\n  - name: masking\n")
    assert error_of(capsys, ["run", str(bad), "--input", str(data), "--output", out]) == (
        f"augment: error: {bad}: n_iters: unknown key; did you mean 'n_iter'?"
    )
    bad = write(tmp_path / "bad.yaml", "strategies:\n  - name: tinybert\n    mlm_model: ./no/such/model\n")
    assert error_of(capsys, ["run", str(bad), "--input", str(data), "--output", out]) == (
        f"augment: error: {bad}: strategies.0.mlm_model: no such model folder: ./no/such/model"
    )
    bad = write(tmp_path / "bad.yaml", "strategies:\n  - name: glove\n    vectors: /no/vectors.txt\n")
    assert error_of(capsys, ["run", str(bad), "--input", str(data), "--output", out]) == (
        f"augment: error: {bad}: strategies.0.vectors: no such vectors file: /no/vectors.txt"
    )
    bad = write(tmp_path / "bad.yaml", "strategies:\n  - name: ngram\n  - name: masking\n")
    assert error_of(capsys, ["run", str(bad), "--input", str(data), "--output", out]) == (
        f"augment: error: {bad}: strategies.1: 'masking' changes words in place and must come before 'ngram'"
    )
    bad = write(tmp_path / "bad.yaml", "strategies:\n  - name: nlpaug\n    augmenter: BackTranslationAug\n")
    assert error_of(capsys, ["run", str(bad), "--input", str(data), "--output", out]) == (
        f"augment: error: {bad}: strategies.0.augmenter: 'BackTranslationAug' is not supported: it downloads translation models"
    )
    assert not Path(out).exists()


def test_glove_and_nlpaug_pipelines_run_deterministically(tmp_path, data, glove_file):
    text = (
        f"n_iter: 4\ncache_dir: {tmp_path / 'cache'}\nstrategies:\n"
        f"  - name: glove\n    vectors: {glove_file}\n    p_glove: 0.5\n"
        "  - name: nlpaug\n    augmenter: RandomWordAug\n    args: {action: swap}\n"
    )
    cfg = write(tmp_path / "g.yaml", text)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run(cfg, data, a) == 0 and run(cfg, data, b, "--workers", "2") == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().splitlines()[0] == "sentence,question,label"

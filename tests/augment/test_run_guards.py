"""`augment run` checks its output and its size before any work, and stops cleanly on signals.

Each failure is one line on stderr, exit 2 (130 / 143 for SIGINT / SIGTERM), no traceback, and
nothing left beside the output: no temporary file, no output file.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import augment.config
from augment.cli import main
from tests.fuzz_helpers import assert_clean_failure, files_under, unwritable_folder

REPO = Path(__file__).resolve().parents[2]
ROWS = ["the flight was late and the food was cold .\t0", "i loved the friendly crew\t1"] * 10  # 20 rows
CONFIG = "n_iter: {n}\nstrategies:\n  - name: masking\n    p_mask: 0.3\n  - name: ngram\n"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    return path


def config(tmp_path: Path, n: int = 3) -> Path:
    path = tmp_path / "aug.yaml"
    path.write_text(CONFIG.format(n=n), encoding="utf-8")
    return path


@pytest.fixture
def no_pipeline(monkeypatch):
    """Building the pipeline (loading models, tables) is work: the checks must come first."""

    def refuse(*a, **k):
        raise AssertionError("the pipeline was built before the check")

    monkeypatch.setattr(augment.config, "build_pipeline", refuse)


def argv(cfg: Path, inp: Path, out: Path | str, *more: str) -> list[str]:
    return ["run", str(cfg), "--input", str(inp), "--output", str(out), "--no-progress", *more]


# ---------------------------------------------------------------------------------------------
# item 8: the size of the output


def test_huge_n_iter_is_refused_with_the_estimate(tmp_path, data, capsys, no_pipeline):
    cfg = config(tmp_path, n=2147483647)
    line = assert_clean_failure(
        main, argv(cfg, data, tmp_path / "o.tsv"), capsys, tmp_path, prefix="augment: error: "
    )
    rows = 20 * 2147483648
    gib = rows * data.stat().st_size / 20 / 2**30
    assert line == (
        f"augment: error: {cfg}: n_iter: 2147483647 copies of each of 20 input rows make up to {rows:,} output rows "
        f"(about {gib:,.1f} GiB); the limit is 1,000,000,000 rows: lower n_iter or augment part of the input"
    )


def test_limit_counts_the_kept_originals(tmp_path, capsys, no_pipeline):
    """1,000 rows x (999,999 copies + the original) is exactly 10^9: allowed; one more copy is not."""
    inp = tmp_path / "rows.tsv"
    inp.write_text("sentence\tlabel\n" + "a b c\t0\n" * 1000, encoding="utf-8")
    cfg = tmp_path / "aug.yaml"
    cfg.write_text(CONFIG.format(n=1_000_000) + "chunk_size: 1\n", encoding="utf-8")
    line = assert_clean_failure(
        main, argv(cfg, inp, tmp_path / "o.tsv"), capsys, tmp_path, prefix="augment: error: "
    )
    assert "n_iter: 1000000 copies of each of 1,000 input rows make up to 1,000,001,000 output rows" in line
    from augment.bounds import check_output_size
    from augment.config import parse_config

    ok, _ = parse_config(
        {"n_iter": 999_999, "chunk_size": 1, "strategies": [{"name": "masking"}]}, "aug.yaml"
    )
    assert check_output_size(1000, 0, ok, tmp_path / "o.tsv", "aug.yaml") == 10**9  # no error


def test_copies_held_in_memory_at_once_are_bounded(tmp_path, capsys, no_pipeline):
    """Few rows, many copies: under the row limit, but one chunk's copies would not fit in memory."""
    inp = tmp_path / "one.tsv"
    inp.write_text("sentence\tlabel\nthe flight was late\t0\n", encoding="utf-8")
    cfg = config(tmp_path, n=5_000_000)
    line = assert_clean_failure(
        main, argv(cfg, inp, tmp_path / "o.tsv"), capsys, tmp_path, prefix="augment: error: "
    )
    assert line == (
        f"augment: error: {cfg}: n_iter: 5000000 copies of each row of a chunk of 1 rows (chunk_size) are "
        "5,000,000 sentences in memory at once; the limit is 1,000,000: lower n_iter or chunk_size"
    )
    line = assert_clean_failure(
        main,
        ["text", str(config(tmp_path)), "the flight", "-n", "2000000"],
        capsys,
        tmp_path,
        prefix="augment: error: ",
    )
    assert line.startswith(
        f"augment: error: {tmp_path / 'aug.yaml'}: n_iter: 2000000 copies of each row of a chunk of 1 rows"
    )


def test_output_larger_than_the_free_disk_is_refused(tmp_path, data, capsys, monkeypatch, no_pipeline):
    monkeypatch.setattr(
        shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)
    )
    cfg, out = config(tmp_path, n=1000), tmp_path / "sub" / "o.tsv"
    line = assert_clean_failure(main, argv(cfg, data, out), capsys, tmp_path, prefix="augment: error: ")
    size = data.stat().st_size / 20
    assert line == (
        f"augment: error: {out}: the augmented file would take about {20 * 1001 * size / 2**20:,.1f} MiB "
        f"(up to 20,020 rows of about {size:.0f} bytes), but {tmp_path} has 0.0 MiB free; "
        "free disk space, lower n_iter or write elsewhere"
    )


# ---------------------------------------------------------------------------------------------
# item 9: where the output goes


def test_output_naming_a_folder_is_refused_before_work(tmp_path, data, capsys, no_pipeline):
    folder = tmp_path / "out"
    folder.mkdir()
    line = assert_clean_failure(
        main, argv(config(tmp_path), data, folder), capsys, tmp_path, prefix="augment: error: "
    )
    assert line == f"augment: error: {folder}: --output is a folder; give the path of a file to write"


def test_output_naming_a_device_is_refused(tmp_path, data, capsys, no_pipeline):
    """The output is renamed onto its path at the end: that must not replace /dev/null."""
    line = assert_clean_failure(
        main, argv(config(tmp_path), data, "/dev/null"), capsys, tmp_path, prefix="augment: error: "
    )
    assert (
        line
        == "augment: error: /dev/null: --output exists and is not a regular file; give the path of a file to write"
    )
    assert Path("/dev/null").is_char_device()


def test_output_under_a_file_is_refused_before_work(tmp_path, data, capsys, no_pipeline):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "o.tsv"
    line = assert_clean_failure(
        main, argv(config(tmp_path), data, out), capsys, tmp_path, prefix="augment: error: "
    )
    assert line == f"augment: error: {out}: --output: cannot write there, {blocker} is a file, not a folder"


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    with unwritable_folder(tmp_path) as folder:
        yield folder


def test_unwritable_output_location_is_refused_before_work(tmp_path, data, capsys, unwritable, no_pipeline):
    out = unwritable / "o.tsv"
    before = files_under(unwritable) if unwritable.is_relative_to(tmp_path) else None
    line = assert_clean_failure(
        main, argv(config(tmp_path), data, out), capsys, tmp_path, prefix="augment: error: "
    )
    assert line.startswith(f"augment: error: {out}: --output: cannot write to {unwritable} (")
    assert line.endswith("); choose another path")
    assert before is None or files_under(unwritable) == before


def test_read_only_file_system_is_named(tmp_path, data, capsys, monkeypatch, no_pipeline):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    out = tmp_path / "o.tsv"
    line = assert_clean_failure(
        main, argv(config(tmp_path), data, out), capsys, tmp_path, prefix="augment: error: "
    )
    assert (
        line
        == f"augment: error: {out}: --output: cannot write to {tmp_path} (Read-only file system); choose another path"
    )


# ---------------------------------------------------------------------------------------------
# item 10: SIGINT and SIGTERM mid-run


def big_input(tmp_path: Path, rows: int = 400) -> Path:
    path = tmp_path / "big.tsv"
    path.write_text(
        "sentence\tlabel\n" + "\n".join(ROWS[i % 2] for i in range(rows)) + "\n", encoding="utf-8"
    )
    return path


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(("signal", "code", "name"), [("sigint", 130, "SIGINT"), ("sigterm", 143, "SIGTERM")])
def test_signal_mid_run_leaves_nothing(tmp_path, workers, signal, code, name):
    """AUGMENT_TEST_FAULT sends the signal after the 3rd chunk is in the temporary file: SIGINT to
    the whole process group, as Ctrl-C in a terminal does (the workers get it too), SIGTERM to the
    main process only, as `kill PID` does."""
    inp, out = big_input(tmp_path), tmp_path / "out" / "aug.tsv"
    cfg = tmp_path / "aug.yaml"
    cfg.write_text(CONFIG.format(n=4) + "chunk_size: 8\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUGMENT_TEST_FAULT": f"{signal}:3"}
    before = files_under(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "augment.cli", *argv(cfg, inp, out, "--workers", workers)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.splitlines() == [f"augment: interrupted ({name}); nothing written to {out}"]
    assert proc.stdout == ""
    assert files_under(tmp_path) == before  # no temporary, no output, not even the folder made for it


# ---------------------------------------------------------------------------------------------
# item 12: config errors name the file as the user gave it


def test_config_errors_name_the_path_as_given(tmp_path, data, capsys, monkeypatch):
    (tmp_path / "configs" / "aug").mkdir(parents=True)
    (tmp_path / "configs" / "aug" / "tang.yaml").write_text("n_iter: 0\nstrategies:\n  - name: masking\n")
    monkeypatch.chdir(tmp_path)
    line = assert_clean_failure(
        main, argv(Path("configs/aug/tang.yaml"), data, "o.tsv"), capsys, tmp_path, prefix="augment: error: "
    )
    assert line.startswith("augment: error: configs/aug/tang.yaml: n_iter: ")
    line = assert_clean_failure(
        main, ["text", "configs/aug/tang.yaml", "a b"], capsys, tmp_path, prefix="augment: error: "
    )
    assert line.startswith("augment: error: configs/aug/tang.yaml: n_iter: ")


# ---------------------------------------------------------------------------------------------
# item 14: --text-column / --pair-column


def test_shipped_config_runs_on_a_text_column(tmp_path):
    inp = tmp_path / "tweets.csv"
    inp.write_text("text,label\nthe flight was late,0\ni loved the crew,1\n", encoding="utf-8")
    out = tmp_path / "aug.csv"
    tang = REPO / "experiments" / "augment" / "tang.yaml"
    assert main(argv(tang, inp, out, "--text-column", "text")) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "text,label" and lines[1] == "the flight was late,0" and len(lines) > 3


def test_pair_column_flag_makes_a_pair_config(tmp_path):
    inp = tmp_path / "pairs.tsv"
    inp.write_text(
        "q\tp\tlabel\nis it late ?\tthe flight was late\t0\nwas the crew nice\ti loved the crew\t1\n"
    )
    cfg = tmp_path / "aug.yaml"
    cfg.write_text(
        "n_iter: 5\nkeep_original: false\npair_mode: second\ntext_columns: [a, b]\n"
        "strategies:\n  - {name: masking, p_mask: 0.5}\n"
    )
    out = tmp_path / "o.jsonl"
    assert main(argv(cfg, inp, out, "--text-column", "q", "--pair-column", "p")) == 0
    import json

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {r["q"] for r in rows} == {
        "is it late ?",
        "was the crew nice",
    }  # the first is not augmented
    assert any("[MASK]" in r["p"] for r in rows)


def test_missing_column_names_the_columns_and_the_flag(tmp_path, capsys, no_pipeline):
    inp = tmp_path / "tweets.csv"
    inp.write_text("text,label\nthe flight was late,0\n", encoding="utf-8")
    tang = REPO / "experiments" / "augment" / "tang.yaml"
    line = assert_clean_failure(
        main, argv(tang, inp, tmp_path / "o.csv"), capsys, tmp_path, prefix="augment: error: "
    )
    assert line == (
        f"augment: error: {inp}: missing text column 'sentence' (the file has: 'text', 'label'); "
        "name it with --text-column or text_columns in the config"
    )
    line = assert_clean_failure(
        main,
        argv(tang, inp, tmp_path / "o.csv", "--text-column", "body"),
        capsys,
        tmp_path,
        prefix="augment: error: ",
    )
    assert line.startswith(
        f"augment: error: {inp}: missing text column 'body' (the file has: 'text', 'label')"
    )
    line = assert_clean_failure(
        main,
        argv(tang, inp, tmp_path / "o.csv", "--text-column", "text", "--pair-column", "q"),
        capsys,
        tmp_path,
        prefix="augment: error: ",
    )
    assert line.startswith(f"augment: error: {inp}: missing text column 'q' (the file has: 'text', 'label')")

"""Fuzzing `augment run`'s output side: seeded random bad output paths, sizes around the bound,
and SIGINT / SIGTERM at random points of a run.

Bad paths and sizes fail with exit code 2 and one stderr line naming the output (or the config and
`n_iter`) before the pipeline is built, leaving no file; a signal exits with 130 / 143, one line,
no traceback, and nothing left: no temporary, no output, no folder made for it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import augment.config
from augment.bounds import MAX_CHUNK_COPIES, MAX_ROWS, check_output_size, check_size
from augment.cli import main as augment_main
from augment.config import parse_config
from distill.core.errors import ConfigError
from tests.fuzz_helpers import assert_clean_failure, files_under, unwritable_folder

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "the flight was late and the food was cold .",
    "i loved the friendly crew",
    "worst airline ever ; never again",
]
CONFIG = {
    "n_iter": 3,
    "text_columns": ["text"],
    "chunk_size": 8,
    "strategies": [{"name": "masking", "p_mask": 0.3}, {"name": "ngram", "p_ng": 0.25}],
}
FORMATS = {".tsv": "\t", ".csv": ","}


def write_input(tmp_path: Path, rows: int, suffix: str = ".tsv") -> Path:
    sep = FORMATS[suffix]
    path = tmp_path / f"train{suffix}"
    path.write_text(
        f"text{sep}label\n" + "".join(f"{TEXTS[i % 3]}{sep}{i % 2}\n" for i in range(rows)), encoding="utf-8"
    )
    return path


def write_config(tmp_path: Path, **override) -> Path:
    path = tmp_path / "aug.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **override}), encoding="utf-8")
    return path


@pytest.fixture
def no_pipeline(monkeypatch):
    monkeypatch.setattr(
        augment.config,
        "build_pipeline",
        lambda *a, **k: pytest.fail("the pipeline was built before the check"),
    )


def bad_output(rng: random.Random, tmp_path: Path, inp: Path, locked: Path) -> tuple[Path, str]:
    """A random output path that must be refused, and what the error must say."""
    kind = rng.choice(
        ["folder", "under a file", "unwritable", "the input", "a link to the input", "a device"]
    )
    name = f"out{rng.choice(['.tsv', '.csv', '.jsonl', ''])}"
    if kind == "folder":
        folder = tmp_path / f"dir{rng.randrange(10**6)}" / name
        folder.mkdir(parents=True)
        return folder, "--output is a folder"
    if kind == "under a file":
        blocker = tmp_path / f"file{rng.randrange(10**6)}"
        blocker.write_text("x")
        deeper = Path(*[f"d{i}" for i in range(rng.randrange(3))])
        return blocker / deeper / name, f"{blocker} is a file, not a folder"
    if kind == "unwritable":
        return locked / Path(
            *[f"d{i}" for i in range(rng.randrange(3))]
        ) / name, f"cannot write to {locked} ("
    if kind == "a device":
        return Path(rng.choice(["/dev/null", "/dev/zero"])), "exists and is not a regular file"
    if kind == "the input":
        return inp, "--output is the input file"
    link = tmp_path / f"link{rng.randrange(10**6)}.tsv"
    os.link(inp, link)
    return link, "--output is the input file"


def test_bad_output_paths_fail_cleanly_before_work(tmp_path, capsys, no_pipeline):
    rng = random.Random("fuzz-augment-output")
    inp, config = write_input(tmp_path, 20), write_config(tmp_path)
    with unwritable_folder(tmp_path) as locked:
        for _ in range(25):
            out, expected = bad_output(rng, tmp_path, inp, locked)
            more = rng.choice([[], ["--workers", "2"], ["--seed", "7"], ["--text-column", "text"]])
            argv = ["run", str(config), "--input", str(inp), "--output", str(out), "--no-progress", *more]
            assert_clean_failure(
                augment_main, argv, capsys, tmp_path, str(out), expected, prefix="augment: error: "
            )


def test_sizes_around_the_bound(tmp_path, capsys, no_pipeline):
    """Random row counts and n_iter near MAX_ROWS / rows: refused exactly when the most rows the
    run writes, rows x (n_iter + keep_original), exceed the bound; through the CLI, with the
    estimate; and chunks whose copies exceed MAX_CHUNK_COPIES."""
    rng = random.Random("fuzz-augment-bounds")
    for _ in range(200):
        # n_iter <= 10^6: one-row chunks fit in memory
        rows, keep = (
            rng.randrange(1001, 5000),
            rng.random() < 0.5,
        )
        n_iter = max(1, MAX_ROWS // rows - int(keep) + rng.randrange(-2, 3))
        cfg, _ = parse_config(
            {**CONFIG, "n_iter": n_iter, "keep_original": keep, "chunk_size": 1}, "aug.yaml"
        )
        most = rows * (n_iter + int(keep))
        if most > MAX_ROWS:
            with pytest.raises(
                ConfigError,
                match=rf"^aug\.yaml: n_iter: {n_iter} copies of each of {rows:,} input rows make up to {most:,} output rows",
            ):
                check_output_size(rows, rows * 40, cfg, tmp_path / "o.tsv", "aug.yaml")
        else:
            assert check_output_size(rows, rows * 0, cfg, tmp_path / "o.tsv", "aug.yaml") == most
    for _ in range(4):
        rows = rng.randrange(1, 60)
        n_iter = rng.choice([MAX_ROWS // rows + rng.randrange(1, 100), 2**31 - 1])
        inp, config = (
            write_input(tmp_path, rows, rng.choice(sorted(FORMATS))),
            write_config(tmp_path, n_iter=n_iter),
        )
        argv = ["run", str(config), "--input", str(inp), "--output", str(tmp_path / "o.tsv"), "--no-progress"]
        assert_clean_failure(
            augment_main,
            argv,
            capsys,
            tmp_path,
            f"{config}: n_iter: {n_iter} copies of each of {rows:,} input rows",
            "GiB); the limit is 1,000,000,000 rows",
            prefix="augment: error: ",
        )
    for _ in range(20):
        rows, chunk = rng.randrange(1, 200), rng.randrange(1, 100)
        n_iter = MAX_CHUNK_COPIES // min(rows, chunk) + rng.randrange(-2, 3)
        cfg, _ = parse_config({**CONFIG, "n_iter": n_iter, "chunk_size": chunk}, "aug.yaml")
        if min(rows, chunk) * n_iter > MAX_CHUNK_COPIES:
            with pytest.raises(
                ConfigError,
                match=r"sentences in memory at once; the limit is 1,000,000: lower n_iter or chunk_size$",
            ):
                check_size(rows, cfg, "aug.yaml")
        else:
            assert check_size(rows, cfg, "aug.yaml") == rows * (n_iter + 1)


@pytest.mark.parametrize("draw", range(3))
def test_signals_at_random_points_leave_nothing(tmp_path, draw):
    rng = random.Random(f"fuzz-augment-signal-{draw}")
    signal, code = rng.choice([("sigint", 130), ("sigterm", 143)])
    workers, chunk = rng.choice(["1", "2", "3"]), rng.randrange(1, 30)
    inp = write_input(tmp_path, 300, rng.choice(sorted(FORMATS)))
    out = (
        tmp_path / Path(*[f"d{i}" for i in range(rng.randrange(3))]) / f"aug{rng.choice(['.tsv', '.jsonl'])}"
    )
    config = write_config(tmp_path, n_iter=rng.randrange(2, 6))
    before = files_under(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "augment.cli",
            "run",
            str(config),
            "--input",
            str(inp),
            "--output",
            str(out),
            "--no-progress",
            "--workers",
            workers,
        ],
        env={**os.environ, "PYTHONPATH": str(REPO), "AUGMENT_TEST_FAULT": f"{signal}:{chunk}"},
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert proc.returncode == code, (signal, workers, chunk, proc.stderr)
    assert proc.stderr.splitlines() == [f"augment: interrupted ({signal.upper()}); nothing written to {out}"]
    assert files_under(tmp_path) == before, (signal, workers, chunk)

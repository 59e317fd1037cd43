"""Files and folders the toolkit writes honour the umask, as open() and mkdir() do (0666/0777 & ~umask),
so another user, or a container running as another uid, can read a saved student, metrics, caches."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

import pytest

from distill.core.atomic import atomic_dir, atomic_file, write_text


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_atomic_file_and_dir_honour_the_umask(tmp_path, mask):
    with umask(mask):
        write_text(tmp_path / "a.txt", "x")
        with atomic_file(tmp_path / "b.bin", "wb") as f:
            f.write(b"x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "inner.txt").write_text("x")
        with atomic_dir(tmp_path / "d") as tmp:  # replacing an existing folder
            (tmp / "inner.txt").write_text("y")
    assert mode(tmp_path / "a.txt") == 0o666 & ~mask
    assert mode(tmp_path / "b.bin") == 0o666 & ~mask
    assert mode(tmp_path / "d") == 0o777 & ~mask
    assert mode(tmp_path / "d" / "inner.txt") == 0o666 & ~mask


def test_saved_student_and_metrics_are_readable_by_others(tmp_path, tiny_encoder_dir):
    from distill.cli import main
    from tests.distill.test_run import configs

    teacher, student = configs(tmp_path, tiny_encoder_dir)
    out = tmp_path / "run"
    with umask(0o022):
        assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["student"]
    files = [p for p in out.rglob("*") if p.is_file()]
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert {"metrics.json", "model.safetensors", "config.json", "config.resolved.yaml"} <= {
        p.name for p in files
    }
    assert {p.relative_to(out).as_posix(): oct(mode(p)) for p in files if mode(p) != 0o644} == {}
    assert {p.relative_to(out).as_posix(): oct(mode(p)) for p in folders if mode(p) != 0o755} == {}
    cache = tmp_path / "cache"
    cached = [p for p in cache.rglob("*")]
    assert (
        cached
        and {p.relative_to(cache).as_posix(): oct(mode(p)) for p in cached if mode(p) not in (0o644, 0o755)}
        == {}
    )


def test_augment_output_is_readable_by_others(tmp_path):
    import yaml

    from augment.cli import main as augment_main

    src = tmp_path / "train.tsv"
    src.write_text("sentence\tlabel\nthe flight was late\t0\ni loved the crew\t1\n", encoding="utf-8")
    config = tmp_path / "aug.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "n_iter": 2,
                "text_columns": ["sentence"],
                "format": "tsv",
                "strategies": [{"name": "masking", "p_mask": 0.3}],
            }
        )
    )
    out = tmp_path / "out" / "augmented.tsv"
    with umask(0o022):
        assert (
            augment_main(["run", str(config), "--input", str(src), "--output", str(out), "--no-progress"])
            == 0
        )
    assert mode(out) == 0o644

"""Checkpoints and resume of `distill run`: SIGKILL at an arbitrary step, Ctrl-C, corrupt
checkpoints, config changes, unwritable or full output folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertModel

from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, tiny_config, tiny_tokenizer, toy_rows, write_csv

REPO = Path(__file__).resolve().parents[2]

# 32 training examples, batch 8: 4 steps per epoch, 12 per stage, 24 in all; a resume checkpoint
# every 5 global steps (5, 10, 15, 20) and at each stage end (12, 24), the newest 2 kept.
STUDENT = """
name: resumable
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
init: teacher
batch_size: 8
eval_batch_size: 64
checkpoint: {every_steps: 5, keep_last: 2}
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: intermediate, epochs: 3, lr: 1.0e-3, eval: false, objectives: {emb: {}, hidden: {}, attn: {}}}
  - {name: prediction, epochs: 3, lr: 1.0e-2, objectives: {pred: {temperature: 2.0}, ce: {weight: 0.5}}}
"""

# Everything in metrics.json that training determines (not timings, not the machine).
# (Teacher calls are left out: the runs share one teacher-output cache, so only the first run misses it.)
STAGE_FIELDS = ("name", "steps", "loss_first", "loss_last", "dev_history", "best_dev_accuracy")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """Configs, a shared teacher cache (fine-tuned once) and an uninterrupted reference run."""
    root = tmp_path_factory.mktemp("resume")
    torch.manual_seed(0)
    encoder = root / "encoder"
    BertModel(tiny_config()).save_pretrained(encoder)
    tiny_tokenizer(encoder).save_pretrained(encoder)
    data = write_csv(root / "toy.csv", toy_rows(64))
    teacher = root / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(TINY_TEACHER_YAML.format(name="t", model=encoder, data=data, cache=root / "cache"))
    )
    student = root / "student.yaml"
    student.write_text(STUDENT)
    reference = root / "reference"
    assert main(["--threads", "1", "run", str(teacher), str(student), "--output-dir", str(reference)]) == 0
    return {"root": root, "teacher": teacher, "student": student, "reference": reference}


def cli(
    setup: dict, out: Path, *flags: str, fault: str | None = None, student: Path | None = None
) -> subprocess.CompletedProcess:
    """`python -m distill.cli run` in a fresh process (one torch thread, like the reference)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if fault:
        env["DISTILL_TEST_FAULT"] = fault
    args = [
        "--threads",
        "1",
        "run",
        str(setup["teacher"]),
        str(student or setup["student"]),
        "--output-dir",
        str(out),
        *flags,
    ]
    return subprocess.run(
        [sys.executable, "-m", "distill.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def resume(setup: dict, out: Path, *flags: str) -> int:
    return main(
        [
            "--threads",
            "1",
            "run",
            str(setup["teacher"]),
            str(setup["student"]),
            "--output-dir",
            str(out),
            *flags,
        ]
    )


def checkpoints(out: Path) -> list[str]:
    folder = out / "checkpoints" / "resume"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def assert_same_result(out: Path, reference: Path) -> None:
    """Bit-identical student weights and identical training metrics."""
    a, b = load_file(out / "model.safetensors"), load_file(reference / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    ma, mb = (
        json.loads((out / "metrics.json").read_text()),
        json.loads((reference / "metrics.json").read_text()),
    )
    assert (ma["student"]["dev"], ma["student"]["test"]) == (mb["student"]["dev"], mb["student"]["test"])
    assert [{k: s[k] for k in STAGE_FIELDS} for s in ma["stages"]] == [
        {k: s[k] for k in STAGE_FIELDS} for s in mb["stages"]
    ]
    # counted across the resume
    assert ma["stages"][0]["teacher_calls"] == mb["stages"][0]["teacher_calls"] == 12
    assert not (out / "checkpoints" / "resume").exists()  # a finished run drops its resume state


@pytest.fixture(scope="module")
def killed(setup) -> Path:
    """A run SIGKILLed at global step 17 (stage 2's step 5). The newest checkpoint is global step
    15, so steps 16-17 are lost and redone on resume, which also restores stage 1's results and
    stage 2's dev history and best weights. Tests resume copies of it."""
    out = setup["root"] / "killed"
    run = cli(setup, out, fault="kill:17")
    assert run.returncode == -9, run.stderr
    assert checkpoints(out) == ["00-00000012-end", "01-00000003"]  # keep_last 2 of 5, 10, 12-end, 15
    assert not (out / "model.safetensors").exists()
    return out


def copy_of(killed: Path, name: str) -> Path:
    return Path(shutil.copytree(killed, killed.with_name(name)))


def test_sigkill_mid_run_then_resume_is_bit_identical(setup, killed):
    out = copy_of(killed, "killed-resumed")
    assert resume(setup, out, "--resume") == 0
    assert "(stage 1, step 3)" in (out / "run.log").read_text()
    assert_same_result(out, setup["reference"])


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(setup, killed):
    out = copy_of(killed, "corrupt")
    state = out / "checkpoints" / "resume" / "01-00000003" / "state.pt"
    state.write_bytes(state.read_bytes()[:1000])  # truncated, as by a full disk outside our control
    assert resume(setup, out) == 0  # automatic resume, no flag
    log = (out / "run.log").read_text()
    assert (
        "01-00000003 is unusable (state.pt does not match its checksum (truncated or corrupt)); trying the previous one"
        in log
    )
    assert "00-00000012-end (stage 0, step 12)" in log
    assert_same_result(out, setup["reference"])


def test_sigint_saves_a_checkpoint_and_exits_130_then_resume_completes(setup, monkeypatch, capsys):
    # In this process (a real SIGINT to itself, no subprocess start-up): the handler is ours only
    # while the stages train, and pytest's own is back afterwards.
    out = setup["root"] / "interrupted"
    monkeypatch.setenv("DISTILL_TEST_FAULT", "sigint:7")  # stage 1, between the checkpoints at 5 and 10
    assert resume(setup, out) == 130
    saved = out / "checkpoints" / "resume" / "00-00000007"
    assert (
        capsys.readouterr().err.strip().splitlines()[-1]
        == f"interrupted: checkpoint saved to {saved}; run the same command again to resume"
    )
    assert checkpoints(out) == ["00-00000005", "00-00000007"]
    assert not (out / "model.safetensors").exists()
    monkeypatch.delenv("DISTILL_TEST_FAULT")
    assert resume(setup, out) == 0
    assert_same_result(out, setup["reference"])


def test_sigterm_saves_a_checkpoint_and_exits_143_then_resume_completes(setup):
    # A real SIGTERM (as from `kill`, a scheduler or `docker stop`) to a separate process.
    out = setup["root"] / "terminated"
    run = cli(setup, out, fault="sigterm:7")  # stage 1, between the checkpoints at 5 and 10
    assert run.returncode == 143, run.stderr
    saved = out / "checkpoints" / "resume" / "00-00000007"
    assert (
        run.stderr.strip().splitlines()[-1]
        == f"terminated: checkpoint saved to {saved}; run the same command again to resume"
    )
    assert "Traceback" not in run.stderr
    assert checkpoints(out) == ["00-00000005", "00-00000007"]
    assert not (out / "model.safetensors").exists()
    assert resume(setup, out) == 0
    assert "(stage 0, step 7)" in (out / "run.log").read_text()
    assert_same_result(out, setup["reference"])


def test_config_change_that_breaks_resumption_is_refused(setup, killed, capsys):
    out = copy_of(killed, "changed")
    base = setup["student"].read_text()
    for old, new, reason in [
        ("batch_size: 8", "batch_size: 4", "student.batch_size: was 8, now 4"),
        ("num_layers: 2", "num_layers: 3", "student.architecture.num_layers: was 2, now 3"),
        ("name: prediction", "name: pred", 'student.stages.1.name: was "prediction", now "pred"'),
        (
            "{emb: {}, hidden: {}, attn: {}}",
            "{emb: {}, hidden: {}}",
            "student.stages.0.objectives.attn: removed",
        ),
    ]:
        setup["student"].write_text(base.replace(old, new))
        try:
            assert resume(setup, out) == 2
        finally:
            setup["student"].write_text(base)
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            f"error: {setup['student']}: cannot resume from {out / 'checkpoints' / 'resume' / '01-00000003'}: {reason}; "
            "this change breaks resumption (run with --fresh to discard the checkpoints, or use another --output-dir)"
        ]
    assert checkpoints(out) == ["00-00000012-end", "01-00000003"]  # refusing touched nothing
    assert resume(setup, setup["root"] / "never-run", "--resume") == 2
    assert "--resume: no usable checkpoint to resume from" in capsys.readouterr().err

    setup["student"].write_text(base.replace("batch_size: 8", "batch_size: 4"))
    try:
        assert resume(setup, out, "--fresh") == 0  # the incompatible checkpoints, discarded on purpose
    finally:
        setup["student"].write_text(base)
    assert json.loads((out / "metrics.json").read_text())["stages"][0]["steps"] == 24  # batch 4, from step 0


def test_harmless_change_is_resumed(setup, killed):
    out = copy_of(killed, "harmless")
    base = setup["student"].read_text()
    setup["student"].write_text(
        base.replace("eval_batch_size: 64", "eval_batch_size: 16").replace(
            "latency_runs: 2", "latency_runs: 3"
        )
    )
    try:
        assert resume(setup, out) == 0
    finally:
        setup["student"].write_text(base)
    assert "(stage 1, step 3)" in (out / "run.log").read_text()
    assert_same_result(out, setup["reference"])  # eval batching did not change a score here


def test_unwritable_output_dir_fails_before_training(setup, capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = setup["root"] / "cache"
    before = sorted(os.listdir(cache))
    assert resume(setup, blocker / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    # --output-dir gave the folder, so the message names the flag, not student.yaml's output_dir
    assert (
        err[0]
        == f"error: --output-dir: cannot write to {blocker / 'out'} ({blocker} is a file, not a folder); "
        "choose another folder with output_dir or --output-dir"
    )
    assert sorted(os.listdir(cache)) == before  # nothing was loaded or computed


def test_too_little_disk_space_fails_before_training(setup, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(
        shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)
    )
    out = tmp_path / "full"
    assert resume(setup, out) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"error: --output-dir: {out} has 0.0 MB free, but the run writes about")
        and len(err.splitlines()) == 1
    )
    assert "lower checkpoint.keep_last" in err
    assert not (out / "checkpoints").exists()

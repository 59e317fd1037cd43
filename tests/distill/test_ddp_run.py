"""`distill run` on 2 gloo processes (CPU) against the same run on one process: the same global
batches, so the same student up to float summation order, and one set of files.

The fast tests fork the two ranks from the test process (no interpreter start-up, no imports: a
`torchrun` launch costs ~35 s of start-up on this 2-core machine); the slow one launches
`python -m torch.distributed.run --nproc-per-node 2 -m distill.cli run ...` as a user would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from transformers import BertModel

from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, tiny_config, tiny_tokenizer, toy_rows, write_csv

REPO = Path(__file__).resolve().parents[2]

# 32 training examples. Global batch 5 in 2 micro-batches per step: each micro-batch splits 2 + 3
# over the ranks, the epoch's last one (2 examples) 1 + 1; token counts differ between the slices,
# which the per-unit loss shares must weigh right. Intermediate stage: emb, hidden (token means)
# and attn (token-pair mean) through a learned W_h (16 -> 32); prediction stage: pred + ce
# (example means), evaluated on dev after each epoch, best weights kept. Dropout off: with dropout
# each process draws its own masks, and the runs agree in distribution only.
STUDENT = """
name: ddp
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32, dropout: 0.0}
init: teacher
batch_size: 5
train: {grad_accum_steps: 2}
teacher_cache: {dir: %s}
checkpoint: {every_steps: 3, keep_last: 2}
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: intermediate, epochs: 2, lr: 1.0e-3, eval: false, objectives: {emb: {}, hidden: {}, attn: {}}}
  - {name: prediction, epochs: 2, lr: 1.0e-2, eval: true, objectives: {pred: {temperature: 2.0}, ce: {weight: 0.5}}}
"""

# A BiLSTM student (its own word stream), global batch 31: the epoch's last batch holds one example,
# so rank 1 has none and joins the all-reduce with a zero-weighted loss.
BILSTM = """
name: ddp-bilstm
architecture: {family: bilstm, bilstm: {hidden: 8, mlp: 8, dropout: 0.0}}
init: random
batch_size: 31
teacher_cache: {dir: %s}
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - {name: task, epochs: 3, lr: 1.0e-2, eval: true, objectives: {logit_mse: {}, ce: {weight: 0.5}}}
"""

ATOL = 1e-5  # fp32, 2-way split of every sum: measured max |Δw| below 1e-6 (see test)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """A tiny teacher (fine-tuned once, cached) and the student configs."""
    root = tmp_path_factory.mktemp("ddp")
    torch.manual_seed(0)
    encoder = root / "encoder"
    BertModel(tiny_config()).save_pretrained(encoder)
    tiny_tokenizer(encoder).save_pretrained(encoder)
    data = write_csv(root / "toy.csv", toy_rows(64))
    teacher = root / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(TINY_TEACHER_YAML.format(name="t", model=encoder, data=data, cache=root / "cache"))
    )
    return {"root": root, "teacher": teacher}


def student(setup: dict, body: str, tag: str) -> Path:
    """A student.yaml whose teacher-output cache is private to ``tag``: the 2-process run fills its own."""
    path = setup["root"] / f"{tag}.yaml"
    path.write_text(body % (setup["root"] / f"outputs-cache-{tag}"))
    return path


def one_process(setup: dict, student_yaml: Path, out: Path) -> dict:
    assert (
        main(["--threads", "1", "run", str(setup["teacher"]), str(student_yaml), "--output-dir", str(out)])
        == 0
    )
    return json.loads((out / "metrics.json").read_text())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(rank: int, port: int, argv: list[str]) -> None:
    """One forked rank: the environment torchrun would give it, then the CLI."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank)
    )
    code = main(argv)
    if code:
        raise SystemExit(code)


def two_processes(setup: dict, student_yaml: Path, out: Path) -> None:
    argv = ["--threads", "1", "run", str(setup["teacher"]), str(student_yaml), "--output-dir", str(out)]
    mp.start_processes(_rank, args=(_free_port(), argv), nprocs=2, start_method="fork")


def torchrun(setup: dict, student_yaml: Path, out: Path) -> subprocess.CompletedProcess:
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "distill.cli",
    ]
    args = ["--threads", "1", "run", str(setup["teacher"]), str(student_yaml), "--output-dir", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([*launch, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def assert_equivalent(out: Path, reference: Path) -> None:
    a, b = load_file(out / "model.safetensors"), load_file(reference / "model.safetensors")
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < ATOL, f"max |Δw| {worst}"
    assert any(not torch.equal(a[k], b[k]) for k in a) or worst == 0.0
    ma, mb = (
        json.loads((out / "metrics.json").read_text()),
        json.loads((reference / "metrics.json").read_text()),
    )
    assert (ma["student"]["dev"], ma["student"]["test"]) == (mb["student"]["dev"], mb["student"]["test"])
    assert ma["teacher"]["dev"] == mb["teacher"]["dev"]  # sharded teacher evaluation, counts summed
    for sa, sb in zip(ma["stages"], mb["stages"], strict=True):
        assert sa["steps"] == sb["steps"]
        # examples counted in global batches (the stage trained len(train) x epochs of them)
        seen = sb["examples_per_second"] * sb["seconds"]
        assert seen > 0 and sa["examples_per_second"] * sa["seconds"] == pytest.approx(seen)
        assert [h["accuracy"] for h in sa["dev_history"]] == [h["accuracy"] for h in sb["dev_history"]]
        # the global batch's loss, not rank 0's
        assert sa["loss_first"] == pytest.approx(sb["loss_first"], rel=1e-5)
        assert sa["loss_last"] == pytest.approx(sb["loss_last"], rel=1e-4)
    assert ma["machine"]["processes"] == 2 and mb["machine"]["processes"] == 1


def same_files(out: Path, reference: Path) -> None:
    """One writer: the same files as the 1-process run, each log line once."""
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert files == sorted(str(p.relative_to(reference)) for p in reference.rglob("*"))
    log = (out / "run.log").read_text()
    # "objectives", "N steps"
    assert log.count("teacher: dev accuracy") == 1 and log.count("stage prediction: ") == 2


@pytest.fixture(scope="module")
def pair(setup) -> dict:
    """The TinyBERT job on 1 process and on 2 forked ranks."""
    reference = one_process(setup, student(setup, STUDENT, "one"), setup["root"] / "one")
    two_processes(setup, student(setup, STUDENT, "two"), setup["root"] / "two")
    return {"one": setup["root"] / "one", "two": setup["root"] / "two", "reference": reference}


def test_two_gloo_processes_train_the_one_process_student_and_only_rank_0_writes(setup, pair):
    out = pair["two"]
    assert_equivalent(out, pair["one"])
    same_files(out, pair["one"])
    # rank 0 built the teacher-output cache (logits, prediction stage) once; rank 1 read it
    assert len(list((setup["root"] / "outputs-cache-two").glob("teacher-*.pt"))) == 1
    assert pair["reference"]["stages"][1]["teacher_cache"] == "miss"
    assert json.loads((out / "metrics.json").read_text())["stages"][1]["teacher_cache"] == "miss"


def test_killed_two_rank_run_resumes_bit_identically_on_two_ranks_and_refuses_one(
    setup, pair, monkeypatch, capsys
):
    # 16 global steps (8 per stage); checkpoints every 3 and at stage ends, the newest 2 kept:
    # both ranks SIGKILL themselves after step 11, so the run resumes from step 9 (stage 1, step 1)
    out = setup["root"] / "killed"
    monkeypatch.setenv("DISTILL_TEST_FAULT", "kill:11")
    with pytest.raises(mp.ProcessExitedException):
        two_processes(setup, student(setup, STUDENT, "two"), out)
    monkeypatch.delenv("DISTILL_TEST_FAULT")
    assert sorted(p.name for p in (out / "checkpoints" / "resume").iterdir()) == [
        "00-00000008-end",
        "01-00000001",
    ]
    refused = main(
        [
            "--threads",
            "1",
            "run",
            str(setup["teacher"]),
            str(setup["root"] / "two.yaml"),
            "--output-dir",
            str(out),
        ]
    )
    assert (
        refused == 2 and "processes: was 2, now 1; this change breaks resumption" in capsys.readouterr().err
    )
    two_processes(setup, setup["root"] / "two.yaml", out)
    assert "(stage 1, step 1)" in (out / "run.log").read_text()
    a, b = load_file(out / "model.safetensors"), load_file(pair["two"] / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # same processes, same reduction order: bits
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (out, pair["two"]))
    assert (ma["student"]["dev"], ma["stages"][1]["dev_history"]) == (
        mb["student"]["dev"],
        mb["stages"][1]["dev_history"],
    )


def test_bilstm_last_batch_of_one_example_leaves_rank_1_empty(setup):
    one_process(setup, student(setup, BILSTM, "bilstm-one"), setup["root"] / "bilstm-one")
    out = setup["root"] / "bilstm-two"
    two_processes(setup, student(setup, BILSTM, "bilstm-two"), out)
    assert_equivalent(out, setup["root"] / "bilstm-one")


@pytest.mark.slow
def test_torchrun_launch_of_the_cli(setup):
    one_process(setup, student(setup, STUDENT, "launch-one"), setup["root"] / "launch-one")
    out = setup["root"] / "launch-two"
    run = torchrun(setup, student(setup, STUDENT, "launch-two"), out)
    assert_equivalent(out, setup["root"] / "launch-one")
    same_files(out, setup["root"] / "launch-one")
    assert run.stdout.count("student saved to") == 1  # rank 1 prints nothing


def test_general_distillation_on_two_ranks_equals_one_process(tmp_path, tiny_encoder_dir):
    # 45 texts, global batch 7 (the last one of 3 splits 1 + 2), all in one chunk; 3 epochs of 7 steps
    corpus = tmp_path / "texts.txt"
    corpus.write_text("".join(t + "\n" for t, _ in toy_rows(45, seed=1)))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        f"name: t\nmodel: {tiny_encoder_dir}\nmax_length: 16\ndata: {{source: unused.csv}}\ncache_dir: {tmp_path}\n"
    )
    student = tmp_path / "student.yaml"
    student.write_text(
        "name: g\narchitecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32, dropout: 0.0}\n"
        "init: random\nstages: [{name: general, objectives: {emb: {}, hidden: {}, attn: {}}}]\n"
    )
    args = [
        "--threads",
        "1",
        "general",
        str(teacher),
        str(student),
        "--corpus",
        str(corpus),
        "--epochs",
        "3",
        "--lr",
        "3e-3",
        "--batch-size",
        "7",
    ]
    assert main([*args, "--output-dir", str(tmp_path / "one")]) == 0
    mp.start_processes(
        _rank,
        args=(_free_port(), [*args, "--output-dir", str(tmp_path / "two")]),
        nprocs=2,
        start_method="fork",
    )
    a, b = (
        load_file(tmp_path / "one" / "model.safetensors"),
        load_file(tmp_path / "two" / "model.safetensors"),
    )
    assert max((a[k] - b[k]).abs().max().item() for k in a) < ATOL
    ra, rb = (json.loads((tmp_path / d / "general.json").read_text()) for d in ("one", "two"))
    assert ra["steps"] == rb["steps"] == 21 and rb["probe_loss_after"] == pytest.approx(
        ra["probe_loss_after"], rel=1e-5
    )
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )

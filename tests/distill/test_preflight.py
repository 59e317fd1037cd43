"""The pre-flight shared by `distill run` and `distill validate`: whatever run refuses before it
trains, validate refuses with the same one line and exit code 2, and neither writes anything."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import huggingface_hub.constants
import pytest
import yaml

from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv
from tests.fuzz_helpers import files_under

STUDENT = """
name: tiny-student
architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
batch_size: 8
device: cpu
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
stages:
  - name: prediction
    epochs: 2
    lr: 1.0e-3
    objectives: {pred: {temperature: 2.0}, ce: {weight: 0.5}}
"""


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def write_configs(
    root: Path, model: Path, teacher_extra: dict | None = None, student_extra: dict | None = None
) -> tuple[Path, Path]:
    data = write_csv(root / "toy.csv", toy_rows(64))
    teacher = yaml.safe_load(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(name="tiny-teacher", model=model, data=data, cache=root / "cache")
        )
    )
    student = yaml.safe_load(STUDENT)
    for cfg, extra in ((teacher, teacher_extra), (student, student_extra)):
        for key, value in (extra or {}).items():
            node = cfg
            *parents, last = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
    t, s = root / "teacher.yaml", root / "student.yaml"
    t.write_text(yaml.safe_dump(teacher))
    s.write_text(yaml.safe_dump(student))
    return t, s


def one_error(argv: list[str], capsys, watched: Path) -> str:
    before = files_under(watched)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert files_under(watched) == before, f"{argv} left {files_under(watched) - before}"
    return lines[0]


def same_error_from_validate_and_run(
    teacher: Path, student: Path, out: Path, capsys, watched: Path, *flags: str
) -> str:
    validate = one_error(
        ["validate", str(teacher), str(student), "--output-dir", str(out), *flags], capsys, watched
    )
    run = one_error(["run", str(teacher), str(student), "--output-dir", str(out), *flags], capsys, watched)
    assert validate == run
    return validate


def blocked(root: Path) -> Path:
    """A location that cannot be written, even by root: its parent is a regular file."""
    (root / "a-file").write_text("not a folder")
    return root / "a-file" / "sub"


CASES = {
    "finetune never, bare encoder": (
        lambda root, model: ({"finetune.mode": "never"}, {}),
        lambda root, model: f"teacher.yaml: finetune.mode: never, but '{model}' has no classification head",
    ),
    "unwritable teacher cache_dir": (
        lambda root, model: ({"cache_dir": str(blocked(root))}, {}),
        lambda root, model: (
            f"teacher.yaml: cache_dir: cannot write to {root / 'a-file' / 'sub'} ({root / 'a-file'} is a file, not a folder)"
        ),
    ),
    "unwritable teacher_cache.dir": (
        lambda root, model: ({}, {"teacher_cache.dir": str(blocked(root))}),
        lambda root, model: (
            f"student.yaml: teacher_cache.dir: cannot write to {root / 'a-file' / 'sub'} ({root / 'a-file'} is a file"
        ),
    ),
    "fp16 on the CPU": (
        lambda root, model: ({}, {"train.precision": "fp16"}),
        lambda root, model: (
            "student.yaml: train.precision: fp16 needs a CUDA GPU, but the run is on the CPU; use bf16 or fp32"
        ),
    ),
    "teacher_precision fp16 on the CPU": (
        lambda root, model: ({}, {"train.teacher_precision": "fp16"}),
        lambda root, model: "student.yaml: train.teacher_precision: fp16 needs a CUDA GPU",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_refuses_what_run_refuses_before_training(tmp_path, tiny_encoder_dir, capsys, case):
    extras, expected = CASES[case]
    root = tmp_path / "work"
    root.mkdir()
    teacher_extra, student_extra = extras(root, tiny_encoder_dir)
    teacher, student = write_configs(root, tiny_encoder_dir, teacher_extra, student_extra)
    line = same_error_from_validate_and_run(teacher, student, root / "out", capsys, root)
    assert expected(root, tiny_encoder_dir) in line


def test_teacher_labels_are_checked_from_config_json(tmp_path, tiny_classifier_dir, capsys):
    root = tmp_path / "work"
    root.mkdir()
    teacher, student = write_configs(root, tiny_classifier_dir)  # labels pos/neg, data negative/positive
    line = same_error_from_validate_and_run(teacher, student, root / "out", capsys, root)
    assert (
        "the teacher's labels ['pos', 'neg'] do not match the data's labels ['negative', 'positive']" in line
    )


def test_augmented_split_cache_must_be_writable(tmp_path, tiny_classifier_dir, capsys):
    root = tmp_path / "work"
    root.mkdir()
    aug = root / "aug.yaml"
    aug.write_text(yaml.safe_dump({"n_iter": 2, "strategies": [{"name": "masking", "p_mask": 0.1}]}))
    # a ready classifier: the teacher cache is never written, but the augmented split goes under cache_dir
    teacher, student = write_configs(
        root,
        tiny_classifier_dir,
        {"cache_dir": str(blocked(root)), "label_map": {"pos": "positive", "neg": "negative"}},
        {"augment": str(aug), "teacher_cache.mode": "off"},
    )
    line = same_error_from_validate_and_run(teacher, student, root / "out", capsys, root)
    assert f"teacher.yaml: cache_dir: cannot write to {root / 'a-file' / 'sub' / 'augmented'} (" in line
    assert "the augmented split is cached there" in line


def test_a_ready_teacher_and_no_output_cache_need_no_writable_cache(tmp_path, tiny_classifier_dir, capsys):
    root = tmp_path / "work"
    root.mkdir()
    teacher, student = write_configs(
        root,
        tiny_classifier_dir,
        {"cache_dir": str(blocked(root)), "label_map": {"pos": "positive", "neg": "negative"}},
        {"teacher_cache.mode": "off"},
    )
    assert main(["validate", str(teacher), str(student)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_too_little_space_for_the_fine_tuned_teacher(tmp_path, tiny_encoder_dir, capsys, monkeypatch):
    root = tmp_path / "work"
    (root / "cache").mkdir(parents=True)
    teacher, student = write_configs(root, tiny_encoder_dir)
    cache = str(root / "cache")
    real = shutil.disk_usage
    monkeypatch.setattr(
        shutil,
        "disk_usage",
        lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000) if str(p) == cache else real(p),
    )
    line = same_error_from_validate_and_run(teacher, student, root / "out", capsys, root)
    assert line.startswith(f"error: {teacher}: cache_dir: {cache} has 0.0 MB free, but the run writes about ")
    assert "MB (the fine-tuned teacher); free disk space or choose another cache_dir" in line


def test_output_dir_of_student_yaml_is_named_when_it_chose_the_folder(tmp_path, tiny_encoder_dir, capsys):
    root = tmp_path / "work"
    root.mkdir()
    teacher, student = write_configs(root, tiny_encoder_dir, {}, {"output_dir": str(blocked(root))})
    for command in ("validate", "run"):
        line = one_error([command, str(teacher), str(student)], capsys, root)
        assert line.startswith(f"error: {student}: output_dir: cannot write to {root / 'a-file' / 'sub'} (")


def test_validate_writes_nothing_and_checks_the_default_output_folder(
    tmp_path, tiny_encoder_dir, capsys, monkeypatch
):
    root = tmp_path / "work"
    root.mkdir()
    teacher, student = write_configs(root, tiny_encoder_dir)
    monkeypatch.chdir(root)
    before = files_under(root)
    assert main(["validate", str(teacher), str(student)]) == 0
    assert files_under(root) == before  # not even outputs/ or the cache folder
    (root / "outputs").write_text("a file where the default outputs/ folder would go")
    line = one_error(["validate", str(teacher), str(student)], capsys, root)
    assert line.startswith(f"error: {student}: output_dir: cannot write to outputs/tiny-student (")


# -- item 5: a finished run is not retrained over without --fresh


def test_rerunning_a_finished_run_is_refused_and_fresh_retrains(tmp_path, tiny_encoder_dir, capsys):
    root = tmp_path / "work"
    root.mkdir()
    teacher, student = write_configs(root, tiny_encoder_dir)
    out = root / "out"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    acc = metrics["student"]["dev"]["accuracy"]
    os.utime(out / "metrics.json", (1_700_000_000, 1_700_000_000))
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for command in ("run", "validate"):
        line = one_error([command, str(teacher), str(student), "--output-dir", str(out)], capsys, root)
        assert line.startswith(f"error: the run in {out} finished on 2023-11-14 ") or line.startswith(
            f"error: the run in {out} finished on 2023-11-15 "
        )
        assert line.endswith(
            f"with dev accuracy {acc:.1%}; `--fresh` retrains, or choose another `--output-dir`"
        )
    line = one_error(["run", str(teacher), str(student), "--output-dir", str(out), "--resume"], capsys, root)
    assert "finished on" in line
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot  # nothing touched
    assert main(["validate", str(teacher), str(student), "--output-dir", str(out), "--fresh"]) == 0
    assert main(["run", str(teacher), str(student), "--output-dir", str(out), "--fresh"]) == 0
    assert (out / "metrics.json").stat().st_mtime > 1_700_000_000  # retrained and rewritten


def test_a_failed_fresh_run_leaves_no_finished_marker(tmp_path, tiny_classifier_dir, capsys):
    """--fresh over a finished run drops its metrics.json first: stopped, the folder is an
    unfinished run again, not a finished one with new checkpoints beside it."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir)
    model.classifier.weight.data.zero_()
    model.classifier.bias.data.zero_()  # equal logits: always label 0, exactly the majority rate
    model.save_pretrained(tiny_classifier_dir)
    root = tmp_path / "work"
    root.mkdir()
    teacher, student = write_configs(
        root, tiny_classifier_dir, {"label_map": {"pos": "positive", "neg": "negative"}}
    )
    out = root / "out"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"student": {"dev": {"accuracy": 0.5}}}))
    line = one_error(["run", str(teacher), str(student), "--output-dir", str(out)], capsys, root)
    assert "dev accuracy 50.0%; `--fresh` retrains" in line
    # stopped by the teacher check
    assert main(["run", str(teacher), str(student), "--output-dir", str(out), "--fresh"]) == 2
    assert "is not above the majority-class rate" in capsys.readouterr().err
    assert not (out / "metrics.json").exists()


def test_resume_refusals_come_from_the_pre_flight(tmp_path, tiny_encoder_dir, capsys):
    root = tmp_path / "work"
    root.mkdir()
    teacher, student = write_configs(root, tiny_encoder_dir)
    out = root / "out"
    line = same_error_from_validate_and_run(teacher, student, out, capsys, root, "--resume")
    assert line == f"error: {out / 'checkpoints' / 'resume'}: --resume: no usable checkpoint to resume from"
    # a checkpoint of another configuration (here: another seed) is refused before the teacher loads
    folder = out / "checkpoints" / "resume" / "00-00000004"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(
        json.dumps({"format": 1, "stage": 0, "step": 4, "config": {"student": {"seed": 7}}})
    )
    line = same_error_from_validate_and_run(teacher, student, out, capsys, root)
    assert line.startswith(f"error: {student}: cannot resume from {folder}: ")
    assert line.endswith(
        "this change breaks resumption (run with --fresh to discard the checkpoints, or use another --output-dir)"
    )
    assert not (root / "cache").exists()  # the teacher was not fine-tuned


def test_a_saved_student_of_another_shape_is_refused_before_the_teacher(tmp_path, tiny_encoder_dir, capsys):
    from transformers import BertForSequenceClassification

    from tests.conftest import tiny_config

    root = tmp_path / "work"
    root.mkdir()
    saved = tmp_path / "saved-student"
    # 32 wide, not 16
    BertForSequenceClassification(tiny_config(num_hidden_layers=2, num_labels=2)).save_pretrained(saved)
    teacher, student = write_configs(root, tiny_encoder_dir, {}, {"init": str(saved)})
    line = same_error_from_validate_and_run(teacher, student, root / "out", capsys, root)
    assert line == (
        f"error: {student}: init: {str(saved)!r} does not fit this architecture: its config.json has "
        "hidden_size 32 (the student's: 16), intermediate_size 64 (the student's: 32)"
    )
    assert not (root / "cache").exists()  # the teacher was not fine-tuned

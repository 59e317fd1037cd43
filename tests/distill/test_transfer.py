"""student.yaml's ``transfer:``: unlabeled texts the student also learns from, the teacher's outputs
their only targets (distill/distillation/transfer.py)."""

from __future__ import annotations

import json
import math
import textwrap
from types import SimpleNamespace

import pytest

from distill.cli import main
from distill.core.errors import ConfigError, DataError
from distill.data.config import DataConfig
from distill.data.dataset import DataSplits, TextDataset
from distill.distillation.preflight import preflight, run_key
from distill.distillation.transfer import NO_CLASS, TransferSet, load_transfer, with_transfer
from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv


def _splits(pair: bool = False) -> DataSplits:
    def split(texts: list[str]) -> TextDataset:
        return TextDataset(texts, [0] * len(texts), [f"{t}?" for t in texts] if pair else None)

    return DataSplits(split(["a", "b"]), split(["dev one"]), split(["test one"]), ["neg", "pos"])


def _load(tmp_path, name: str, content: str, data: dict | None = None, pair: bool = False):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    cfg = SimpleNamespace(transfer=str(path))
    return load_transfer(cfg, DataConfig(source="x.csv", **(data or {})), _splits(pair), "s.yaml"), path


def test_a_txt_file_drops_eval_inputs_training_inputs_and_repeats_in_order(tmp_path):
    t, path = _load(tmp_path, "u.txt", "new one\n\ndev one\nb\nnew two\nnew one\ntest one\nnew three\n")
    assert t.texts == ["new one", "new two", "new three"] and t.pairs is None
    assert (t.read, t.in_eval, t.in_train, t.repeats) == (7, 2, 1, 1)
    assert t.summary() == {"rows": 3, "path": str(path), "read": 7, "in_eval": 2, "in_train": 1, "repeats": 1}
    assert t.line() == (
        f"transfer: 3 texts from {path} (of 7 read; dropped 2 dev/test inputs, 1 training inputs, 1 repeats); "
        "the teacher's outputs are their only targets"
    )


def test_a_table_is_read_by_the_datas_text_column_other_columns_ignored(tmp_path):
    csv_text = "id,sentence,label\n1,new one,pos\n2,,neg\n3,a,pos\n4,new two,\n"
    t, _ = _load(tmp_path, "u.csv", csv_text, {"text_column": "sentence"})
    assert t.texts == ["new one", "new two"] and (t.read, t.in_train) == (3, 1)  # the empty text is no row


def test_a_pair_task_reads_both_columns_and_refuses_a_txt(tmp_path):
    rows = '{"text": "new", "text_pair": "one"}\n{"text": "a", "text_pair": "a?"}\n{"text": "a", "text_pair": "b"}\n'
    t, _ = _load(tmp_path, "u.jsonl", rows, {"text_pair_column": "text_pair"}, pair=True)
    assert (t.texts, t.pairs, t.in_train) == (
        ["new", "a"],
        ["one", "b"],
        1,
    )  # ("a", "a?") is a training input
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, "u.txt", "new\n", pair=True)
    assert str(e.value) == (
        "s.yaml: transfer: a .txt file holds one text per line, and the task reads sentence pairs; "
        "give a .csv, .tsv or .jsonl with both columns"
    )


def test_a_glue_task_reads_its_own_columns(tmp_path):
    t, _ = _load(tmp_path, "u.tsv", "sentence\tlabel\nnew one\t1\n", {"glue_task": "sst2"})
    assert t.texts == ["new one"]


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("missing.txt", None, ConfigError, "s.yaml: transfer: no such file: {path}"),
        (
            "u.csv",
            "words\nnew\n",
            DataError,
            "s.yaml: transfer: {path}: missing column 'text' (the file has: 'words')",
        ),
        (
            "u.txt",
            "ok\n\xff bad\n",
            DataError,
            "s.yaml: transfer: {path}: line 2: bytes b'\\xff' are not valid utf-8; set `encoding:` to the file's "
            "encoding (e.g. latin-1)",
        ),
        (
            "u.txt",
            "dev one\na\na\n",
            DataError,
            "s.yaml: transfer: {path}: no text left of 3 rows (1 dev/test inputs, 2 training inputs, 0 repeats)",
        ),
        (
            "u.parquet",
            "x",
            DataError,
            "s.yaml: transfer: {path}: cannot tell the format from the extension '.parquet'; expected one of "
            ".txt, .csv, .tsv, .jsonl",
        ),
    ],
)
def test_bad_files_are_refused_naming_the_key_and_file(tmp_path, name, content, error, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content.encode("latin-1"))
    with pytest.raises(error) as e:
        load_transfer(SimpleNamespace(transfer=str(path)), DataConfig(source="x.csv"), _splits(), "s.yaml")
    assert str(e.value) == message.format(path=path)


def test_transfer_rows_carry_labels_no_loss_can_read_silently():
    transfer = TransferSet("u.txt", ["u1", "u2"], None, read=2, in_eval=0, in_train=0, repeats=0)
    cls = with_transfer(TextDataset(["a"], [1]), transfer, "classification", 2)
    assert cls.texts == ["a", "u1", "u2"] and cls.labels == [1, NO_CLASS, NO_CLASS] == [1, -100, -100]
    reg = with_transfer(TextDataset(["a"], [0.5]), transfer, "regression", 1)
    assert reg.labels[0] == 0.5 and all(math.isnan(y) for y in reg.labels[1:])
    multi = with_transfer(TextDataset(["a"], [[1.0, 0.0]]), transfer, "multi_label", 2)
    assert multi.labels[0] == [1.0, 0.0] and all(math.isnan(v) for row in multi.labels[1:] for v in row)
    pairs = with_transfer(TextDataset(["a"], [1], ["b"]), TransferSet("u", ["u"], ["v"], 1, 0, 0, 0), "x", 2)
    assert pairs.pairs == ["b", "v"]


STUDENT = """
name: tiny-transfer
architecture: {{family: tinybert, num_layers: 2}}
init: teacher
batch_size: 8
transfer: {transfer}
speed: {{latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}}
stages:
  - name: prediction
    epochs: 2
    lr: 1.0e-3
    objectives:
      {objectives}
"""


def _configs(tmp_path, model, objectives: str = "pred: {temperature: 1.0}", rows: int = 64):
    data = write_csv(tmp_path / "d.csv", toy_rows(rows))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(TINY_TEACHER_YAML.format(name="t", model=model, data=data, cache=tmp_path / "cache"))
    )
    unlabeled = tmp_path / "unlabeled.txt"  # other draws of the toy texts, some of them the data's own
    unlabeled.write_text("".join(f"{t}\n" for t, _ in toy_rows(96, seed=1) + toy_rows(8)))
    student = tmp_path / "student.yaml"
    student.write_text(textwrap.dedent(STUDENT.format(transfer=unlabeled, objectives=objectives)))
    return teacher, student, unlabeled


@pytest.mark.parametrize("objective", ["ce", "mse", "bce"])
def test_a_gold_label_objective_is_refused_before_the_data_is_read(
    tmp_path, tiny_encoder_dir, capsys, objective
):
    teacher, student, unlabeled = _configs(tmp_path, tiny_encoder_dir, f"{objective}: {{weight: 1.0}}")
    (tmp_path / "d.csv").unlink()  # the refusal needs no data
    assert main(["validate", str(teacher), str(student)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {student}: stages.0.objectives.{objective}: reads the gold labels, and the transfer set's texts "
        f"(transfer: {unlabeled}) have none; learn from the teacher alone in every stage (e.g. logit_mse, pred, "
        "kd_kl, soft_bce), or remove `transfer`"
    )


def test_a_run_with_a_transfer_set_end_to_end(tmp_path, tiny_encoder_dir, capsys):
    """The teacher is fine-tuned on the training split alone (the same cached teacher as without
    the transfer set); the student learns on the split and the kept transfer texts."""
    teacher, student, unlabeled = _configs(tmp_path, tiny_encoder_dir)
    assert main(["validate", str(teacher), str(student)]) == 0
    said = capsys.readouterr().out
    checked = preflight(teacher, student)
    kept = checked.transfer
    assert kept is not None and kept.in_train + kept.in_eval == 8 and len(kept) + kept.repeats == 96
    assert kept.line() in said

    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["transfer"] == kept.summary()
    assert m["data"]["train"] == m["data"]["train_original"] + len(kept) == 32 + len(kept)
    assert m["data"]["majority_dev_accuracy"] == checked.splits.majority_rate("dev")[0]
    assert m["stages"][0]["steps"] == 2 * -(-(32 + len(kept)) // 8)  # 2 epochs over both, batch 8
    (teacher_dir,) = [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("t-")]

    plain = student.read_text().replace(f"transfer: {unlabeled}\n", "")
    student.write_text(plain)
    assert run_key(checked.plan, checked.splits, 1, checked.transfer) != run_key(
        preflight(teacher, student).plan, checked.splits, 1, None
    )
    assert main(["run", str(teacher), str(student), "--output-dir", str(tmp_path / "plain")]) == 0
    m_plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert m_plain["data"]["transfer"] is None and m_plain["data"]["train"] == 32
    assert m_plain["stages"][0]["steps"] == 2 * 32 // 8
    assert m_plain["teacher_path"] == m["teacher_path"] == str(teacher_dir)  # one teacher, trained once
    assert m_plain["teacher"]["cached"] and not m["teacher"]["cached"]


def test_a_regression_baseline_is_the_training_splits_mean(tmp_path, tiny_encoder_dir):
    """The transfer rows (NaN targets) are not part of the training mean the student is measured
    against, nor of the teacher's data."""
    from tests.distill.test_regression_run import configs, scored_rows

    teacher, student = configs(tmp_path, tiny_encoder_dir)
    unlabeled = tmp_path / "u.txt"
    unlabeled.write_text("".join(f"{t}\n" for t, _ in toy_rows(40, seed=2)))
    student.write_text(
        student.read_text().replace("      mse: {weight: 0.5}\n", "") + f"transfer: {unlabeled}\n"
    )
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    train = preflight(teacher, student).splits.train.labels
    assert m["data"]["train_mean"] == pytest.approx(sum(train) / len(train))
    assert m["data"]["train"] > m["data"]["train_original"] == len(train) < len(scored_rows())
    assert m["student"]["dev"]["pearson"] > 0.5


def test_other_transfer_texts_under_the_same_path_are_another_run_to_resume(tmp_path, tiny_encoder_dir):
    teacher, student, unlabeled = _configs(tmp_path, tiny_encoder_dir)
    first = preflight(teacher, student)
    again = preflight(teacher, student)
    key = run_key(first.plan, first.splits, 1, first.transfer)
    assert run_key(again.plan, again.splits, 1, again.transfer) == key
    unlabeled.write_text(unlabeled.read_text() + "one more text\n")
    changed = preflight(teacher, student)
    assert run_key(changed.plan, changed.splits, 1, changed.transfer) != key


def test_a_pipeline_distill_step_is_keyed_by_the_files_its_student_names(tmp_path, tiny_encoder_dir):
    """Another transfer text (or augment.yaml) under the same path is another student: the step runs
    again rather than being skipped as done."""
    from distill.pipeline import load_recipe
    from distill.pipeline.plan import make_plan

    teacher, student, unlabeled = _configs(tmp_path, tiny_encoder_dir)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: r\nteacher: {teacher}\noutput: {tmp_path / 'out'}\nsteps:\n"
        "  - {name: data, kind: data}\n"
        "  - {name: teacher, kind: teacher, inputs: {data: data}}\n"
        f"  - {{name: distill, kind: distill, config: {student}, inputs: {{teacher: teacher, data: data}}}}\n"
    )

    def distill_step():
        return make_plan(load_recipe(recipe))[-1]

    before = distill_step()
    unlabeled.write_text(unlabeled.read_text() + "one more text\n")
    after = distill_step()
    assert after.key != before.key and after.parts["files"] != before.parts["files"]
    assert after.parts["config"] == before.parts["config"]  # same student.yaml, other texts
    unlabeled.unlink()
    assert distill_step().reason == f"student.yaml's augment or transfer file missing: {unlabeled}"

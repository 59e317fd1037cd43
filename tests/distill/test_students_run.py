"""`distill run` with each student family, mismatched teachers and the teacher-output cache, through
the CLI on a tiny teacher (4 heads x 32 wide, fine-tuned once for the module) and 64 examples."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertModel

import students
from distill.cli import main
from tests.conftest import TINY_TEACHER_YAML, tiny_config, tiny_tokenizer, toy_rows, write_csv

COMMON = """
batch_size: 8
speed: {latency_runs: 3, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
"""


@pytest.fixture(scope="module")
def teacher_yaml(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("teacher")
    torch.manual_seed(0)
    BertModel(tiny_config()).save_pretrained(root / "encoder")
    tiny_tokenizer(root / "encoder").save_pretrained(root / "encoder")
    data = write_csv(root / "toy.csv", toy_rows(64))
    path = root / "teacher.yaml"
    path.write_text(
        textwrap.dedent(
            TINY_TEACHER_YAML.format(
                name="wide-teacher", model=root / "encoder", data=data, cache=root / "cache"
            )
        )
    )
    return path


def student_yaml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "student.yaml"
    path.write_text(textwrap.dedent(body) + COMMON)
    return path


def run(teacher: Path, student: Path, out: Path) -> dict:
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_head_and_width_mismatch_with_score_mean_and_relations(tmp_path, teacher_yaml):
    student = student_yaml(
        tmp_path,
        """
        name: narrow
        architecture: {num_layers: 2, hidden_size: 16, num_heads: 2, intermediate_size: 32}
        init: pca  # random layers: the losses go down
        layer_map: [2, 4]
        stages:
          - {name: intermediate, epochs: 3, lr: 1.0e-3, eval: false,
             objectives: {emb: {}, hidden: {}, attn: {heads: auto}, relation: {relation_heads: auto}}}
          - {name: prediction, epochs: 2, lr: 1.0e-3, objectives: {kd_kl: {temperature: 2.0}, ce: {weight: 0.5}}}
    """,
    )
    m = run(teacher_yaml, student, tmp_path / "out")
    assert all(s["loss_last"] < s["loss_first"] for s in m["stages"])
    log = (tmp_path / "out" / "run.log").read_text()
    assert "the student has 2 heads and the teacher 4: comparing head-averaged scores (heads: mean)" in log
    assert "relation: 4 relation heads (student 2 heads x 16 wide, teacher 4 x 32)" in log
    assert m["stages"][0]["teacher_cache"] == "off"  # Q/K/V are never cached: live teacher
    assert m["stages"][1]["teacher_cache"] in ("hit", "miss")


def test_distilbert_student_copies_chosen_layers_and_bad_map_is_a_config_error(
    tmp_path, teacher_yaml, capsys
):
    body = """
        name: distil
        architecture: {family: distilbert, init_layers: LAYERS}
        stages:
          - {name: task, epochs: 2, lr: 5.0e-4,
             objectives: {kd_kl: {temperature: 2.0}, ce: {weight: 0.5}, hidden_cos: {weight: 1.0}}}
    """
    bad = student_yaml(tmp_path, body.replace("LAYERS", "[1, 5]"))
    assert main(["validate", str(teacher_yaml), str(bad)]) == 2
    assert (
        "architecture.init_layers.1: teacher layer 5 does not exist; expected 1..4, got [1, 5]"
        in capsys.readouterr().err
    )
    m = run(teacher_yaml, student_yaml(tmp_path, body.replace("LAYERS", "[1, 3]")), tmp_path / "out")
    assert m["student_family"] == "distilbert" and m["layer_map"] == [2, 4]
    assert "layers 1<-1 2<-3 (copied)" in (tmp_path / "out" / "run.log").read_text()
    model, _ = students.load(tmp_path / "out")
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.num_attention_heads) == (
        2,
        32,
        4,
    )
    assert m["stages"][0]["loss_last"] < m["stages"][0]["loss_first"]


BILSTM = """
    name: lstm
    architecture: {family: bilstm, bilstm: {hidden: 16, mlp: 16, vectors: VECTORS}}
    init: glove
    teacher_cache: {dir: CACHE}
    stages:
      - {name: task, epochs: 4, lr: 5.0e-3, objectives: {ce: {weight: 0.5}, logit_mse: {weight: 1.0}}}
"""


def test_bilstm_run_twice_second_uses_cache_and_gives_same_student(tmp_path, teacher_yaml):
    vectors = tmp_path / "vec.txt"
    vectors.write_text(
        "".join(
            f"{w} {i % 3} {i % 5 - 2} {i % 7 - 3}\n"
            for i, w in enumerate(["good", "great", "bad", "awful", "the", "flight"])
        )
    )
    student = student_yaml(
        tmp_path, BILSTM.replace("VECTORS", str(vectors)).replace("CACHE", str(tmp_path / "tc"))
    )
    a = run(teacher_yaml, student, tmp_path / "a")
    b = run(teacher_yaml, student, tmp_path / "b")
    assert a["stages"][0]["teacher_cache"] == "miss" and a["stages"][0]["teacher_calls"] > 0
    # teacher never ran
    assert b["stages"][0]["teacher_cache"] == "hit" and b["stages"][0]["teacher_calls"] == 0
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["student"]["dev"] == b["student"]["dev"] and a["student"]["params"] < a["teacher"]["params"]
    assert "embeddings from" in (tmp_path / "a" / "run.log").read_text()
    model, tok = students.load(tmp_path / "a")  # without the training code
    logits = model(**tok(["the flight was great", "awful"], return_tensors="pt")).logits
    assert logits.shape == (2, 2) and model.embedding.weight.shape[1] == 3


def test_bilstm_asked_for_attention_fails_at_validation(tmp_path, teacher_yaml, capsys):
    vectors = tmp_path / "v.txt"
    vectors.write_text("good 1 0 0\n")  # must exist: a missing vectors file is refused first
    student = student_yaml(
        tmp_path,
        BILSTM.replace("VECTORS", str(vectors))
        .replace("CACHE", "tc")
        .replace("ce: {weight: 0.5}", "attn: {}"),
    )
    assert main(["validate", str(teacher_yaml), str(student)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {student}: stages.0.objectives.attn: a bilstm student exposes only logits, but attn needs attn; "
        "use logits objectives (kd_kl, logit_mse, pred, ce)"
    )


def test_augment_key_distills_on_augmented_train_split_cached_teacher_unchanged(
    tmp_path, teacher_yaml, capsys
):
    vectors = tmp_path / "vec.txt"
    vectors.write_text("".join(f"{w} {i % 3} {i % 5 - 2}\n" for i, w in enumerate(["good", "bad", "the"])))
    aug = tmp_path / "mask.yaml"
    aug.write_text(
        "seed: 0\nn_iter: 3\nstrategies:\n  - {name: masking, p_mask: 0.5}\n  - {name: ngram, p_ng: 0.5}\n"
    )
    body = (
        BILSTM.replace("VECTORS", str(vectors)).replace("CACHE", str(tmp_path / "tc"))
        + f"    augment: {aug}\n"
    )
    plain = run(
        teacher_yaml,
        student_yaml(
            tmp_path, BILSTM.replace("VECTORS", str(vectors)).replace("CACHE", str(tmp_path / "tc"))
        ),
        tmp_path / "plain",
    )
    a = run(teacher_yaml, student_yaml(tmp_path, body), tmp_path / "a")
    n = plain["data"]["train"]
    assert a["data"]["train_original"] == n and plain["data"]["train_original"] == n
    # originals kept, 3 copies each, minus duplicates (dedup): strictly more, at most 4x
    assert n < a["data"]["train"] <= 4 * n
    # same teacher, not re-tuned
    assert a["teacher"]["dev"] == plain["teacher"]["dev"] and a["teacher"]["cached"]
    assert a["stages"][0]["teacher_cache"] == "miss"  # new training texts: new teacher outputs
    cached = list((teacher_yaml.parent / "cache" / "augmented").glob("*.jsonl"))
    assert len(cached) == 1 and sum(1 for _ in cached[0].open()) == a["data"]["train"]
    assert "[MASK]" in cached[0].read_text()
    b = run(teacher_yaml, student_yaml(tmp_path, body), tmp_path / "b")  # augmented split and outputs reused
    assert b["stages"][0]["teacher_cache"] == "hit" and b["student"]["dev"] == a["student"]["dev"]
    assert "(cached: " in (tmp_path / "b" / "run.log").read_text()

    aug.write_text("seed: 0\nstrategies:\n  - {name: masking, p_mask: 1.5}\n")
    capsys.readouterr()
    assert main(["validate", str(teacher_yaml), str(student_yaml(tmp_path, body))]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'student.yaml'}: augment: {aug}: strategies.0.p_mask: expected a number in [0, 1], got 1.5"
    )


def test_augmentation_too_big_is_refused_by_validate_and_run_before_the_teacher(
    tmp_path, teacher_yaml, capsys, monkeypatch
):
    import distill.distillation.run

    vectors = tmp_path / "vec.txt"
    vectors.write_text("good 1 0\nbad 0 1\n")
    aug = tmp_path / "huge.yaml"
    aug.write_text("n_iter: 2147483647\nstrategies:\n  - {name: masking}\n")
    body = (
        BILSTM.replace("VECTORS", str(vectors)).replace("CACHE", str(tmp_path / "tc"))
        + f"    augment: {aug}\n"
    )
    student = student_yaml(tmp_path, body)

    def no_teacher(*a, **k):
        raise AssertionError("the teacher was loaded before the size check")

    monkeypatch.setattr(distill.distillation.run, "load_teacher", no_teacher)
    expected = f"error: {student}: augment: {aug}: n_iter: 2147483647 copies of each of "
    for argv in (
        ["validate", str(teacher_yaml), str(student)],
        ["run", str(teacher_yaml), str(student), "--output-dir", str(tmp_path / "o")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(expected), err
        assert "output rows (about " in err[0] and "the limit is 1,000,000,000 rows" in err[0]
    assert not (tmp_path / "o").exists()

"""A narrower BERT student cut out of its teacher by activation importance (students/pruned_init.py)."""

from __future__ import annotations

import math

import pytest
import torch

from students.pruned_init import _top, applies, importance, pruned_copy
from students.tinybert import build_tinybert
from tests.family_helpers import CONFIGS, batch, classifier

BATCHES = [batch(seq=9, rows=3, seed=s) for s in range(3)]
NARROW = {"num_layers": 2, "hidden_size": 16, "num_heads": 2, "intermediate_size": 24}  # head dim 8


def _teacher(family: str = "bert"):
    return classifier(family)  # 4 layers x 32, 4 heads (head dim 8), FFN 64


def _cuttable(exact: bool) -> list[str]:
    """The families a BERT student can be cut from (their tiny configs), exactly or not."""
    from distill.models.adapters import adapter_for

    out = []
    for family in sorted(CONFIGS):
        a = adapter_for(CONFIGS[family]().model_type)
        if a.cut.ok and (a.cut_drops == "") == exact:
            out.append(family)
    return out


FULL = {"num_layers": 4, "hidden_size": 32, "num_heads": 4, "intermediate_size": 64}


def test_the_families_cut_exactly_and_approximately_are_the_adapters():
    # ELECTRA's tiny config has 16-wide embeddings (factorised): it is cut-able, but refused (below)
    assert _cuttable(exact=True) == ["bert", "distilbert", "electra", "ernie", "roberta"]
    assert _cuttable(exact=False) == ["deberta-v2", "mpnet"]


@pytest.mark.parametrize("family", [f for f in _cuttable(exact=True) if f != "electra"])
def test_every_channel_kept_is_the_teacher(family):
    teacher = _teacher(family)
    student = build_tinybert(FULL, teacher.config, ["neg", "pos"]).eval()
    notes = pruned_copy(student, teacher, [1, 2, 3, 4], importance(teacher, BATCHES))
    inputs = batch(seq=11, rows=4, seed=7)
    with torch.no_grad():
        s_out = student.bert(**inputs).last_hidden_state
        t_out = teacher.base_model(**inputs)[0]
    real = inputs["attention_mask"].bool()  # RoBERTa numbers padding's positions apart: real tokens only
    torch.testing.assert_close(s_out[real], t_out[real], atol=1e-5, rtol=1e-5)  # the encoder is the teacher's
    if family in ("bert", "ernie"):  # BERT's pooler and classifier: the whole classifier is the teacher
        with torch.no_grad():
            torch.testing.assert_close(
                student(**inputs).logits, teacher(**inputs).logits, atol=1e-5, rtol=1e-5
            )
        assert notes[-2:] == ["pooler (pruned)", "classifier (pruned)"]
    else:  # another head: random, and said so by its absence
        assert not any("classifier" in n for n in notes)


@pytest.mark.parametrize("family", _cuttable(exact=False))
def test_a_family_cut_approximately_copies_its_slices_and_says_what_it_drops(family):
    from distill.models.adapters import adapter_of

    teacher = _teacher(family)
    imp = importance(teacher, BATCHES)
    student = build_tinybert(NARROW, teacher.config, ["neg", "pos"]).eval()
    notes = pruned_copy(student, teacher, [2, 4], imp)
    ta = adapter_of(teacher)
    assert notes[2] == f"not carried over from {ta.title}: {ta.cut_drops}"
    ch = _top(imp.channels, 16)
    src = ta.bert_parts(ta.layers(teacher)[3])  # student layer 2 <- 4
    dst = student.bert.encoder.layer[1]
    neurons = _top(imp.neurons[3], 24)
    assert torch.equal(dst.intermediate.dense.weight, src.ffn_in.weight[neurons][:, ch])
    assert torch.equal(dst.output.LayerNorm.weight, src.ffn_norm.weight[ch])
    assert torch.equal(
        student.bert.embeddings.word_embeddings.weight, ta.word_embeddings(teacher).weight[:, ch]
    )
    assert not student.bert.embeddings.token_type_embeddings.weight.any()  # the teacher adds no type row
    # Q carries the family's own score factor (DeBERTa-v3: 1/sqrt(3), c2p and p2c) and sqrt(d_S/d_T) = 1
    scale = ta.score_scale(teacher.config)
    assert scale == pytest.approx(3**-0.5 if family == "deberta-v2" else 1.0)
    rows = dst.attention.self.query.weight / scale
    full = src.query.weight[:, ch]
    assert all(any(torch.allclose(r, f) for f in full) for r in rows)
    with torch.no_grad():  # and it runs
        assert student(**batch(seq=9)).logits.shape == (3, 2)


def test_the_kept_rows_and_columns_are_the_teachers_exactly():
    teacher = _teacher()
    imp = importance(teacher, BATCHES)
    student = build_tinybert(NARROW, teacher.config, ["neg", "pos"]).eval()
    notes = pruned_copy(student, teacher, [2, 4], imp)
    ch = _top(imp.channels, 16)
    t_emb, s_emb = teacher.bert.embeddings, student.bert.embeddings
    assert torch.equal(s_emb.word_embeddings.weight, t_emb.word_embeddings.weight[:, ch])
    assert torch.equal(s_emb.LayerNorm.weight, t_emb.LayerNorm.weight[ch])
    src, dst = teacher.bert.encoder.layer[3], student.bert.encoder.layer[1]  # student layer 2 <- 4
    heads = _top(imp.heads[3], 2)
    neurons = _top(imp.neurons[3], 24)
    assert torch.equal(dst.intermediate.dense.weight, src.intermediate.dense.weight[neurons][:, ch])
    assert torch.equal(dst.output.dense.weight, src.output.dense.weight[ch][:, neurons])
    v_rows = torch.cat([h * 8 + torch.arange(8) for h in heads.tolist()])  # head dim kept whole (8 of 8)
    assert torch.equal(dst.attention.self.value.weight, src.attention.self.value.weight[v_rows][:, ch])
    assert torch.equal(
        dst.attention.self.query.weight, src.attention.self.query.weight[v_rows][:, ch]
    )  # scale 1
    assert notes[0].startswith(
        "pruned from the teacher by activation importance over 9 texts: 16/32 channels, 2/4 heads"
    )


def test_fewer_head_dims_rescale_q_to_the_teachers_score_scale():
    teacher = _teacher()
    shape = {"num_layers": 2, "hidden_size": 16, "num_heads": 4, "intermediate_size": 24}  # head dim 4 of 8
    student = build_tinybert(shape, teacher.config, ["neg", "pos"]).eval()
    pruned_copy(student, teacher, [2, 4], importance(teacher, BATCHES))
    q_s, q_t = (
        student.bert.encoder.layer[0].attention.self.query,
        teacher.bert.encoder.layer[1].attention.self.query,
    )
    # every student row is a teacher row (of the kept channels) times sqrt(4 / 8)
    rows = q_s.weight / math.sqrt(4 / 8)
    ch = _top(importance(teacher, BATCHES).channels, 16)
    full = q_t.weight[:, ch]
    assert all(any(torch.allclose(r, f) for f in full) for r in rows)


def test_importance_is_deterministic_and_applies_where_the_adapter_says():
    teacher = _teacher()
    a, b = importance(teacher, BATCHES), importance(teacher, BATCHES)
    assert torch.equal(a.channels, b.channels) and all(
        torch.equal(x, y) for x, y in zip(a.neurons, b.neurons, strict=True)
    )
    student = build_tinybert(NARROW, teacher.config, ["neg", "pos"])
    assert applies(student, teacher)
    for family in sorted(CONFIGS):
        other = classifier(family)
        want = family not in ("albert", "modernbert", "electra")  # ELECTRA's tiny config: 16-wide embeddings
        assert applies(build_tinybert(NARROW, other.config, ["neg", "pos"]), other) == want, family


def test_projections_start_as_the_kept_channels():
    from distill.objectives import OBJECTIVES, ModelDims
    from distill.objectives.base import start_projections

    s, t = ModelDims(16, 2, 2), ModelDims(32, 4, 4)
    hidden = OBJECTIVES.get("hidden")(OBJECTIVES.get("hidden").Params(), s, t)
    emb = OBJECTIVES.get("emb")(OBJECTIVES.get("emb").Params(), s, t)
    pred = OBJECTIVES.get("pred")(OBJECTIVES.get("pred").Params(), s, t)
    channels = list(range(0, 32, 2))  # student channel i is teacher channel 2i
    assert start_projections([hidden, emb, pred], channels) == 2
    x = torch.randn(3, 16)
    want = torch.zeros(3, 32)
    want[:, channels] = x
    torch.testing.assert_close(hidden.W_h(x), want)
    torch.testing.assert_close(emb.W_e(x), want)


PRUNED_STUDENT = """
name: pruned
architecture: {family: tinybert, num_layers: 2, hidden_size: HIDDEN, num_heads: 2, intermediate_size: 32}
init: pruned
batch_size: 8
stages:
  - {name: intermediate, epochs: 1, lr: 1.0e-3, eval: false, objectives: {emb: {}, hidden: {}, attn: {}}}
  - {name: prediction, epochs: 1, lr: 1.0e-3, objectives: {pred: {}, ce: {weight: 0.5}}}
speed: {latency_runs: 2, latency_warmup: 1, throughput_batches: 1, throughput_batch_size: 8}
"""


def _yamls(tmp_path, model, hidden: int = 16):
    import textwrap

    from tests.conftest import TINY_TEACHER_YAML, toy_rows, write_csv

    data = write_csv(tmp_path / "toy.csv", toy_rows(64))
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(
        textwrap.dedent(TINY_TEACHER_YAML.format(name="t", model=model, data=data, cache=tmp_path / "c"))
    )
    student = tmp_path / "student.yaml"
    student.write_text(PRUNED_STUDENT.replace("HIDDEN", str(hidden)))
    return str(teacher), str(student)


def test_init_pruned_through_the_cli_logs_what_was_kept(tmp_path, tiny_encoder_dir):
    from distill.cli import main

    teacher, student = _yamls(tmp_path, tiny_encoder_dir)
    assert main(["validate", teacher, student]) == 0
    assert main(["run", teacher, student, "--output-dir", str(tmp_path / "out")]) == 0
    log = (tmp_path / "out" / "run.log").read_text()
    assert (
        "student tinybert init: pruned from the teacher by activation importance over 32 texts: 16/32 channels"
        in log
    )
    assert "stage intermediate: W_h/W_e start as the kept channels' selection" in log


def test_init_pruned_is_refused_at_validate_where_it_cannot_apply(tmp_path, tiny_encoder_dir, capsys):
    from distill.cli import main
    from tests.family_helpers import save_encoder

    teacher, student = _yamls(tmp_path, tiny_encoder_dir, hidden=64)
    assert main(["validate", teacher, student]) == 2
    assert capsys.readouterr().err == (
        f"error: {student}: init: pruned: the student is larger than the teacher (hidden_size 64 > 32, head size 32 > 8)\n"
    )
    other = tmp_path / "modernbert-run"
    other.mkdir()
    teacher, student = _yamls(other, save_encoder("modernbert", tmp_path / "modernbert"))
    assert main(["validate", teacher, student]) == 2
    assert capsys.readouterr().err == (
        f"error: {student}: init: pruned: a ModernBERT teacher cannot be cut into a BERT student: its blocks "
        "are pre-LayerNorm with a gated FFN (GeGLU) and rotary positions, not BERT's post-LayerNorm blocks; "
        "teachers: bert, deberta-v2, distilbert, electra, ernie, mpnet, roberta\n"
    )

"""One contract for every registered encoder family adapter, on tiny random models of each family.

Recorded scores are the ones the model normalises (softmax of them, masked, equals the attention
probabilities the model itself returns); for registry families they equal Q Kᵀ · d^-1/2 of the
recorded Q and K; the adapter's blocks, in order, produce the model's own hidden states; recording
changes no output; a smaller model of the family copies exactly the mapped tensors, saves and
loads with ``from_pretrained`` to the same logits; the deployment calling convention exports to ONNX
and agrees with PyTorch at two (batch, sequence) shapes.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from distill.compress.export import export_module, ort_predict, ort_session
from distill.compress.models import LogitsOnly
from distill.core.errors import ConfigError
from distill.models.adapters import ADAPTERS, adapter_for, adapter_of, model_types
from distill.models.features import FeatureRequest, enable_capture, forward_features
from students.distilbert import build_distilbert, copy_teacher_layers
from tests.family_helpers import CONFIGS, batch, classifier

FAMILIES = sorted(CONFIGS)


def test_every_registered_family_has_a_tiny_config():
    assert sorted(ADAPTERS.names()) == FAMILIES
    for family in FAMILIES:
        assert adapter_for(CONFIGS[family]().model_type) is ADAPTERS.get(family)


def _eager_probs(model, inputs) -> list[torch.Tensor]:
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    with torch.no_grad():
        out = eager(**inputs, output_attentions=True)
    return list(out.attentions)  # one (batch, heads, seq, seq) per applied layer


@pytest.mark.parametrize("family", FAMILIES)
def test_recorded_scores_are_what_the_model_normalises(family):
    model = classifier(family)
    adapter = adapter_of(model)
    inputs = batch(seq=9)
    n = adapter.num_layers(model.config)
    expected = _eager_probs(model, inputs)
    with torch.no_grad():
        plain = model(**inputs).logits
        enable_capture(model)
        layers = tuple(range(1, n + 1))
        feats = forward_features(model, inputs, FeatureRequest(attn_layers=layers, qkv_layers=layers))
    assert torch.allclose(feats.logits, plain, atol=1e-5)  # recording changes nothing
    assert len(feats.attn_scores) == len(feats.qkv) == len(expected) == n
    real = inputs["attention_mask"].bool()  # (batch, seq)
    for i, (scores, probs) in enumerate(zip(feats.attn_scores, expected, strict=True)):
        pairs = real[:, None, None, :].expand_as(scores)
        if feats.attn_valid[i] is not None:
            pairs = pairs & feats.attn_valid[i]
        ours = torch.softmax(scores.masked_fill(~pairs, torch.finfo(scores.dtype).min), dim=-1)
        rows = real[:, None, :, None].expand_as(scores)  # compare real query rows only
        assert torch.allclose(ours[rows], probs[rows], atol=1e-5), f"{family} layer {i + 1}"
        if adapter.uses_registry:
            q, k, _ = feats.qkv[i]  # (batch, heads, seq, head_dim)
            ref = q @ k.transpose(-1, -2) * q.size(-1) ** -0.5
            assert torch.allclose(scores, ref, atol=1e-5)


def test_modernbert_local_layers_define_scores_inside_their_window_only():
    model = classifier("modernbert")
    enable_capture(model)
    with torch.no_grad():
        feats = forward_features(model, batch(seq=9), FeatureRequest(attn_layers=(1, 2)))
    assert feats.attn_valid[0] is None  # layer 1 is global
    valid = feats.attn_valid[1][0, 0]  # (seq, seq), first row: no padding
    half = model.config.local_attention // 2
    for i in range(9):
        for j in range(9):
            assert bool(valid[i, j]) == (abs(i - j) <= half), (i, j)


@pytest.mark.parametrize("family", FAMILIES)
def test_blocks_in_order_give_the_models_hidden_states(family):
    model = classifier(family)
    adapter = adapter_of(model)
    outputs = []
    hooks = [
        b.register_forward_hook(lambda m, a, o: outputs.append(o[0] if isinstance(o, tuple) else o))
        for b in {id(b): b for b in adapter.applied(model)}.values()
    ]
    inputs = batch(seq=9)
    with torch.no_grad():
        feats = forward_features(
            model, inputs, FeatureRequest(hidden_layers=tuple(range(1, 5)), embeddings=True)
        )
    for h in hooks:
        h.remove()
    assert len(adapter.applied(model)) == model.config.num_hidden_layers
    assert len(outputs) == 4
    # layers 1..N-1: the blocks' outputs; layer N: what the head reads (ModernBERT's is final-normed)
    for mine, theirs in zip(outputs[:-1], feats.hidden[:-1], strict=True):
        assert torch.equal(mine, theirs)
    with torch.no_grad():
        last = model.base_model(**inputs).last_hidden_state
    assert torch.allclose(feats.hidden[-1], last, atol=1e-6)
    assert feats.embeddings.shape == feats.hidden[0].shape  # layer 0: the width of the layers


@pytest.mark.parametrize("family", FAMILIES)
def test_smaller_model_copies_the_mapped_layers_and_round_trips(family, tmp_path):
    teacher = classifier(family)
    adapter = adapter_of(teacher)
    layers = [2, 4]
    student = build_distilbert(teacher.config, 2, ["neg", "pos"], layers).eval()
    notes = copy_teacher_layers(student, teacher, layers)
    assert notes[0] == "embeddings (copied)" and "classifier (copied)" in notes
    t_applied, s_applied = adapter.applied(teacher), adapter.applied(student)
    for m, t in enumerate(layers, 1):  # exactly the mapped tensors
        s_state, t_state = s_applied[m - 1].state_dict(), t_applied[t - 1].state_dict()
        dropped = set(t_state) - set(s_state)  # only where the family's first layer lacks a part
        assert set(s_state) <= set(t_state) and (
            not dropped or (m == 1 and any("dropped" in x for x in notes))
        )
        assert all(torch.equal(s_state[k], t_state[k]) for k in s_state)
    for name, part in adapter.shared(teacher).items():
        assert all(
            torch.equal(a, b)
            for a, b in zip(
                part.state_dict().values(), adapter.shared(student)[name].state_dict().values(), strict=True
            )
        )
    inputs = batch(seq=9)
    student.save_pretrained(tmp_path / "s")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "s").eval()
    assert type(loaded) is type(student)
    with torch.no_grad():
        assert torch.allclose(loaded(**inputs).logits, student(**inputs).logits, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_layer_copied_gives_the_teachers_logits(family):
    teacher = classifier(family)
    n = teacher.config.num_hidden_layers
    student = build_distilbert(teacher.config, n, ["neg", "pos"], list(range(1, n + 1))).eval()
    copy_teacher_layers(student, teacher, list(range(1, n + 1)))
    inputs = batch(seq=9)
    with torch.no_grad():
        assert torch.allclose(student(**inputs).logits, teacher(**inputs).logits, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_export_agrees_with_torch_at_two_shapes(family, tmp_path):
    model = classifier(family)
    module = LogitsOnly(model).eval()
    path = export_module(module, tmp_path / "model.onnx")
    predict = ort_predict(ort_session(path))
    for rows, seq in ((2, 7), (5, 13)):
        inputs = batch(seq=seq, rows=rows, seed=seq)
        with torch.no_grad():
            want = model(**inputs).logits.numpy()
            assert torch.allclose(
                module(inputs["input_ids"], inputs["attention_mask"]), torch.from_numpy(want), atol=1e-5
            )
        got = predict(inputs["input_ids"].numpy(), inputs["attention_mask"].numpy())
        assert abs(got - want).max() < 1e-4, (family, rows, seq)


def test_unknown_model_type_names_the_closest_and_the_supported():
    with pytest.raises(ConfigError) as e:
        adapter_for("robertta", "teacher.yaml")
    msg = str(e.value)
    assert msg.startswith(
        "teacher.yaml: model_type 'robertta' is not a supported encoder family; closest: 'roberta'"
    )
    assert msg.endswith("supported: " + ", ".join(model_types()))


def test_albert_with_inner_groups_is_refused():
    cfg = CONFIGS["albert"]()
    cfg.inner_group_num = 2
    assert "inner_group_num 2" in adapter_for("albert").check(cfg)

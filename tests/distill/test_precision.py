"""Gradient accumulation, bf16 autocast on the CPU, half-precision teachers, and their config keys."""

from __future__ import annotations

import errno
import textwrap

import pytest
import torch
from transformers import BertForSequenceClassification

from distill.config import CheckpointConfig, OptimizerConfig, TrainConfig, load_student_config
from distill.core.errors import ConfigError, OutputError
from distill.data.batching import collate, encode
from distill.data.dataset import TextDataset
from distill.models.features import FeatureRequest, forward_features
from distill.objectives import OBJECTIVES, ModelDims
from distill.train.checkpoint import CheckpointManager
from distill.train.distiller import fit_stage, total_loss
from distill.train.stepper import Stepper, check_precision
from distill.train.teacher_cache import LiveTeacher
from tests.conftest import tiny_config, tiny_tokenizer, toy_rows

DIMS = ModelDims(16, 2, 2), ModelDims(32, 4, 4)


def models_and_data(tmp_path, n: int = 16):
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_config(num_labels=2)).eval()
    student = BertForSequenceClassification(
        tiny_config(num_labels=2, hidden_size=16, num_attention_heads=2, num_hidden_layers=2)
    )
    rows = toy_rows(n)
    data = encode(
        TextDataset([t for t, _ in rows], [int(y == "positive") for _, y in rows]),
        tiny_tokenizer(tmp_path),
        16,
    )
    return teacher, student, data


def objectives(*names):
    return [OBJECTIVES.get(n)(OBJECTIVES.get(n).Params(), *DIMS) for n in names]


def test_accumulated_gradient_is_the_mean_over_micro_batches(tmp_path):
    """k micro-batches of b through Stepper.backward give the gradient of one batch of k*b."""
    teacher, student, data = models_and_data(tmp_path)
    objs = objectives("pred", "ce")
    want_s, want_t = FeatureRequest(), FeatureRequest()

    def grads(micro: int) -> list[torch.Tensor]:
        model = BertForSequenceClassification(student.config)
        model.load_state_dict(student.state_dict())
        stepper = Stepper(
            [model],
            lr=1e-3,
            optim=OptimizerConfig(),
            train=TrainConfig(),
            total_steps=1,
            device=torch.device("cpu"),
        )
        size = 16 // micro
        for k in range(micro):
            batch = collate(data, list(range(k * size, (k + 1) * size)))
            t = LiveTeacher(teacher, want_t)(list(range(size)), batch)
            loss, _ = total_loss(objs, forward_features(model, batch, want_s), t, batch["labels"])
            stepper.backward(loss, micro)
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    one, four = grads(1), grads(4)
    assert len(one) == len(four) > 0
    for a, b in zip(one, four, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_fit_stage_with_accumulation_matches_one_large_batch(tmp_path):
    teacher, student, data = models_and_data(tmp_path)
    results, weights = [], []
    for batch_size, accum in ((16, 1), (4, 4)):
        model = BertForSequenceClassification(student.config)
        model.load_state_dict(student.state_dict())
        results.append(
            fit_stage(
                "accum",
                model,
                teacher,
                objectives("pred", "ce"),
                [2, 4],
                data,
                None,
                epochs=2,
                lr=1e-3,
                optim=OptimizerConfig(),
                batch_size=batch_size,
                eval_batch_size=16,
                seed=0,
                device=torch.device("cpu"),
                num_labels=2,
                train_cfg=TrainConfig(grad_accum_steps=accum),
            )
        )
        weights.append(model.state_dict())
    assert results[0].steps == results[1].steps == 2  # 4 micro-batches make one optimizer step
    assert results[0].loss_first == pytest.approx(results[1].loss_first, rel=1e-5)
    for k, v in weights[0].items():
        torch.testing.assert_close(weights[1][k], v, rtol=1e-4, atol=1e-5)
    assert any(not torch.equal(weights[0][k], v) for k, v in student.state_dict().items())  # it did train


def test_bf16_autocast_runs_on_cpu(tmp_path):
    teacher, student, data = models_and_data(tmp_path, n=32)
    dtypes = set()
    student.bert.encoder.layer[0].attention.self.query.register_forward_hook(
        lambda m, i, o: dtypes.add(o.dtype) if m.training else None
    )
    before = {k: v.clone() for k, v in student.state_dict().items()}
    result = fit_stage(
        "bf16",
        student,
        teacher,
        objectives("emb", "hidden", "attn", "pred"),
        [2, 4],
        data,
        None,
        epochs=2,
        lr=1e-3,
        optim=OptimizerConfig(),
        batch_size=8,
        eval_batch_size=8,
        seed=0,
        device=torch.device("cpu"),
        num_labels=2,
        train_cfg=TrainConfig(precision="bf16"),
    )
    assert dtypes == {torch.bfloat16}  # the student's matmuls ran in bf16
    assert result.steps == 8 and torch.isfinite(torch.tensor([result.loss_first, result.loss_last])).all()
    # fp32 master weights
    assert all(v.dtype == torch.float32 for v in student.state_dict().values() if v.is_floating_point())
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items())


def test_half_precision_teacher_gives_fp32_targets(tmp_path):
    teacher, _, data = models_and_data(tmp_path)
    batch = collate(data, [0, 1, 2])
    request = FeatureRequest(embeddings=True, hidden_layers=(2,), attn_layers=(2,))
    fp32 = LiveTeacher(teacher, request)([0, 1, 2], batch)
    bf16 = LiveTeacher(teacher.to(torch.bfloat16), request)([0, 1, 2], batch)
    assert (
        bf16.logits.dtype
        == bf16.embeddings.dtype
        == bf16.hidden[0].dtype
        == bf16.attn_scores[0].dtype
        == torch.float32
    )
    torch.testing.assert_close(bf16.logits, fp32.logits, rtol=0.05, atol=0.05)  # bf16: ~3 significant digits


def test_fp16_on_cpu_is_a_config_error():
    with pytest.raises(
        ConfigError,
        match=r"^s.yaml: train.precision: fp16 needs a CUDA GPU, but the run is on the CPU; use bf16 or fp32$",
    ):
        check_precision(TrainConfig(precision="fp16"), torch.device("cpu"), "s.yaml")
    with pytest.raises(ConfigError, match="train.teacher_precision: fp16 needs a CUDA GPU"):
        check_precision(TrainConfig(teacher_precision="fp16"), torch.device("cpu"), "s.yaml")
    check_precision(TrainConfig(precision="bf16", teacher_precision="bf16"), torch.device("cpu"), "s.yaml")


@pytest.mark.parametrize(
    "block, message",
    [
        ("train: {grad_accum_steps: 0}", "train.grad_accum_steps: expected an integer >= 1, got 0"),
        ("train: {precision: fp8}", "train.precision: expected one of 'fp32', 'bf16', 'fp16', got \"fp8\""),
        ("checkpoint: {keep_last: 0}", "checkpoint.keep_last: expected an integer >= 1, got 0"),
        ("checkpoint: {every: 10}", "checkpoint.every: unknown key; did you mean 'every_steps'?"),
    ],
)
def test_new_keys_are_validated(tmp_path, block, message):
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent(f"""
        name: s
        architecture: {{preset: tinybert4}}
        stages: [{{name: p, objectives: {{ce: {{}}}}}}]
        {block}
    """)
    )
    with pytest.raises(ConfigError) as e:
        load_student_config(path)
    assert str(e.value) == f"{path}: {message}"


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    manager = CheckpointManager(tmp_path / "resume", CheckpointConfig(every_steps=1, keep_last=2), {"k": 1})
    meta = {"stage": 0, "step": 1, "global_step": 1, "stage_done": False, "stages": []}
    manager.save(meta, {"x": torch.ones(3)})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(
        OutputError,
        match=r"00-00000002: could not write the checkpoint \(No space left on device\); the previous",
    ):
        manager.save({**meta, "step": 2}, {"x": torch.zeros(3)})
    # no half-written folder
    assert sorted(p.name for p in (tmp_path / "resume").iterdir()) == ["00-00000001"]
    assert torch.equal(manager.latest().state["x"], torch.ones(3))

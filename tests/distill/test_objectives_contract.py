"""The contract every registered objective keeps, checked for each name in the registry.

A new objective (one file under ``distill/objectives/`` and its ``@OBJECTIVES.register``) is run
through the same checks as the old ones: it builds from its YAML defaults for a student narrower
and shallower than its teacher, reads only the features it declares in ``needs``, gives a finite,
non-negative scalar whose gradient reaches the student (and its own projections), declares the
unit its loss is a mean over, ignores padding, and its state (the learned ``W_e``/``W_h``) survives
a ``state_dict`` round trip. Each is fed the model outputs of a task it applies to (``tasks``): four
logits and class ids for a classification loss, one output and float targets for a regression-only one,
four logits and 0/1 targets for a multi-label-only one.
"""

from __future__ import annotations

import pytest
import torch

from distill.models.features import Features
from distill.objectives import OBJECTIVES, ModelDims
from distill.objectives.spec import build_objectives, parse_objectives

STUDENT = ModelDims(hidden_size=24, num_heads=4, num_layers=2)
TEACHER = ModelDims(hidden_size=48, num_heads=6, num_layers=4)
BATCH, SEQ, LABELS, PAIRS = 3, 5, 4, 2  # PAIRS: mapped (student layer, teacher layer) pairs
UNITS = {"example", "token", "token_pair"}
FEATURES = {"logits", "labels", "embeddings", "hidden", "attn", "qkv"}


def random_features(dims: ModelDims, seed: int, grad: bool, outputs: int = LABELS) -> Features:
    """Random features of one model (``outputs`` logits); the last two positions of example 0 are padding."""
    g = torch.Generator().manual_seed(seed)
    head = dims.hidden_size // dims.num_heads

    def t(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).requires_grad_(grad)

    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[0, -2:] = 0
    return Features(
        logits=t(BATCH, outputs),
        mask=mask,
        embeddings=t(BATCH, SEQ, dims.hidden_size),
        hidden=[t(BATCH, SEQ, dims.hidden_size) for _ in range(PAIRS)],
        attn_scores=[t(BATCH, dims.num_heads, SEQ, SEQ) for _ in range(PAIRS)],
        qkv=[tuple(t(BATCH, dims.num_heads, SEQ, head) for _ in range(3)) for _ in range(PAIRS)],
    )


def student_tensors(f: Features) -> list[torch.Tensor]:
    return [f.logits, f.embeddings, *f.hidden, *f.attn_scores, *(x for qkv in f.qkv for x in qkv)]


def build(name: str):
    params = parse_objectives({name: None}, "student.yaml", ("stages", 0, "objectives"))
    (objective,) = build_objectives(params, STUDENT, TEACHER, "student.yaml")
    return objective


LABELS_T = torch.tensor([0, 3, 1])
TARGETS_T = torch.tensor([0.5, 2.0, -1.0])  # a regression's gold targets
MULTI_HOT_T = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
NAMES = OBJECTIVES.names()


def case(name: str, grad: bool = False):
    """The objective, student and teacher features and gold labels of a task it applies to."""
    objective = build(name)
    if "classification" in objective.tasks:
        outputs, labels = LABELS, LABELS_T
    elif "regression" in objective.tasks:
        outputs, labels = 1, TARGETS_T
    else:  # multi-label: four sigmoid outputs, 0/1 targets
        outputs, labels = LABELS, MULTI_HOT_T
    student = random_features(STUDENT, 1, grad=grad, outputs=outputs)
    teacher = random_features(TEACHER, 2, grad=False, outputs=outputs)
    return objective, student, teacher, labels


def test_the_registry_holds_every_objective_of_the_readme():
    assert NAMES == [
        "attn",
        "bce",
        "ce",
        "emb",
        "hidden",
        "hidden_cos",
        "kd_kl",
        "logit_mse",
        "mse",
        "pred",
        "relation",
        "soft_bce",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_its_defaults_and_declares_what_it_reads(name):
    objective = build(name)
    assert objective.name == name  # the YAML name, as progress bars and checkpoints show it
    assert objective.weight == 1.0  # every objective's default weight
    assert objective.unit in UNITS
    assert objective.needs and objective.needs <= FEATURES
    hard = ("ce", "mse", "bce")  # the hard-label losses: the only ones that need no teacher pass
    assert objective.uses_teacher == (name not in hard)
    assert objective.tasks and objective.tasks <= {"classification", "regression", "multi_label"}


@pytest.mark.parametrize("name", NAMES)
def test_a_finite_scalar_whose_gradient_reaches_the_student(name):
    torch.manual_seed(0)
    objective, student, teacher, labels = case(name, grad=True)
    loss = objective(student, teacher, labels)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.item() >= 0
    loss.backward()
    reached = [x for x in student_tensors(student) if x.grad is not None and x.grad.abs().sum() > 0]
    assert reached, f"{name}: no gradient reaches the student's features"
    for p in objective.parameters():  # the learned projections are trained with the student
        assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_reads_only_the_features_it_declares(name):
    objective, student, teacher, labels = case(name)
    expected = objective(student, teacher, labels)
    blank = {"embeddings": None, "hidden": [], "attn_scores": [], "qkv": []}
    keep = {"hidden": "hidden", "attn": "attn_scores", "embeddings": "embeddings", "qkv": "qkv"}
    for need, field in keep.items():
        if need in objective.needs:
            blank.pop(field)
    for f in (student, teacher):
        for field, empty in blank.items():
            setattr(f, field, empty)
        if "logits" not in objective.needs:
            f.logits = None
    torch.testing.assert_close(objective(student, teacher, labels), expected)


@pytest.mark.parametrize("name", NAMES)
def test_padding_does_not_count(name):
    objective, student, teacher, labels = case(name)
    expected = objective(student, teacher, labels)
    for f in (student, teacher):  # change only what sits at the padded positions of example 0
        for x in (f.embeddings, *f.hidden):  # (batch, seq, hidden)
            x.data[0, -2:, :] += 100.0
        for x in (x for qkv in f.qkv for x in qkv):  # (batch, heads, seq, head_dim)
            x.data[0, :, -2:, :] += 100.0
        for x in f.attn_scores:  # (batch, heads, seq, seq): rows and columns of padded tokens
            x.data[0, :, -2:, :] += 100.0
            x.data[0, :, :, -2:] += 100.0
    torch.testing.assert_close(objective(student, teacher, labels), expected)


@pytest.mark.parametrize("name", NAMES)
def test_its_state_round_trips(name):
    torch.manual_seed(0)
    trained = build(name)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(torch.randn_like(p))
    torch.manual_seed(1)  # another random start, then the saved state
    fresh = build(name)
    fresh.load_state_dict(trained.state_dict())
    _, student, teacher, labels = case(name)
    assert torch.equal(fresh(student, teacher, labels), trained(student, teacher, labels))

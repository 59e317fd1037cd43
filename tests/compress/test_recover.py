"""Recovery after pruning with the project's objectives: golden losses, projections, errors, CLI, pipeline."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from torch import nn
from transformers import BertForSequenceClassification

from distill.compress import recover as recover_module
from distill.compress.cli import main
from distill.compress.models import load_classifier
from distill.compress.prune import prune
from distill.compress.recover import recover
from distill.core.errors import ConfigError
from distill.pipeline import parse_recipe
from distill.pipeline.context import Done, StepContext
from distill.pipeline.model_steps import run_compress
from distill.pipeline.plan import _parts


class FixedLogits(nn.Module):
    """Logits = a learnable row repeated over the batch; a config as dims() and the layer map read it."""

    def __init__(self, row: list[float]) -> None:
        super().__init__()
        self.row = nn.Parameter(torch.tensor(row))
        self.config = SimpleNamespace(hidden_size=4, num_attention_heads=1, num_hidden_layers=1)

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=self.row.expand(len(input_ids), -1))  # [batch, labels]


def _safetensor_keys(folder):
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return list(f.keys())  # noqa: SIM118  (a safetensors handle is not iterable)


def _batch(n=3, t=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 30, (n, t), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 0][:n])}


def test_default_loss_is_kl_times_t_squared_on_fixed_logits():
    # Teacher logits (2 ln 3, 0) at T = 2: p_T = softmax(ln 3, 0) = (3/4, 1/4); student (0, 0): p_S = (1/2, 1/2).
    # T² KL(p_T || p_S) = 4 (3/4 ln(3/2) + 1/4 ln(1/2)) = ln(27/16).
    teacher, student = FixedLogits([2 * math.log(3), 0.0]), FixedLogits([0.0, 0.0])
    rec = recover(student, teacher, [_batch()], epochs=1, lr=0.1)
    assert rec.objectives == {"kd_kl": {"weight": 1.0, "temperature": 2.0}}
    assert rec.loss_before == pytest.approx(math.log(27 / 16), abs=1e-6)
    assert rec.steps == 1 and rec.loss_after < rec.loss_before
    # `pred` at the same T is the soft cross-entropy KL + H(p_T): here -(3/4 + 1/4) ln(1/2) = ln 2,
    # i.e. the default / T² + H(p_T) (H = 3/4 ln(4/3) + 1/4 ln 4).
    pred = recover(
        FixedLogits([0.0, 0.0]), teacher, [_batch()], {"pred": {"temperature": 2}}, epochs=1, lr=0.1
    )
    assert pred.loss_before == pytest.approx(math.log(2), abs=1e-6)
    entropy = 0.75 * math.log(4 / 3) + 0.25 * math.log(4)
    assert pred.loss_before == pytest.approx(rec.loss_before / 4 + entropy, abs=1e-6)


def test_default_objectives_reproduce_the_former_hand_written_kl_loop(tiny_bert):
    teacher, _ = load_classifier(tiny_bert)
    pruned, _ = load_classifier(tiny_bert)
    prune(pruned, head_ratio=0.25, ffn_ratio=0.5)
    reference, _ = load_classifier(tiny_bert)
    prune(reference, head_ratio=0.25, ffn_ratio=0.5)
    batches = [_batch(seed=s) for s in range(3)]
    recover(pruned, teacher, batches, epochs=2, lr=1e-3, seed=0)
    # The loop recover() used to be (AdamW, KL·T² at T = 2, dropout drawn from the same seed).
    torch.manual_seed(0)
    reference.train()
    opt = torch.optim.AdamW(reference.parameters(), lr=1e-3)
    for _ in range(2):
        for b in batches:
            with torch.no_grad():
                t = teacher(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            s = reference(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            loss = (
                nn.functional.kl_div(
                    nn.functional.log_softmax(s / 2, -1),
                    nn.functional.softmax(t / 2, -1),
                    reduction="batchmean",
                )
                * 4
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    for (name, a), b in zip(pruned.state_dict().items(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_hidden_objective_on_a_narrower_pruned_student_trains_its_projection(
    tiny_bert, tmp_path, monkeypatch
):
    teacher, _ = load_classifier(tiny_bert)  # hidden 32, 4 heads of 8
    student, _ = load_classifier(tiny_bert)
    prune(student, head_ratio=0.5)
    assert student.config.hidden_size == 16 and teacher.config.hidden_size == 32
    trained: list[tuple[int, ...]] = []
    real_adamw = torch.optim.AdamW

    def spy(params, **kw):
        params = list(params)
        trained.extend(tuple(p.shape) for p in params)
        return real_adamw(params, **kw)

    monkeypatch.setattr(recover_module.torch.optim, "AdamW", spy)
    student.save_pretrained(str(tmp_path / "before"))
    rng = torch.get_rng_state()
    rec = recover(
        student,
        teacher,
        [_batch()] * 8,
        {"hidden": {"weight": 1}, "attn": {}, "kd_kl": {"temperature": 2}},
        epochs=1,
        lr=1e-3,
    )
    assert rec.objectives == {
        "hidden": {"weight": 1.0},
        "attn": {"weight": 1.0, "heads": "auto"},
        "kd_kl": {"weight": 1.0, "temperature": 2.0},
    }
    assert rec.steps == 8 and rec.loss_after < 0.8 * rec.loss_before
    # W_h (16 -> 32: weight [32, 16], bias [32]) was optimised together with the student...
    student_shapes = [tuple(p.shape) for p in student.parameters()]
    assert trained[: len(student_shapes)] == student_shapes and trained[len(student_shapes) :] == [
        (32, 16),
        (32,),
    ]
    # ...but is not part of the student, which saves and reloads at its pruned width with its own attention.
    assert torch.equal(torch.get_rng_state(), rng)
    assert student.config._attn_implementation == teacher.config._attn_implementation == "sdpa"
    student.save_pretrained(str(tmp_path / "s"))
    assert _safetensor_keys(tmp_path / "s") == _safetensor_keys(tmp_path / "before")  # no W_h came along
    again = BertForSequenceClassification.from_pretrained(str(tmp_path / "s")).eval()
    b = _batch()
    torch.testing.assert_close(
        again(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits,
        student(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits,
    )


@pytest.mark.parametrize(
    ("objectives", "message"),
    [
        ({"hiden": {}}, "recover objectives: hiden: unknown objective; did you mean 'hidden'?"),
        ({"pred": {"temperature": 0}}, "recover objectives: pred.temperature: expected a number > 0, got 0"),
        (
            {"pred": {"temprature": 2}},
            "recover objectives: pred.temprature: unknown key; did you mean 'temperature'?",
        ),
        (
            {},
            "recover objectives: needs at least one objective; allowed: attn, bce, ce, emb, hidden, hidden_cos, "
            "kd_kl, logit_mse, mse, pred, relation, soft_bce",
        ),
        (
            {"attn": {"heads": "per_head"}},
            "recover objectives: attn: heads: per_head needs equal head counts, the student "
            "has 2 and the teacher 4; use `heads: mean` or `auto`",
        ),
    ],
)
def test_bad_objectives_are_one_line_errors(tiny_bert, objectives, message):
    teacher, _ = load_classifier(tiny_bert)
    student, _ = load_classifier(tiny_bert)
    prune(student, head_ratio=0.5)
    with pytest.raises(ConfigError) as e:
        recover(student, teacher, [_batch()], objectives)
    assert str(e.value) == message


def test_ce_needs_labels():
    batch = {k: v for k, v in _batch().items() if k != "labels"}
    with pytest.raises(
        ConfigError, match=r"^recover objectives: ce: the hard-label objective needs labelled"
    ):
        recover(FixedLogits([0.0, 0.0]), FixedLogits([1.0, 0.0]), [batch], {"ce": {}, "kd_kl": {}})


def _safetensor_keys(folder):
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return list(f.keys())


def test_cli_recovers_with_the_given_objectives_and_records_them(tiny_bert, eval_csv, tmp_path, capsys):
    spec = tmp_path / "recover.yaml"
    spec.write_text("kd_kl: {temperature: 2}\nhidden: {weight: 0.5}\n")
    for name, value in (("text", "{kd_kl: {temperature: 2}, hidden: {weight: 0.5}}"), ("file", str(spec))):
        rc = main(
            [
                "compress",
                str(tiny_bert),
                "--out",
                str(tmp_path / name),
                "--prune-heads",
                "0.5",
                "--recover-epochs",
                "2",
                "--recover-lr",
                "1e-3",
                "--recover-objectives",
                value,
                "--train-data",
                str(eval_csv),
            ]
        )
        assert rc == 0
    summaries = [json.loads((tmp_path / n / "compress.json").read_text()) for n in ("text", "file")]
    rec = summaries[0]["recovery"]
    assert rec["objectives"] == {"kd_kl": {"weight": 1.0, "temperature": 2.0}, "hidden": {"weight": 0.5}}
    assert rec["epochs"] == 2 and rec["lr"] == 1e-3 and rec["steps"] == 8  # 56 rows in batches of 16, twice
    assert rec["loss_after"] < rec["loss_before"]
    assert summaries[1]["recovery"] == rec  # the same objectives, from a file: the same (seeded) run
    assert summaries[0]["hidden_size"] == 16
    assert not [k for k in _safetensor_keys(tmp_path / "text") if "W_h" in k or "objectives" in k]
    # Without --recover-objectives: the default, recorded as such; without recovery: null.
    assert (
        main(
            [
                "compress",
                str(tiny_bert),
                "--out",
                str(tmp_path / "d"),
                "--prune-ffn",
                "0.5",
                "--recover-epochs",
                "1",
                "--train-data",
                str(eval_csv),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "d" / "compress.json").read_text())["recovery"]["objectives"] == {
        "kd_kl": {"weight": 1.0, "temperature": 2.0}
    }
    assert main(["compress", str(tiny_bert), "--out", str(tmp_path / "n"), "--prune-ffn", "0.5"]) == 0
    assert json.loads((tmp_path / "n" / "compress.json").read_text())["recovery"] is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--recover-epochs", "1", "--recover-objectives", "{hiden: {}}"],
            "error: --recover-objectives: hiden: unknown objective; did you mean 'hidden'?",
        ),
        (
            ["--recover-epochs", "1", "--recover-objectives", "{{file}}"],
            "error: {file}: pred.temperature: expected a number > 0, got -1",
        ),
        (
            ["--recover-epochs", "1", "--recover-objectives", "missing.yaml"],
            "error: --recover-objectives: 'missing.yaml' is neither a YAML file nor a mapping of objective name -> "
            "parameters, e.g. '{kd_kl: {temperature: 2}, hidden: {weight: 1}}'",
        ),
        (
            ["--recover-epochs", "1", "--recover-objectives", "{pred: [}"],
            "error: --recover-objectives: no such file, and not valid YAML text: ",
        ),
        (
            ["--recover-objectives", "{pred: {}}"],
            "error: --recover-objectives needs --recover-epochs N (N >= 1): without recovery it would do nothing",
        ),
    ],
)
def test_cli_bad_recover_objectives_are_one_line_exit_2(
    tiny_bert, eval_csv, tmp_path, capsys, flags, message
):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pred: {temperature: -1}\n")
    flags = [f.replace("{{file}}", str(bad)) for f in flags]
    rc = main(
        [
            "compress",
            str(tiny_bert),
            "--out",
            str(tmp_path / "o"),
            "--prune-heads",
            "0.5",
            "--train-data",
            str(eval_csv),
            *flags,
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith(message.replace("{file}", str(bad))) and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def _recipe(options: dict) -> dict:
    return {
        "name": "r",
        "teacher": "t.yaml",
        "steps": [
            {"name": "data", "kind": "data"},
            {"name": "teacher", "kind": "teacher", "inputs": {"data": "data"}},
            {
                "name": "compress",
                "kind": "compress",
                "inputs": {"model": "teacher", "data": "data"},
                "options": options,
            },
        ],
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"recover_epochs": 1, "recover_objectives": {"hiden": {}}},
            "recipe.yaml: steps.2.options.recover_objectives.hiden: unknown objective; did you mean 'hidden'?",
        ),
        (
            {"recover_epochs": 1, "recover_objectives": {"kd_kl": {"temperature": "hot"}}},
            'recipe.yaml: steps.2.options.recover_objectives.kd_kl.temperature: expected a number > 0, got "hot"',
        ),
        (
            {"recover_epochs": 1, "recover_objectives": "kd_kl"},
            'recipe.yaml: steps.2.options.recover_objectives: expected a mapping of keys to values, got "kd_kl"',
        ),
        (
            {"recover_objectives": {"pred": {}}},
            "recipe.yaml: steps.2.options.recover_objectives: needs recover_epochs >= 1 (without recovery it would do nothing)",
        ),
    ],
)
def test_pipeline_recover_objectives_are_validated_like_a_stage(options, message):
    with pytest.raises(ConfigError) as e:
        parse_recipe(_recipe(options), "recipe.yaml")
    assert str(e.value) == message


def test_pipeline_recover_objectives_are_keyed_with_defaults_filled_in():
    def key(options):
        recipe = parse_recipe(_recipe(options), "recipe.yaml")
        step = recipe.step("compress")
        return step.options, _parts(recipe, step, {}, {"teacher": "t" * 12, "data": "d" * 12})[0]["options"]

    short, short_key = key({"recover_epochs": 1, "recover_objectives": {"pred": None, "hidden": {}}})
    assert short.recover_objectives == {
        "pred": {"weight": 1.0, "temperature": 1.0},
        "hidden": {"weight": 1.0},
    }
    _, long_key = key(
        {
            "recover_epochs": 1,
            "recover_objectives": {"pred": {"weight": 1, "temperature": 1.0}, "hidden": {"weight": 1}},
        }
    )
    _, default_key = key({"recover_epochs": 1})
    assert short_key == long_key != default_key


def test_pipeline_compress_step_passes_the_objectives(tiny_bert, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    rows = [
        {"text": t, "label": "pos" if i % 2 else "neg"}
        for i, t in enumerate(["the movie was great", "i hate it"] * 8)
    ]
    (data_dir / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = parse_recipe(
        _recipe(
            {
                "prune_heads": 0.5,
                "recover_epochs": 1,
                "recover_lr": 1e-3,
                "recover_objectives": {"hidden": {}, "kd_kl": {"temperature": 2}},
            }
        ),
        "recipe.yaml",
    )
    (tmp_path / "tmp").mkdir()
    ctx = StepContext(
        recipe,
        recipe.step("compress"),
        tmp_path / "tmp",
        tmp_path / "final",
        {
            "model": Done("teacher", "teacher", "k", tiny_bert.parent, {"model": tiny_bert}),
            "data": Done("data", "data", "k", data_dir, {"train": data_dir / "train.jsonl"}, {"pair": False}),
        },
        {},
    )
    result = run_compress(ctx)
    assert result.info["recovery"]["objectives"] == {
        "hidden": {"weight": 1.0},
        "kd_kl": {"weight": 1.0, "temperature": 2.0},
    }
    assert result.info["recovery"]["steps"] == 1 and result.info["hidden_size"] == 16

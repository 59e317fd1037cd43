"""How an augment config is re-pointed at a split's JSONL files (student.yaml `augment:` and the
pipeline's augment step share this)."""

from __future__ import annotations

import pytest

from augment.config import parse_config
from distill.core.errors import ConfigError
from distill.distillation.augmented import for_split

STRATEGIES = [{"name": "masking", "p_mask": 0.1}]


def _cfg(**top):
    return parse_config({"n_iter": 2, "strategies": STRATEGIES, **top}, "aug.yaml")[0]


def test_single_text_config_on_single_and_pair_data():
    one = for_split(_cfg(text_columns=["sentence"]), pair=False, where="x")
    assert (one.text_columns, one.format, one.output_format, one.pair_mode) == (
        ["text"],
        "jsonl",
        "jsonl",
        "first",
    )
    two = for_split(_cfg(text_columns=["sentence"]), pair=True, where="x")
    assert two.text_columns == ["text", "text_pair"]


def test_pair_config_keeps_its_pair_mode_on_pair_data():
    cfg = for_split(_cfg(text_columns=["q", "p"], pair_mode="both"), pair=True, where="x")
    assert (cfg.text_columns, cfg.pair_mode) == (["text", "text_pair"], "both")


def test_pair_config_on_single_text_data_is_refused():
    with pytest.raises(ConfigError) as e:
        for_split(_cfg(text_columns=["q", "p"], pair_mode="second"), pair=False, where="recipe.yaml: steps.2")
    assert str(e.value) == (
        "recipe.yaml: steps.2: the augment config names two text_columns (a sentence-pair task) "
        "but the training data has a single text column"
    )


def test_pipeline_augment_step_refuses_a_huge_output_before_building(tmp_path, monkeypatch):
    """The pipeline's augment step goes through the same size check as `augment run`."""
    from types import SimpleNamespace

    import augment.config
    from distill.pipeline.data_steps import run_augment

    train = tmp_path / "train.jsonl"
    train.write_text("".join(f'{{"text": "row {i} is fine", "label": "a"}}\n' for i in range(10)))
    config = tmp_path / "augment.yaml"
    config.write_text("n_iter: 2\nstrategies:\n  - {name: masking}\n")
    monkeypatch.setattr(
        augment.config, "build_pipeline", lambda *a, **k: pytest.fail("pipeline built before the check")
    )
    data = SimpleNamespace(outputs={"train": train}, info={"pair": False})
    step = SimpleNamespace(config=config, options=SimpleNamespace(n_iter=200_000_000, workers=1))
    ctx = SimpleNamespace(one=lambda name: data, step=step, tmp=tmp_path / "step")
    with pytest.raises(ConfigError) as e:
        run_augment(ctx)
    assert str(e.value).startswith(
        f"{config}: n_iter: 200000000 copies of each of 10 input rows make up to 2,000,000,010 output rows (about "
    )
    assert not (tmp_path / "step").exists()

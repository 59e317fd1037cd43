"""`prune` on every family whose adapter says it applies: the pruned model reloads from its config
with the asked sizes and the same logits; the other families are refused with the adapter's reason."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from distill.compress.prune import prune
from distill.core.errors import ConfigError
from distill.models.adapters import adapter_of
from tests.family_helpers import CONFIGS, batch, classifier

PRUNABLE = [f for f in sorted(CONFIGS) if adapter_of(classifier(f)).prune.ok]
REFUSED = [f for f in sorted(CONFIGS) if f not in PRUNABLE]


def test_bert_and_roberta_are_prunable():
    assert {"bert", "roberta"} <= set(PRUNABLE)  # the layouts prune.py was written for


@pytest.mark.parametrize("family", PRUNABLE)
def test_pruned_model_reloads_with_the_asked_sizes_and_logits(family, tmp_path):
    model = classifier(family)  # 4 heads x 8 dims, hidden 32, FFN 64
    prune(model, head_ratio=0.5, ffn_ratio=0.25)
    model.save_pretrained(tmp_path / "p")
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "p").eval()
    assert (again.config.num_attention_heads, again.config.hidden_size, again.config.intermediate_size) == (
        2,
        16,
        48,
    )
    inputs = batch(seq=9)
    with torch.no_grad():
        torch.testing.assert_close(again(**inputs).logits, model(**inputs).logits)


@pytest.mark.parametrize("family", REFUSED)
def test_other_families_are_refused_with_the_reason(family):
    model = classifier(family)
    with pytest.raises(ConfigError) as e:
        prune(model, ffn_ratio=0.5)
    assert str(e.value) == f"prune: {adapter_of(model).prune.why}"


@pytest.mark.parametrize("family", PRUNABLE)
def test_distill_compress_prunes_a_saved_classifier_of_the_family(family, tmp_path, capsys):
    from distill.cli import main
    from tests.family_helpers import save_classifier

    folder = save_classifier(family, tmp_path / family)
    out = tmp_path / "pruned"
    assert main(["compress", str(folder), "--out", str(out), "--prune-heads", "0.5"]) == 0, (
        capsys.readouterr().err
    )
    again = AutoModelForSequenceClassification.from_pretrained(out)
    assert again.config.model_type == CONFIGS[family]().model_type and again.config.num_attention_heads == 2

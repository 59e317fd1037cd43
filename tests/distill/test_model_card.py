"""Every saved student gets a Hugging Face model card (README.md) whose numbers are metrics.json's."""

from __future__ import annotations

import json

from huggingface_hub import ModelCard
from transformers import AutoModelForSequenceClassification

from distill.cli import main
from distill.distillation.model_card import hub_id
from tests.distill.test_run import configs


def test_the_saved_student_has_a_model_card_with_the_runs_numbers(tmp_path, tiny_encoder_dir):
    teacher, student = configs(tmp_path, tiny_encoder_dir, width=32, heads=4, ffn=64)
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    card = ModelCard.load(out / "README.md")
    meta = card.data
    assert meta.model_name == "tiny-student" and meta.library_name == "transformers"
    assert meta.pipeline_tag == "text-classification" and "knowledge-distillation" in meta.tags
    assert meta.base_model is None  # the teacher is a local folder: no hub id to name
    scores = {(r.dataset_split, r.metric_type): r.metric_value for r in meta.eval_results}
    assert scores == {
        (split, metric): round(m["student"][split][metric], 6)
        for split in ("dev", "test")
        for metric in ("accuracy", "f1")
    }
    text = card.text
    assert f"{m['student']['params'] / 1e6:.1f}M parameters" in text
    dev = f"{100 * m['student']['dev']['accuracy']:.1f}%"
    assert dev in text and "## How it was distilled" in text and "stage `prediction`" in text
    assert f'pipeline("text-classification", model="{out}")' in text
    # the folder still loads as it did, the card beside the weights
    assert AutoModelForSequenceClassification.from_pretrained(out).config.num_labels == 2


def test_base_model_is_a_hub_id_or_nothing(tmp_path):
    assert hub_id("packaged:all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id("bert-large-uncased") == "bert-large-uncased"
    assert hub_id("microsoft/deberta-v3-base") == "microsoft/deberta-v3-base"
    assert hub_id("./models/mine") is None and hub_id(str(tmp_path)) is None
    assert hub_id("a/b/c") is None

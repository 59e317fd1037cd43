import pytest
import torch
from transformers import BertForSequenceClassification

from distill.compress.models import load_classifier
from distill.compress.prune import prune
from distill.compress.recover import recover
from distill.core.errors import ConfigError


def _batch(n=3, t=11):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 30, (n, t), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 0][:n])}


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_pruned_bert_reloads_with_the_asked_sizes(tiny_bert, tmp_path, importance):
    model, _ = load_classifier(tiny_bert)  # 4 heads x 8 dims, hidden 32, FFN 64
    prune(model, head_ratio=0.5, ffn_ratio=0.25, importance=importance, taylor_batch=_batch())
    model.save_pretrained(str(tmp_path / "pruned"))
    again = BertForSequenceClassification.from_pretrained(str(tmp_path / "pruned")).eval()
    assert again.config.num_attention_heads == 2
    assert again.config.hidden_size == 16  # 2 heads x 8 dims: the only shape BertConfig can express
    assert again.config.intermediate_size == 48
    layer = again.bert.encoder.layer[1]
    assert layer.attention.self.query.weight.shape == (16, 16)
    assert layer.intermediate.dense.weight.shape == (48, 16)
    b = _batch()
    logits = again(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    assert logits.shape == (3, 2)
    # The reloaded model is the pruned model, not a re-initialised one.
    torch.testing.assert_close(
        logits, model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    )


def test_ffn_only_keeps_attention_and_slices_both_ffn_matrices_consistently(tiny_bert):
    model, _ = load_classifier(tiny_bert)
    layer = model.bert.encoder.layer[0]
    w_in = layer.intermediate.dense.weight.detach().clone()  # [64, 32]
    w_out = layer.output.dense.weight.detach().clone()  # [32, 64]
    prune(model, ffn_ratio=0.5)
    assert model.config.num_attention_heads == 4 and model.config.hidden_size == 32
    new_in, new_out = layer.intermediate.dense.weight.detach(), layer.output.dense.weight.detach()
    assert new_in.shape == (32, 32) and new_out.shape == (32, 32)
    # Each kept neuron is one original row of W_in, and W_out keeps the matching columns.
    kept = [int(torch.cdist(r[None], w_in).argmin()) for r in new_in]
    assert len(set(kept)) == 32
    torch.testing.assert_close(new_in, w_in[kept])
    torch.testing.assert_close(new_out, w_out[:, kept])


def test_recover_moves_the_pruned_model_towards_the_teacher(tiny_bert):
    teacher, _ = load_classifier(tiny_bert)
    student, _ = load_classifier(tiny_bert)
    prune(student, ffn_ratio=0.5, head_ratio=0.25)
    b = _batch(3, 9)
    batches = [b] * 20

    def gap():
        with torch.no_grad():
            t = teacher(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            s = student(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        return (t - s).abs().mean().item()

    before = gap()
    recover(student, teacher, batches, epochs=1, lr=1e-3)
    assert gap() < before


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"head_ratio": 1.0}, "head_ratio"),
        ({"ffn_ratio": -0.1}, "ffn_ratio"),
        ({"importance": "taylor"}, "labelled batch"),
    ],
)
def test_bad_pruning_arguments_are_one_line_errors(tiny_bert, kw, msg):
    model, _ = load_classifier(tiny_bert)
    with pytest.raises(ConfigError, match=msg):
        prune(model, **kw)


def test_non_bert_is_refused():
    with pytest.raises(ConfigError, match="only Hugging Face"):
        prune(torch.nn.Linear(2, 2), head_ratio=0.5)

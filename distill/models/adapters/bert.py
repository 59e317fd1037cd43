"""BERT, RoBERTa (XLM-R and CamemBERT share its code) and ELECTRA: the base adapter's layout.

All three keep ``embeddings``/``encoder.layer`` with a self-attention that calls the attention-function
registry, so recording needs nothing of their own. They differ in inputs and heads: RoBERTa numbers
positions from ``pad_token_id + 1`` (computed from the ids, so none are passed) and has one token
type; RoBERTa and ELECTRA have no pooler, their head reads [CLS] through its own dense layer, which
the [CLS]-only deployment graph (written for BERT's pooler and classifier) does not rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distill.models.adapters.base import Adapter, Support, register

if TYPE_CHECKING:
    from torch import nn

_HEAD = (
    "the [CLS]-only last layer rewrites BERT's pooler and classifier; {title}'s head (dense, {act}, out_proj, "
    "no pooler) differs"
)
_PRUNE = (
    "compress/prune.py cuts the residual width from the word embeddings; {title}-small's narrower embeddings "
    "(embedding_size, projected by embeddings_project) are not the residual stream"
)


class BertAdapter(Adapter):
    notes = "the reference layout: every path applies"


class RobertaAdapter(Adapter):
    name = "roberta"
    title = "RoBERTa"
    model_types = ("roberta", "xlm-roberta", "camembert")
    positions = "model"  # fairseq-style: from the ids, starting at pad_token_id + 1
    cls_graph = Support.no(_HEAD.format(title="RoBERTa", act="tanh"))
    notes = "positions from pad_token_id + 1; one token type; head on [CLS] without a pooler"

    def position_offset(self, config: Any) -> int:
        return (config.pad_token_id or 0) + 1

    def side_outputs(self, model: nn.Module) -> list[nn.Module]:
        head = self.head(model)  # RobertaClassificationHead: dense (hidden -> hidden), out_proj
        return [head.dense] if head is not None and hasattr(head, "dense") else []


class ElectraAdapter(Adapter):
    name = "electra"
    title = "ELECTRA"
    model_types = ("electra",)
    cls_graph = Support.no(_HEAD.format(title="ELECTRA", act="GELU"))
    prune = Support.no(_PRUNE.format(title="ELECTRA"))
    notes = "embeddings may be narrower than the layers (projected by embeddings_project)"

    def shared(self, model: nn.Module) -> dict[str, nn.Module]:
        project = getattr(model.base_model, "embeddings_project", None)
        return {} if project is None else {"embeddings_project": project}


BERT = register(BertAdapter())
ROBERTA = register(RobertaAdapter())
ELECTRA = register(ElectraAdapter())

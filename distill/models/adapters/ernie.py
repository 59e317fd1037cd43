"""ERNIE (Baidu; ERNIE 1.0/2.0/3.0 checkpoints, e.g. ernie-3.0-base-zh): BERT's layout plus an optional
task-type embedding (``use_task_id``), added to the embeddings and left at type 0 here, as in
transformers when no ``task_type_ids`` are given.

The same modules as BERT under ``ernie.``: its self-attention calls the attention-function registry,
``prune.py`` cuts it as it cuts BERT. The [CLS]-only graph is written against ``model.bert``. ORT's
optimiser would fuse its attention but silently drop the task-type embedding (measured), so the
optimised kinds are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distill.models.adapters.base import Adapter, Support, register

if TYPE_CHECKING:
    from torch import Tensor, nn


class ErnieAdapter(Adapter):
    name = "ernie"
    title = "ERNIE"
    model_types = ("ernie",)
    ort_optimizer = Support.no(
        "ORT's BERT optimiser fuses ERNIE's embeddings into EmbedLayerNormalization without the task-type "
        "embedding (use_task_id, as in ERNIE 3.0): the optimised graph's logits differ from the model's (by 1.9 "
        "on a tiny model, onnxruntime 1.32), so it is not used"
    )
    cls_graph = Support.no(
        "the [CLS]-only last layer is written against BertForSequenceClassification (`model.bert`)"
    )
    notes = "BERT's layout under `ernie.`, plus a task-type embedding (type 0)"

    def constant_embedding(self, model: nn.Module) -> Tensor | None:
        task = getattr(self.embeddings(model), "task_type_embeddings", None)
        return None if task is None else task.weight[0]  # the type every token gets here


ERNIE = register(ErnieAdapter())

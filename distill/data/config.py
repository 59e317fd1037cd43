"""The ``data:`` block of teacher.yaml: where the labelled data comes from and how to read it.

It lives beside the readers (below the teacher and student configs) so that the data layer needs no
config from above it; :mod:`distill.config` embeds it in ``TeacherConfig``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from distill.core.schema import Encoding, NonEmptyStr, PositiveInt, Probability, Seed


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Strict):
    """Fractions carved out of the training source for splits that have no file of their own."""

    dev: Probability = 0.1
    test: Probability = 0.1
    seed: Seed = 0

    @model_validator(mode="after")
    def _leaves_train(self) -> SplitConfig:
        if self.dev + self.test >= 1:
            raise ValueError(
                f"dev + test must be below 1 (the rest is the train split), got {self.dev:g} + {self.test:g}"
            )
        return self


class DataConfig(_Strict):
    """Where the labelled data comes from and how to read it."""

    source: NonEmptyStr = Field(
        description="`embedded:tweets` (binary), `embedded:tweets-3class`, a CSV/TSV/JSONL file, "
        "a GLUE task folder (format: glue), or a `datasets.save_to_disk` folder (format: disk)"
    )
    format: Literal["auto", "csv", "tsv", "glue", "jsonl", "disk"] = "auto"
    glue_task: Literal["sst2", "cola", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"] | None = None
    task: Literal["auto", "classification", "regression", "multi_label"] = Field(
        "auto",
        description="auto: inferred from the train labels (logged; distill/data/labels.py) | classification "
        "| regression (numeric targets) | multi_label",
    )
    encoding: Encoding = "utf-8"
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    labels: list[str] | None = Field(
        None, description="label names in id order; default: sorted train labels"
    )
    label_delimiter: str | None = Field(
        None,
        min_length=1,
        description="multi-label: what separates a row's label names (default: the first of , ; | the column "
        "uses); a JSON list in the cell or a JSONL list value needs none",
    )
    dev: str | None = Field(None, description="a separate dev file (same format); else carved from source")
    test: str | None = Field(None, description="a separate test file (same format); else carved from source")
    split: SplitConfig = SplitConfig()
    max_train_examples: PositiveInt | None = None
    max_eval_examples: PositiveInt | None = None

    @model_validator(mode="after")
    def _labels_are_classes(self) -> DataConfig:
        if self.labels is not None and self.task == "regression":
            raise ValueError(f"labels: names classes; task {self.task} has none (remove one of the two)")
        return self

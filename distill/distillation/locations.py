"""Every folder ``distill run`` writes, with a rough size of what goes there: the pre-flight checks
each is writable and has room before anything is trained (:func:`distill.distillation.preflight.preflight`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill.core.output_dir import OUTPUT_HINT, run_bytes
from distill.data.dataset import DataSplits
from distill.distillation.plan import Plan
from distill.models.adapters import adapter_for
from distill.train.teacher import finetuned_path
from students.family import transformer_bytes


def student_bytes(plan: Plan, labels: int) -> int:
    """The student's size, estimated from its configured shape before it is built."""
    return plan.family.weight_bytes(plan.student_cfg.architecture, plan.shape, plan.teacher_hf, labels)


def teacher_bytes(plan: Plan, labels: int) -> int:
    hf = plan.teacher_hf
    ffn = adapter_for(hf.model_type).ffn_size(hf)
    return transformer_bytes(
        getattr(hf, "vocab_size", 30522),
        getattr(hf, "max_position_embeddings", 512),
        hf.hidden_size,
        hf.num_hidden_layers,
        ffn,
        labels,
    )


@dataclass
class Location:
    """A folder the run writes: where, under which key, how many bytes, what and what to do if not."""

    path: Path
    key: str
    need: int
    what: str
    hint: str  # when it cannot be written
    space_hint: str = ""  # when it is too full (default: ``hint``)


def output_key(plan: Plan, output_dir: str | Path | None) -> tuple[Path, str]:
    """The output folder and the key that chose it (``--output-dir`` or student.yaml's ``output_dir``)."""
    if output_dir:
        return Path(output_dir), "--output-dir"
    s_cfg = plan.student_cfg
    return Path(s_cfg.output_dir or Path("outputs") / s_cfg.name), f"{plan.student_source}: output_dir"


def write_locations(
    plan: Plan, splits: DataSplits, out: Path, out_key: str, transfer_rows: int = 0
) -> list[Location]:
    """Every folder the run will write, with a rough size of what goes there (``transfer_rows``: the
    transfer set's texts, which the teacher labels too)."""
    s_cfg, t_cfg = plan.student_cfg, plan.teacher_cfg
    labels = len(splits.label_names)
    best = any(st.eval for st in s_cfg.stages)
    locations = [
        Location(
            out,
            out_key,
            run_bytes(student_bytes(plan, labels), s_cfg.checkpoint.keep_last, len(s_cfg.stages), best),
            "student, stage checkpoints, checkpoint.keep_last resume checkpoints",
            OUTPUT_HINT,
            "free disk space, lower checkpoint.keep_last or choose another folder (output_dir or --output-dir)",
        )
    ]
    cache_key = f"{plan.teacher_source}: cache_dir"
    if not plan.teacher_ready and not (finetuned_path(t_cfg, splits) / "config.json").is_file():
        locations.append(
            Location(
                Path(t_cfg.cache_dir),
                cache_key,
                teacher_bytes(plan, labels),
                "the fine-tuned teacher",
                "free disk space or choose another cache_dir",
            )
        )
    if plan.uses_teacher_cache():
        key = f"{plan.student_source}: teacher_cache.dir"
        rows = len(splits.train) * (1 + plan.augment[0].n_iter if plan.augment is not None else 1)
        rows += transfer_rows
        locations.append(
            Location(
                plan.teacher_outputs_dir(),
                key,
                rows * labels * 4,
                "the teacher's logits on the training split",
                "set teacher_cache.dir to another folder, or teacher_cache.mode: off",
            )
        )
    if plan.augment is not None:
        locations.append(
            Location(
                Path(t_cfg.cache_dir) / "augmented",
                cache_key,
                0,
                "the augmented training split",
                "choose another cache_dir (the augmented split is cached there)",
            )
        )
    return locations

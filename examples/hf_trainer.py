"""Distill with Hugging Face's Trainer: ``distill.DistillationTrainer`` adds the teacher and
distill-kit's objectives; the rest (arguments, logging, saving) is the Trainer's.

    pip install "distill-kit[trainer]"             # accelerate, the Trainer's requirement
    python examples/hf_trainer.py TEACHER_DIR OUT_DIR
"""

from __future__ import annotations

import sys

import datasets
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

from distill import DistillationTrainer
from students.tinybert import build_tinybert

OBJECTIVES = {"hidden": {}, "pred": {"temperature": 2.0}, "ce": {"weight": 0.5}}


def train(
    teacher, tokenizer, texts: list[str], labels: list[int], out: str, steps: int = 20
) -> DistillationTrainer:
    student = build_tinybert(
        {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "intermediate_size": 128},
        teacher.config,
        [teacher.config.id2label[i] for i in range(teacher.config.num_labels)],
    )
    data = datasets.Dataset.from_dict({"text": texts, "label": labels}).map(
        lambda rows: tokenizer(rows["text"], truncation=True, max_length=64), batched=True
    )
    args = TrainingArguments(
        out,
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        logging_steps=5,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
    )
    trainer = DistillationTrainer(
        model=student,
        teacher=teacher,
        objectives=OBJECTIVES,  # a student.yaml stage's mapping
        args=args,
        train_dataset=data.remove_columns(["text"]),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(out)  # the student, loadable with from_pretrained
    return trainer


def main() -> None:
    teacher = AutoModelForSequenceClassification.from_pretrained(sys.argv[1])
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    texts = ["what a great flight", "the worst delay ever", "lovely crew, thank you", "lost my bag again"] * 8
    trainer = train(teacher, tokenizer, texts, [1, 0, 1, 0] * 8, sys.argv[2])
    print([(h["step"], round(h["loss"], 4)) for h in trainer.state.log_history if "loss" in h])


if __name__ == "__main__":
    main()

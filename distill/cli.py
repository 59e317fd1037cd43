"""The ``distill`` command line: ``run``, ``general``, ``validate``, ``compress``, ``export``, ``bench``, ``pipeline``.

User errors (bad config, bad data, unusable teacher) print one line on stderr and exit with code 2;
a finished run whose student is below student.yaml's ``fail_below`` exits with code 3;
Ctrl-C exits with 130 and SIGTERM with 143 (training saves a checkpoint first). Anything else is a
bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
import transformers

from distill.core.errors import DistillError, StudentBelowBar
from distill.core.interrupt import Interrupted


def _resume_mode(args: argparse.Namespace) -> str:
    return "require" if args.resume else "fresh" if args.fresh else "auto"


def _add_resume_flags(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--resume",
        action="store_true",
        help="continue from the output folder's newest checkpoint "
        "(an error when there is none; without a flag, a compatible checkpoint is resumed anyway)",
    )
    group.add_argument(
        "--fresh", action="store_true", help="discard the output folder's checkpoints and start over"
    )


def _run(args: argparse.Namespace) -> int:
    from distill.distillation.run import run
    from distill.distillation.summary import summary_table

    if args.push_to_hub:  # refused before any training
        from distill.distillation.hub import check_repo_id

        check_repo_id(args.push_to_hub)
    try:
        metrics = run(args.teacher, args.student, args.output_dir, resume=_resume_mode(args))
    except StudentBelowBar as e:  # finished and saved, but below fail_below: the summary, then the one line
        print(summary_table(e.metrics))
        raise
    if not metrics:  # a rank other than 0 of a torchrun launch: rank 0 reports
        return 0
    print(summary_table(metrics))
    print(
        f"student saved to {metrics['student_path']} (model card README.md, metrics.json, run.log, config.resolved.yaml beside it)"
    )
    if args.push_to_hub:
        from distill.distillation.hub import push_to_hub

        print(f"pushed to {push_to_hub(Path(metrics['student_path']), args.push_to_hub, args.private)}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from distill.distillation.lengths import lengths_line, report_lengths
    from distill.distillation.preflight import preflight

    # The checks `distill run` makes before it trains, through the same function; writes nothing.
    checked = preflight(args.teacher, args.student, args.output_dir, resume=_resume_mode(args))
    plan, splits = checked.plan, checked.splits
    report_lengths(checked.facts["lengths"], args.teacher, log_summary=False)  # the warning run would give
    by_importance = plan.student_cfg.layer_map == "importance"
    layers = "importance (chosen when the teacher runs)" if by_importance else plan.layer_map
    shape = plan.family.describe(plan.student_cfg.architecture, plan.shape, layers)
    labels = (
        f"regression of {splits.label_names[0]}"
        if splits.task == "regression"
        else f"labels {', '.join(splits.label_names)}"
    )
    print(
        f"ok: {args.teacher} + {args.student}: student {shape}, stages: {', '.join(s.name for s in plan.student_cfg.stages)}; "
        f"data: train {len(splits.train)}, dev {len(splits.dev)}, test {len(splits.test)}, {labels}"
    )
    if checked.transfer is not None:
        print(checked.transfer.line())
    print(lengths_line(checked.facts["lengths"]))
    if checked.facts["step_budget"]:
        logging.getLogger("distill").warning(checked.facts["step_budget"])
    return 0


def _general(args: argparse.Namespace) -> int:
    from distill.distillation.general import general_distill

    out = args.output_dir or f"outputs/general-{Path(args.student).stem}"
    r = general_distill(
        args.teacher,
        args.student,
        args.corpus,
        out,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        resume=_resume_mode(args),
    )
    if not r:  # a rank other than 0 of a torchrun launch
        return 0
    print(
        f"general distillation: {r['steps']} steps on {r['texts']} texts, intermediate loss "
        f"{r['probe_loss_before']:.4f} -> {r['probe_loss_after']:.4f}; start task distillation with init: general:{out}"
    )
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from distill.pipeline import load_recipe, run_pipeline

    recipe = load_recipe(args.recipe, args.set)
    if args.output:
        recipe.output = Path(args.output)
    run_pipeline(recipe, dry_run=args.dry_run)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distill", description="Distill a fine-tuned teacher into a small student."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="task distillation: teacher.yaml + student.yaml -> outputs/<name>/")
    p.add_argument("teacher", help="teacher.yaml: model, data, fine-tuning")
    p.add_argument("student", help="student.yaml: architecture, init, objectives, stages")
    p.add_argument("--output-dir", default=None, help="default: student.yaml output_dir, else outputs/<name>")
    p.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        default=None,
        help="upload the finished student (weights, tokenizer, model card, metrics.json) to this Hugging Face Hub repo",
    )
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    _add_resume_flags(p)
    p.set_defaults(func=_run)

    p = sub.add_parser(
        "general", help="general distillation (TinyBERT stage 1) of a pre-trained encoder on unlabeled text"
    )
    p.add_argument("teacher", help="teacher.yaml: its `model` is the pre-trained (not fine-tuned) encoder")
    p.add_argument(
        "student",
        help="student.yaml: architecture, layer_map, init (first stage's objectives if intermediate)",
    )
    p.add_argument(
        "--corpus",
        required=True,
        help="unlabeled texts: .txt (one per line) or .jsonl (`text` field); streamed",
    )
    p.add_argument("--output-dir", default=None, help="default: outputs/general-<student.yaml stem>")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None, help="default: teacher.yaml max_length")
    _add_resume_flags(p)
    p.set_defaults(func=_general)

    p = sub.add_parser(
        "validate",
        help="check what `distill run` checks before training (configs, the teacher's "
        "config.json, data, device, the folders it writes), without loading weights or writing anything",
    )
    p.add_argument("teacher")
    p.add_argument("student")
    p.add_argument(
        "--output-dir", default=None, help="the output folder `distill run` would get (default as run's)"
    )
    _add_resume_flags(p)
    p.set_defaults(func=_validate)

    from distill.compress.cli import add_subcommands

    add_subcommands(sub)  # compress, export, bench

    p = sub.add_parser("pipeline", help="run a recipe's steps in order, skipping those already finished")
    p.add_argument(
        "recipe",
        help="recipe.yaml: teacher.yaml + steps (data, teacher, augment, general, distill, compress, export, bench)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan (step, kind, key, run|skip, reason) and stop"
    )
    p.add_argument(
        "--output",
        default=None,
        help="output folder (default: the recipe's `output`, else outputs/pipelines/<name>)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STEP.KEY=VALUE",
        help="override a step option (VALUE is YAML), e.g. --set data.max_train_examples=500; repeatable",
    )
    p.set_defaults(func=_pipeline)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(  # other libraries' INFO (onnxruntime's quantizer: a line per tensor) only with -v
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("distill").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    # Our own progress bars and log lines say what happens; transformers' load reports do not help here.
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except StudentBelowBar as e:  # the run finished (student saved), below student.yaml's fail_below
        print(f"error: {e}", file=sys.stderr)
        return 3
    except DistillError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:  # a checkpoint was saved: 130 for Ctrl-C, 143 for SIGTERM
        print(f"{e.word}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

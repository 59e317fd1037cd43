"""The ``distill`` command line: ``run``, ``validate``, ``compress``, ``export``, ``bench`` (``distill --help``).

User errors (bad config, bad data, unusable teacher) print one line on stderr and exit with code 2;
Ctrl-C exits with 130. Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

import torch
import transformers

from distill.errors import DistillError


def _run(args: argparse.Namespace) -> int:
    from distill.run import run, summary_table

    metrics = run(args.teacher, args.student, args.output_dir)
    print(summary_table(metrics))
    print(f"student saved to {metrics['student_path']} (metrics.json, run.log, config.resolved.yaml beside it)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from distill.run import Plan

    plan = Plan(args.teacher, args.student)
    sizes = plan.sizes
    print(
        f"ok: {args.teacher} + {args.student}: student {sizes['num_layers']} layers x {sizes['hidden_size']} "
        f"({sizes['num_heads']} heads, FFN {sizes['intermediate_size']}), layer map {plan.layer_map}, "
        f"stages: {', '.join(s.name for s in plan.student_cfg.stages)}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill", description="Distill a fine-tuned teacher into a small student.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="task distillation: teacher.yaml + student.yaml -> outputs/<name>/")
    p.add_argument("teacher", help="teacher.yaml: model, data, fine-tuning")
    p.add_argument("student", help="student.yaml: architecture, init, objectives, stages")
    p.add_argument("--output-dir", default=None, help="default: student.yaml output_dir, else outputs/<name>")
    p.set_defaults(func=_run)

    p = sub.add_parser("validate", help="check both configs (and the teacher's config.json) without training")
    p.add_argument("teacher")
    p.add_argument("student")
    p.set_defaults(func=_validate)

    from distill.compress.cli import add_subcommands

    add_subcommands(sub)  # compress, export, bench
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr
    )
    logging.getLogger("distill").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    # Our own progress bars and log lines say what happens; transformers' load reports do not help here.
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except DistillError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

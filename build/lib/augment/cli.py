"""``augment``: data augmentation for distillation (Tang et al. 2019; TinyBERT, Jiao et al. 2020).

    augment run augment.yaml --input train.tsv --output train_aug.tsv [--workers N] [--seed S]
    augment text augment.yaml "the flight was late" [-n 5] [--corpus train.tsv]

User errors (bad config, bad data) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from distill.errors import DistillError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="augment", description="Augment a text-classification dataset.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="augment a CSV/TSV/GLUE/JSONL file")
    run.add_argument("config", help="augment.yaml")
    run.add_argument("--input", required=True, help="input file (never overwritten)")
    run.add_argument("--output", required=True, help="output file (written atomically)")
    run.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    run.add_argument("--seed", type=int, default=None, help="overrides `seed:` of the config")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar with sentences/s (default: when stderr is a terminal)")
    text = sub.add_parser("text", help="print the augmentations of one sentence")
    text.add_argument("config", help="augment.yaml")
    text.add_argument("sentence")
    text.add_argument("-n", type=int, default=None, help="copies (overrides n_iter)")
    text.add_argument("--seed", type=int, default=None)
    text.add_argument("--corpus", default=None,
                      help="file to fit POS/neighbour tables on (default: the sentence itself)")
    return p


def _run(args: argparse.Namespace) -> int:
    from augment.config import build_pipeline, load_config
    from augment.runner import run_file

    if args.workers < 1:
        raise DistillError(f"--workers: expected an integer >= 1, got {args.workers}")
    cfg, strategies = load_config(args.config)
    pipeline = build_pipeline(cfg, strategies, source=args.config)
    stats = run_file(pipeline, cfg, args.input, args.output, workers=args.workers, seed=args.seed,
                     progress=args.progress)
    print(f"augment: {stats.rows_in} rows -> {stats.rows_out} rows in {args.output} "
          f"({stats.seconds:.1f} s, {stats.sentences_per_s:,.0f} sentences/s)", file=sys.stderr)
    return 0


def _text(args: argparse.Namespace) -> int:
    from augment.base import tokenize
    from augment.config import build_pipeline, load_config
    from augment.runner import observe_corpus

    cfg, strategies = load_config(args.config)
    if args.n is not None:
        if args.n < 1:
            raise DistillError(f"-n: expected an integer >= 1, got {args.n}")
        cfg.n_iter = args.n
    pipeline = build_pipeline(cfg, strategies, source=args.config)
    if args.corpus:
        observe_corpus(pipeline, cfg, args.corpus)
    else:
        pipeline.observe([tokenize(args.sentence)])
        pipeline.fit()
    seed = cfg.seed if args.seed is None else args.seed
    for line in pipeline.augment_batch([args.sentence], seed)[0]:
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``augment`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="augment: %(message)s")
    try:
        return _run(args) if args.command == "run" else _text(args)
    except DistillError as e:
        print(f"augment: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

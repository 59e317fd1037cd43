"""``augment``: data augmentation for distillation (Tang et al. 2019; TinyBERT, Jiao et al. 2020).

    augment run augment.yaml --input train.tsv --output train_aug.tsv [--workers N] [--seed S]
                [--text-column C] [--pair-column P]
    augment text augment.yaml "the flight was late" [-n 5] [--corpus train.tsv] [--text-column C]

User errors (bad config, bad data, an output that cannot be written or would be too big) print one
line on stderr and exit with code 2, before any work. Ctrl-C (SIGINT) and SIGTERM stop the run,
leave no temporary or output file and exit with 130 and 143 (:mod:`augment.signals`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from augment.signals import EXIT_CODES, Terminated, stop_on_sigterm
from distill.core.errors import DistillError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="augment", description="Augment a text-classification dataset.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="augment a CSV/TSV/GLUE/JSONL file")
    run.add_argument("config", help="augment.yaml")
    run.add_argument("--input", required=True, help="input file (never overwritten)")
    run.add_argument("--output", required=True, help="output file (written atomically)")
    run.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    run.add_argument("--seed", type=int, default=None, help="overrides `seed:` of the config")
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar with sentences/s (default: when stderr is a terminal)",
    )
    run.add_argument(
        "--text-column", default=None, help="the text column (overrides the first of `text_columns:`)"
    )
    run.add_argument(
        "--pair-column",
        default=None,
        help="the second text of a sentence pair (overrides or adds the second of `text_columns:`)",
    )
    text = sub.add_parser("text", help="print the augmentations of one sentence")
    text.add_argument("config", help="augment.yaml")
    text.add_argument("sentence")
    text.add_argument("-n", type=int, default=None, help="copies (overrides n_iter)")
    text.add_argument("--seed", type=int, default=None)
    text.add_argument(
        "--corpus", default=None, help="file to fit POS/neighbour tables on (default: the sentence itself)"
    )
    text.add_argument(
        "--text-column", default=None, help="the --corpus file's text column (overrides `text_columns:`)"
    )
    return p


def _columns(cfg, args: argparse.Namespace) -> None:
    """Apply ``--text-column`` / ``--pair-column`` to ``cfg.text_columns``."""
    cols = list(cfg.text_columns)
    if args.text_column is not None:
        cols[0] = args.text_column
    if getattr(args, "pair_column", None) is not None:
        cols[1:] = [args.pair_column]
    if len(cols) > 1 and cols[0] == cols[1]:
        raise DistillError(
            f"--text-column and --pair-column: two different columns are needed, got {cols[0]!r} twice"
        )
    cfg.text_columns = cols


def _run(args: argparse.Namespace) -> int:
    from augment import config
    from augment.runner import prepare_run, run_file

    if args.workers < 1:
        raise DistillError(f"--workers: expected an integer >= 1, got {args.workers}")
    cfg, strategies = config.load_config(args.config)
    _columns(cfg, args)
    plan = prepare_run(cfg, args.input, args.output, args.config)  # before loading models or tables
    pipeline = config.build_pipeline(cfg, strategies, source=args.config)
    stats = run_file(
        pipeline,
        cfg,
        args.input,
        args.output,
        plan=plan,
        source=args.config,
        workers=args.workers,
        seed=args.seed,
        progress=args.progress,
    )
    print(
        f"augment: {stats.rows_in} rows -> {stats.rows_out} rows in {args.output} "
        f"({stats.seconds:.1f} s, {stats.sentences_per_s:,.0f} sentences/s)",
        file=sys.stderr,
    )
    return 0


def _text(args: argparse.Namespace) -> int:
    from augment import config
    from augment.base import tokenize
    from augment.bounds import check_size
    from augment.runner import observe_corpus

    cfg, strategies = config.load_config(args.config)
    _columns(cfg, args)
    if args.n is not None:
        if args.n < 1:
            raise DistillError(f"-n: expected an integer >= 1, got {args.n}")
        cfg.n_iter = args.n
    check_size(1, cfg, args.config)  # one sentence: its n_iter copies are built at once
    pipeline = config.build_pipeline(cfg, strategies, source=args.config)
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
        with stop_on_sigterm():
            return _run(args) if args.command == "run" else _text(args)
    except DistillError as e:
        print(f"augment: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as e:
        signum = signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT
        done = f"nothing written to {args.output}" if args.command == "run" else "stopped"
        print(f"augment: interrupted ({signum.name}); {done}", file=sys.stderr)
        return EXIT_CODES[signum]


if __name__ == "__main__":
    sys.exit(main())

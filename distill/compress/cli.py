"""`distill compress`, `distill export` and `distill bench`: argparse subcommands.

The handlers only turn the flags into a call of :mod:`distill.compress.api` (where every check,
default and error lives) and print its result. ``add_subcommands`` is called by distill/cli.py;
``main`` runs them alone: ``python -m distill.compress.cli bench bench.yaml``.
"""

from __future__ import annotations

import argparse
import json
import sys

from distill.compress.api import (
    DataFile,
    benchmark,
    compress_model,
    export_hints,
    export_model,
    progress_to_stderr,
)
from distill.compress.kinds import INT8_EXPORTS
from distill.core.errors import DistillError


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the error into one usage line and exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _add_data_args(p: argparse.ArgumentParser, prefix: str, what: str, pairs: bool = True) -> None:
    p.add_argument(f"--{prefix}-data", help=f"csv/tsv/jsonl file of {what}")
    p.add_argument(f"--{prefix}-text-column", default="text")
    if pairs:
        p.add_argument(f"--{prefix}-text-pair-column", default=None, help="second text of sentence pairs")
    p.add_argument(f"--{prefix}-label-column", default="label")
    p.add_argument(
        f"--{prefix}-format", default=None, help="csv, tsv, glue or jsonl (default: from extension)"
    )
    p.add_argument(f"--{prefix}-encoding", default="utf-8")
    p.add_argument(f"--{prefix}-limit", type=_positive_int, default=1000, help="rows read (default 1000)")


def _data(args: argparse.Namespace, prefix: str) -> DataFile | None:
    """The ``--<prefix>-*`` flags as a :class:`DataFile` (None without ``--<prefix>-data``)."""
    path = getattr(args, f"{prefix}_data")
    if not path:
        return None
    return DataFile(
        path,
        getattr(args, f"{prefix}_text_column"),
        getattr(args, f"{prefix}_text_pair_column", None),
        getattr(args, f"{prefix}_label_column"),
        getattr(args, f"{prefix}_format"),
        getattr(args, f"{prefix}_encoding"),
        getattr(args, f"{prefix}_limit"),
    )


def cmd_compress(args: argparse.Namespace) -> int:
    summary = compress_model(
        args.model,
        args.out,
        prune_heads=args.prune_heads,
        prune_ffn=args.prune_ffn,
        importance=args.importance,
        recover_epochs=args.recover_epochs,
        recover_lr=args.recover_lr,
        recover_objectives=args.recover_objectives,
        max_len=args.max_len,
        train_data=_data(args, "train"),
    )
    print(json.dumps(summary))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    res = export_model(
        args.model,
        args.out,
        opset=args.opset,
        optimize=not args.no_optimize,
        int8=args.int8,
        min_agreement=args.min_agreement,
        min_agreement_int8=args.min_agreement_int8,
        max_len=args.max_len,
        verify_data=_data(args, "verify"),
        calibration_data=_data(args, "calibration"),
    )
    from distill.core.metrics import METRIC_NAMES

    for name, rep in res.items():
        metric = "acc" if rep["metric"] == "accuracy" else METRIC_NAMES[rep["metric"]]
        acc = "" if rep["score_delta"] is None else f", Δ{metric} {100 * rep['score_delta']:+.2f} pt"
        print(
            f"{name}: agreement {rep['agreement']:.2%} on {rep['n']}, max |Δlogit| {rep['max_abs_logit_diff']:.3g}{acc}"
        )
    for line in export_hints(args.model):
        print(line)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    done = benchmark(
        args.config,
        models=args.model,
        teacher=args.teacher,
        shapes=args.shape,
        eval_data=_data(args, "eval"),
        eval_teacher=args.eval_teacher,
        eval_split=args.eval_split,
        eval_limit=args.eval_limit,
        kinds=args.kinds,
        devices=args.devices,
        batch_sizes=args.batch_sizes,
        seq_lens=args.seq_lens,
        warmup=args.warmup,
        reps=args.reps,
        max_seconds=args.max_seconds,
        threads=args.threads,
        max_accuracy_drop=args.max_accuracy_drop,
        out=args.out,
        progress=progress_to_stderr,
    )
    from distill.compress.recommend import summary_line

    for rec in done.result.get("recommended", []):
        print(summary_line(rec))
    print(f"wrote {done.out}/report.md, report.json, pareto.png")
    return 0


def add_subcommands(subparsers) -> None:
    """Register compress, export and bench on the `distill` CLI's subparsers."""
    p = subparsers.add_parser("compress", help="prune a saved BERT classifier (heads, FFN) and save it")
    p.add_argument("model", help="folder saved with save_pretrained (model + tokenizer)")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--prune-heads", type=float, default=0.0, help="fraction of heads removed per layer")
    p.add_argument("--prune-ffn", type=float, default=0.0, help="fraction of FFN neurons removed per layer")
    p.add_argument("--importance", choices=["magnitude", "taylor"], default="magnitude")
    p.add_argument(
        "--recover-epochs",
        type=int,
        default=0,
        help="epochs of distillation from the unpruned model on --train-data",
    )
    p.add_argument("--recover-lr", type=float, default=5e-5)
    p.add_argument(
        "--recover-objectives",
        metavar="SPEC",
        help="objectives of the recovery, as in a student.yaml stage: YAML text or a YAML file "
        "(default: '{kd_kl: {temperature: 2}}')",
    )
    p.add_argument("--max-len", type=_positive_int, default=128)
    _add_data_args(p, "train", "training texts with labels (Taylor importance, recovery, verification)")
    p.set_defaults(func=cmd_compress)

    p = subparsers.add_parser(
        "export", help="export to ONNX (+ fused graph, + INT8) and verify against PyTorch"
    )
    p.add_argument("model", help="a saved BERT or MPNet classifier folder, or a BiLSTM student's")
    p.add_argument("--out", required=True)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-optimize", action="store_true", help="skip ORT's BERT optimiser (model.opt.onnx)")
    p.add_argument("--int8", choices=INT8_EXPORTS, default=None)
    p.add_argument("--min-agreement", type=float, default=0.99, help="FP32 graphs (default 0.99)")
    p.add_argument("--min-agreement-int8", type=float, default=0.97, help="INT8 graph (default 0.97)")
    _add_data_args(p, "verify", "texts (and labels) to verify on")
    _add_data_args(p, "calibration", "training texts for static INT8 calibration")
    p.add_argument(
        "--max-len",
        type=_positive_int,
        default=None,
        help="token length of verification and calibration inputs (default: the max_length of the "
        "distill run that saved the model, from its config.resolved.yaml, else 128)",
    )
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser(
        "bench", help="speed/accuracy benchmark of variants -> report.md/json, pareto.png"
    )
    p.add_argument("config", nargs="?", help="bench.yaml (flags below override its keys)")
    p.add_argument(
        "--model", nargs="+", action="extend", help="model folders (first one is the FP32 student reference)"
    )
    p.add_argument(
        "--teacher",
        metavar="DIR",
        help="a saved classifier folder measured as the teacher: the reference of the vs-teacher columns",
    )
    p.add_argument("--shape", nargs="+", help="paper shapes with random weights (speed only)")
    p.add_argument("--kinds", nargs="+")
    p.add_argument("--devices", nargs="+")
    p.add_argument("--batch-sizes", nargs="+", type=int)
    p.add_argument("--seq-lens", nargs="+", type=int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--reps", type=int)
    p.add_argument("--max-seconds", type=float)
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--max-accuracy-drop",
        type=float,
        help="accuracy points a recommended kind may lose against the source's torch-fp32 (default 0.3)",
    )
    p.add_argument("--out")
    _add_data_args(p, "eval", "the eval split (text + label)")
    p.add_argument(
        "--eval-teacher",
        help="evaluate on a split of this teacher.yaml's data instead of --eval-data, "
        "at its max_length (as distill run did)",
    )
    p.add_argument("--eval-split", choices=["train", "dev", "test"], default="dev")
    p.set_defaults(func=cmd_bench)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="distill")
    add_subcommands(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except DistillError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

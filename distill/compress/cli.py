"""`distill compress`, `distill export` and `distill bench`: argparse subcommands and handlers.

``add_subcommands`` is called by distill/cli.py; ``main`` runs them alone:
``python -m distill.compress.cli bench bench.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import yaml

from distill.compress.kinds import INT8_EXPORTS
from distill.errors import ConfigError, DistillError
from distill.schema import load_yaml


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
    p.add_argument(f"--{prefix}-format", default=None, help="csv, tsv, glue or jsonl (default: from extension)")
    p.add_argument(f"--{prefix}-encoding", default="utf-8")
    p.add_argument(f"--{prefix}-limit", type=_positive_int, default=1000, help="rows read (default 1000)")


def _read(args: argparse.Namespace, prefix: str, labels: bool, label2id: dict | None = None):
    from distill.compress.evalset import read_eval_set

    path = getattr(args, f"{prefix}_data")
    if not path:
        return None
    return read_eval_set(
        path, getattr(args, f"{prefix}_text_column"), getattr(args, f"{prefix}_label_column") if labels else None,
        getattr(args, f"{prefix}_text_pair_column", None),
        fmt=getattr(args, f"{prefix}_format"), encoding=getattr(args, f"{prefix}_encoding"),
        limit=getattr(args, f"{prefix}_limit"), label2id=label2id,
    )


def _quiet() -> None:
    """Keep stderr for our one-line errors: no HF loading bars or warnings."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _label2id(model_dir: str) -> dict | None:
    from distill.compress.models import label2id

    return label2id(json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")))


def _recover_objectives(args: argparse.Namespace) -> tuple[dict | None, str]:
    """``--recover-objectives``: YAML text or a YAML file, validated like a student.yaml stage's
    objectives; (None, ...) when not given (the default objectives). Also: where it came from."""
    from distill.objectives.spec import parse_objectives

    spec = args.recover_objectives
    if spec is None:
        return None, "recover objectives"
    if not args.recover_epochs:
        raise ConfigError("--recover-objectives needs --recover-epochs N (N >= 1): without recovery it would do nothing")
    if Path(spec).is_file():
        raw, where = load_yaml(spec), spec
    else:
        where = "--recover-objectives"
        try:
            raw = yaml.safe_load(spec)
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
            raise ConfigError(f"{where}: no such file, and not valid YAML text: {problem}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: {spec!r} is neither a YAML file nor a mapping of objective name -> "
                              "parameters, e.g. '{kd_kl: {temperature: 2}, hidden: {weight: 1}}'")
    parse_objectives(raw, where)
    return raw, where


def cmd_compress(args: argparse.Namespace) -> int:
    import copy

    import torch

    from distill.atomic import atomic_dir
    from distill.compress.evalset import encode_batches
    from distill.compress.export import torch_predict, verify
    from distill.compress.models import (
        BERT_TYPES,
        as_logits_module,
        check_model_dir,
        count_parameters,
        input_names,
        load_classifier,
    )
    from distill.compress.prune import prune
    from distill.compress.recover import recover

    _quiet()
    # Objectives are checked before anything loads: a typo costs no pruning.
    objectives, where = _recover_objectives(args)
    mt = check_model_dir(args.model)["model_type"]
    if mt not in BERT_TYPES:
        raise ConfigError(f"{args.model}: model_type {mt}: distill compress (pruning) supports BERT-family models only "
                          f"({', '.join(BERT_TYPES)}); export and benchmark it with distill export / distill bench")  # fmt: skip
    model, tok = load_classifier(args.model)
    original = copy.deepcopy(model)
    data = _read(args, "train", labels=True, label2id=_label2id(args.model))
    taylor = None
    batches = []
    names = input_names(as_logits_module(model, tok))  # what the tokenizer produces: token types too
    if data is not None:
        for arrays in encode_batches(tok, data.texts, data.pairs, args.max_len, 16, "token_type_ids" in names):
            batches.append({n: torch.from_numpy(a) for n, a in zip(names, arrays, strict=True)})
        if data.labels is not None:
            for i, b in enumerate(batches):
                b["labels"] = torch.tensor(data.labels[i * 16 : i * 16 + len(b["input_ids"])])
            taylor = batches[0]
    before = count_parameters(model)
    prune(model, head_ratio=args.prune_heads, ffn_ratio=args.prune_ffn, importance=args.importance, taylor_batch=taylor)
    recovery = None
    if args.recover_epochs:
        if not batches:
            raise ConfigError("--recover-epochs needs --train-data (training texts to distil on)")
        recovery = recover(model, original, batches, objectives, epochs=args.recover_epochs, lr=args.recover_lr,
                           source=where)
    summary = {"params_before": before, "params_after": count_parameters(model),
               "num_attention_heads": model.config.num_attention_heads, "hidden_size": model.config.hidden_size,
               "intermediate_size": model.config.intermediate_size,
               "recovery": None if recovery is None else dataclasses.asdict(recovery)}
    if data is not None:
        inputs = [tuple(b[n].numpy() for n in names) for b in batches]
        summary["verify"] = verify(torch_predict(as_logits_module(original, tok)),
                                   torch_predict(as_logits_module(model, tok)), inputs, data.labels)
    with atomic_dir(args.out) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        for extra in Path(args.model).glob("*.yaml"):  # the run's config: how the model was trained and evaluated
            shutil.copy(extra, tmp / extra.name)  # (export and bench read its max_length and pair column)
        (tmp / "compress.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from distill.compress.export import export_onnx
    from distill.compress.models import check_model_dir

    _quiet()
    check_model_dir(args.model)
    if args.int8 == "static" and not args.calibration_data:
        raise ConfigError("--int8 static needs --calibration-data (training texts to calibrate on)")
    ver = _read(args, "verify", labels=True, label2id=_label2id(args.model))
    cal = _read(args, "calibration", labels=False)
    res = export_onnx(
        args.model, args.out, opset=args.opset, optimize=not args.no_optimize, int8=args.int8,
        calibration_texts=cal.texts if cal else None, verify_texts=ver.texts if ver else None,
        verify_pairs=ver.pairs if ver else None, verify_labels=ver.labels if ver else None, min_agreement=args.min_agreement,
        min_agreement_int8=args.min_agreement_int8, max_len=args.max_len, calibration_pairs=cal.pairs if cal else None,
    )
    for name, rep in res.items():
        acc = "" if rep["accuracy_delta"] is None else f", Δacc {100 * rep['accuracy_delta']:+.2f} pt"
        print(f"{name}: agreement {rep['agreement']:.2%} on {rep['n']}, max |Δlogit| {rep['max_abs_logit_diff']:.3g}{acc}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from distill.compress.bench import run_benchmark
    from distill.compress.benchconfig import parse_bench_config
    from distill.compress.evalset import read_eval_set, teacher_split
    from distill.compress.report import write_report
    from distill.compress.variants import Source

    _quiet()
    if args.config:
        raw, where = load_yaml(args.config), args.config
        if args.teacher and isinstance(raw, dict) and isinstance(raw.get("sources"), list):
            if any(isinstance(s, dict) and s.get("role") == "teacher" for s in raw["sources"]):
                raise ConfigError(f"--teacher {args.teacher}: {args.config} already has a source with role: teacher")
            raw = {**raw, "sources": [dict(s) if isinstance(s, dict) else s for s in raw["sources"]]}
            _mark_teacher(raw["sources"], args.teacher)
            where = f"{args.config} (with --teacher)"
    else:
        sources = [{"name": Path(p).name, "path": p, "role": "student" if i == 0 else "other"}
                   for i, p in enumerate(args.model or [])]
        sources += [{"name": s, "shape": s} for s in args.shape or []]
        raw, where = {"sources": sources}, "bench flags"
        if args.teacher:
            _mark_teacher(sources, args.teacher)
        if args.eval_teacher:
            raw["eval"] = {"teacher": args.eval_teacher, "split": args.eval_split, "limit": args.eval_limit}
        elif args.eval_data:
            raw["eval"] = {"path": args.eval_data, "text_column": args.eval_text_column,
                           "text_pair_column": args.eval_text_pair_column,
                           "label_column": args.eval_label_column, "format": args.eval_format,
                           "encoding": args.eval_encoding, "limit": args.eval_limit}
    # Flags override the file's keys before validation, so a bad flag value gets the same check.
    overrides = {key: getattr(args, key) for key in ("kinds", "devices", "batch_sizes", "seq_lens", "warmup", "reps",
                                                     "max_seconds", "threads", "out") if getattr(args, key) is not None}
    if args.config and overrides:
        where = f"{args.config} (with --{' --'.join(k.replace('_', '-') for k in overrides)})"
    cfg = parse_bench_config({**raw, **overrides}, where)
    sources = [Source(s.name, s.path, s.shape, s.role) for s in cfg.sources]
    l2i = _one_label_order(sources, where)
    ev = cal = None
    if cfg.eval:
        e = cfg.eval
        ev = (teacher_split(e.teacher, e.split, e.limit, l2i) if e.teacher else
              read_eval_set(e.path, e.text_column, e.label_column, e.text_pair_column, e.format, e.encoding, e.limit, l2i))
    if cfg.calibration:
        c = cfg.calibration
        cal = (teacher_split(c.teacher, c.split, c.limit, None) if c.teacher else
               read_eval_set(c.path, c.text_column, None, c.text_pair_column, c.format, c.encoding, c.limit))
    result = run_benchmark(sources, cfg.kinds, cfg.settings(), ev, cal.texts if cal else None,
                           progress=lambda m: print(m, file=sys.stderr, flush=True),
                           calibration_pairs=cal.pairs if cal else None)
    write_report(result, cfg.out)
    print(f"wrote {cfg.out}/report.md, report.json, pareto.png")
    return 0


def _one_label_order(sources, where: str) -> dict | None:
    """The label name -> id every saved source shares: one eval label column is scored against all
    of them, so a teacher whose ids name other classes (or in another order) would get a wrong
    accuracy. Refused before anything loads."""
    maps = [(s, _label2id(s.path)) for s in sources if s.path]
    maps = [(s, m) for s, m in maps if m]
    for s, m in maps[1:]:
        if m != maps[0][1]:
            first, ref = maps[0]
            raise ConfigError(f"{where}: source {s.name!r} ({s.path}) labels its classes {sorted(m, key=m.get)}, but "
                              f"{first.name!r} labels them {sorted(ref, key=ref.get)}: one eval set cannot score both; "
                              "save the models with the same id2label (distill's teacher step aligns the teacher's)")  # fmt: skip
    return maps[0][1] if maps else None


def _mark_teacher(sources: list[dict], teacher: str) -> None:
    """``--teacher DIR``: the source at DIR (added when no --model names it) gets role teacher, the
    reference of the report's vs-teacher columns."""
    same = next((s for s in sources if isinstance(s, dict) and isinstance(s.get("path"), str)
                 and Path(s["path"]).resolve() == Path(teacher).resolve()), None)  # fmt: skip
    if same is not None:
        same["role"] = "teacher"
    else:
        sources.append({"name": Path(teacher).name, "path": teacher, "role": "teacher"})


def add_subcommands(subparsers) -> None:
    """Register compress, export and bench on the `distill` CLI's subparsers."""
    p = subparsers.add_parser("compress", help="prune a saved BERT classifier (heads, FFN) and save it")
    p.add_argument("model", help="folder saved with save_pretrained (model + tokenizer)")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--prune-heads", type=float, default=0.0, help="fraction of heads removed per layer")
    p.add_argument("--prune-ffn", type=float, default=0.0, help="fraction of FFN neurons removed per layer")
    p.add_argument("--importance", choices=["magnitude", "taylor"], default="magnitude")
    p.add_argument("--recover-epochs", type=int, default=0, help="epochs of distillation from the unpruned model on --train-data")
    p.add_argument("--recover-lr", type=float, default=5e-5)
    p.add_argument("--recover-objectives", metavar="SPEC",
                   help="objectives of the recovery, as in a student.yaml stage: YAML text or a YAML file "
                        "(default: '{kd_kl: {temperature: 2}}')")
    p.add_argument("--max-len", type=_positive_int, default=128)
    _add_data_args(p, "train", "training texts with labels (Taylor importance, recovery, verification)")
    p.set_defaults(func=cmd_compress)

    p = subparsers.add_parser("export", help="export to ONNX (+ fused graph, + INT8) and verify against PyTorch")
    p.add_argument("model", help="a saved BERT or MPNet classifier folder, or a BiLSTM student's")
    p.add_argument("--out", required=True)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-optimize", action="store_true", help="skip ORT's BERT optimiser (model.opt.onnx)")
    p.add_argument("--int8", choices=INT8_EXPORTS, default=None)
    p.add_argument("--min-agreement", type=float, default=0.99, help="FP32 graphs (default 0.99)")
    p.add_argument("--min-agreement-int8", type=float, default=0.97, help="INT8 graph (default 0.97)")
    _add_data_args(p, "verify", "texts (and labels) to verify on")
    _add_data_args(p, "calibration", "training texts for static INT8 calibration")
    p.add_argument("--max-len", type=_positive_int, default=None,
                   help="token length of verification and calibration inputs (default: the max_length of the "
                        "distill run that saved the model, from its config.resolved.yaml, else 128)")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("bench", help="speed/accuracy benchmark of variants -> report.md/json, pareto.png")
    p.add_argument("config", nargs="?", help="bench.yaml (flags below override its keys)")
    p.add_argument("--model", nargs="+", help="model folders (first one is the FP32 student reference)")
    p.add_argument("--teacher", metavar="DIR",
                   help="a saved classifier folder measured as the teacher: the reference of the vs-teacher columns")
    p.add_argument("--shape", nargs="+", help="paper shapes with random weights (speed only)")
    p.add_argument("--kinds", nargs="+")
    p.add_argument("--devices", nargs="+")
    p.add_argument("--batch-sizes", nargs="+", type=int)
    p.add_argument("--seq-lens", nargs="+", type=int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--reps", type=int)
    p.add_argument("--max-seconds", type=float)
    p.add_argument("--threads", type=int)
    p.add_argument("--out")
    _add_data_args(p, "eval", "the eval split (text + label)")
    p.add_argument("--eval-teacher", help="evaluate on a split of this teacher.yaml's data instead of --eval-data, "
                                          "at its max_length (as distill run did)")
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

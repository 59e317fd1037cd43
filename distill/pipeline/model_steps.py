"""The ``general``, ``distill``, ``compress``, ``export``, ``bench`` and ``deploy`` steps.

Each calls the library function behind the command of its name (``general_distill``, ``run``,
``compress_model``, ``export_model``, ``benchmark``: the work, checks and errors of ``distill
general``, ``distill run``, ``distill compress``, ``distill export``, ``distill bench``; no argv,
no parser) on its inputs' outputs, writing into the step's temporary folder. ``distill`` gets
derived configs, kept beside its result for reproducibility: ``teacher.yaml`` whose model is the
teacher step's ready classifier and whose data are the data (or augment) step's files, and
``student.yaml`` with ``init: general:<general step>`` when a general step is an input. ``deploy``
writes the model as the kind its bench step recommends on the machine it ran on
(:func:`distill.compress.deployment.deploy_kind`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from distill.compress.api import DataFile
from distill.core.errors import DataError, StudentBelowBar
from distill.core.metrics import PRIMARY
from distill.core.schema import load_yaml
from distill.pipeline.context import Done, Result, StepContext
from distill.pipeline.data_steps import LABEL, PAIR, TEXT, derived_teacher


def _data_file(path: Path, limit: int, pair: bool = False) -> DataFile:
    """A data step's exported .jsonl (text, label as its name, text_pair for pairs)."""
    return DataFile(str(path), TEXT, PAIR if pair else None, LABEL, "jsonl", "utf-8", limit)


def _max_length(ctx: StepContext) -> int:
    """teacher.yaml's max_length: the length `distill run` cut every split at, so export verifies,
    and bench evaluates, each model as it was evaluated."""
    from distill.config import TeacherConfig

    return ctx.teacher_raw.get("max_length") or TeacherConfig.model_fields["max_length"].default


def run_general(ctx: StepContext) -> Result:
    from distill.distillation.general import general_distill

    opts = ctx.step.options
    data = ctx.one("data")
    corpus = Path(opts.corpus) if opts.corpus else data.outputs["train"]  # .jsonl with a `text` field
    out = ctx.tmp / "model"
    r = general_distill(
        ctx.recipe.teacher,
        ctx.step.config,
        corpus,
        out,
        epochs=opts.epochs,
        lr=opts.lr,
        batch_size=opts.batch_size,
        max_length=opts.max_length,
    )
    return Result(
        {"model": out},
        {
            "steps": r["steps"],
            "texts": r["texts"],
            "probe_loss_before": r["probe_loss_before"],
            "probe_loss_after": r["probe_loss_after"],
        },
    )


def run_distill(ctx: StepContext) -> Result:
    from distill.distillation.run import run

    teacher, data, general = ctx.one("teacher"), ctx.one("data"), ctx.one("general")
    t_yaml, s_yaml = ctx.tmp / "teacher.yaml", ctx.tmp / "student.yaml"
    t_yaml.write_text(
        yaml.safe_dump(derived_teacher(ctx.teacher_raw, data, teacher.outputs["model"]), sort_keys=False)
    )
    student = load_yaml(ctx.step.config)
    student.pop("output_dir", None)
    if general is not None:
        student["init"] = f"general:{general.outputs['model']}"
    s_yaml.write_text(yaml.safe_dump(student, sort_keys=False))
    out = ctx.tmp / "model"
    try:
        metrics = run(t_yaml, s_yaml, out)
    except StudentBelowBar as e:
        raise _keep_below_bar(ctx, out, e) from None
    # metrics.json names the folder the student was written to; name the one it will be found in.
    metrics["student_path"] = str(ctx.final_path(out))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    s, t = metrics["student"], metrics["teacher"]
    metric = PRIMARY[metrics.get("task", "classification")]  # accuracy; a regression: pearson
    info = {
        "family": metrics["student_family"],
        "metric": metric,
        f"dev_{metric}": s["dev"][metric],
        f"test_{metric}": s["test"][metric],
        f"teacher_dev_{metric}": t["dev"][metric],
        "params": s["params"],
        "speedup_b1": s["speedup_b1"],
    }
    return Result({"model": out, "metrics": out / "metrics.json"}, info)


def _keep_below_bar(ctx: StepContext, out: Path, e: StudentBelowBar) -> StudentBelowBar:
    """The step's temporary folder goes when the step fails; the student below ``fail_below`` is
    moved beside it first (``<step folder>.below-bar``, replacing an older one) for inspection.
    The step is not marked done, so the next pipeline run trains it again."""
    kept = ctx.final.with_name(f"{ctx.final.name}.below-bar")
    shutil.rmtree(kept, ignore_errors=True)
    shutil.move(out, kept)
    e.metrics["student_path"] = str(kept)
    (kept / "metrics.json").write_text(json.dumps(e.metrics, indent=2))
    return StudentBelowBar(
        f"pipeline step {ctx.step.name}: {e.reason}; the student was kept in {kept} "
        "(metrics.json lists the warnings; the step is not marked done)",
        e.metrics,
        e.reason,
    )


def run_compress(ctx: StepContext) -> Result:
    from distill.compress.api import compress_model

    o, model, data = ctx.step.options, ctx.one("model"), ctx.one("data")
    out = ctx.tmp / "model"
    # pairs too: a pair model is scored, recovered and verified on real pairs
    train = (
        _data_file(data.outputs["train"], o.train_limit, pair=data.info["pair"]) if data is not None else None
    )
    compress_model(
        str(model.outputs["model"]),
        str(out),
        prune_heads=o.prune_heads,
        prune_ffn=o.prune_ffn,
        importance=o.importance,
        recover_epochs=o.recover_epochs,
        recover_lr=o.recover_lr,
        recover_objectives=o.recover_objectives,
        max_len=o.max_len,
        train_data=train,
    )
    return Result({"model": out}, json.loads((out / "compress.json").read_text()))


def run_export(ctx: StepContext) -> Result:
    from distill.compress.api import export_model

    o, model, data = ctx.step.options, ctx.one("model"), ctx.one("data")
    out = ctx.tmp / "onnx"
    verify = calibration = None
    if data is not None:  # pairs too: a pair model is verified on real pairs
        verify = _data_file(data.outputs["dev"], o.verify_limit, pair=data.info["pair"])
        if o.int8 == "static":
            calibration = _data_file(data.outputs["train"], o.calibration_limit, pair=data.info["pair"])
    export_model(
        str(model.outputs["model"]),
        str(out),
        opset=o.opset,
        optimize=o.optimize,
        int8=o.int8,
        min_agreement=o.min_agreement,
        min_agreement_int8=o.min_agreement_int8,
        max_len=_max_length(ctx),
        verify_data=verify,
        calibration_data=calibration,
    )
    return Result({"onnx": out}, json.loads((out / "verify.json").read_text()))


def _source(done: Done, role: str) -> dict:
    return {"name": done.name, "path": str(done.outputs["model"]), "role": role}


def run_bench(ctx: StepContext) -> Result:
    from distill.compress.api import benchmark, progress_to_stderr

    o, data = ctx.step.options, ctx.one("data")
    sources = [_source(ctx.one("student"), "student")]
    if ctx.one("teacher") is not None:
        sources.append(_source(ctx.one("teacher"), "teacher"))
    sources += [_source(d, "other") for d in ctx.inputs.get("models", [])]
    out = ctx.tmp / "report"
    cfg = {
        "sources": sources,
        **o.model_dump(exclude={"eval_split", "eval_limit", "calibration_limit"}),
        "eval_max_len": _max_length(ctx),
        "out": str(out),
    }
    if data is not None:  # pairs for a pair task: every model is fed both sentences, as in training
        pair = PAIR if data.info["pair"] else None
        cfg["eval"] = {
            "path": str(data.outputs[o.eval_split]),
            "text_column": TEXT,
            "text_pair_column": pair,
            "label_column": LABEL,
            "format": "jsonl",
            "limit": o.eval_limit,
        }
        cfg["calibration"] = {
            "path": str(data.outputs["train"]),
            "text_column": TEXT,
            "text_pair_column": pair,
            "label_column": None,
            "format": "jsonl",
            "limit": o.calibration_limit,
        }
    bench_yaml = ctx.tmp / "bench.yaml"
    bench_yaml.write_text(yaml.safe_dump(cfg, sort_keys=False))
    done = benchmark(str(bench_yaml), progress=progress_to_stderr)  # the file is kept: the step's bench.yaml
    return Result(
        {"report": out / "report.md", "report_json": out / "report.json"},
        # the fastest kind that keeps the accuracy bound on this machine (compress/recommend.py)
        {"sources": [s["name"] for s in sources], "recommended": done.result["recommended"]},
    )


def run_deploy(ctx: StepContext) -> Result:
    from distill.compress.deployment import deploy_kind

    o, bench, model, data = ctx.step.options, ctx.one("bench"), ctx.one("model"), ctx.one("data")
    picks = [r for r in bench.info["recommended"] if r["source"] == model.name and r["device"] == o.device]
    if not picks:
        raise DataError(
            f"pipeline step {ctx.step.name}: bench step {bench.name!r} recommends nothing for {model.name!r} on "
            f"{o.device} (its report: {bench.outputs['report']})"
        )
    (pick,) = picks
    report = json.loads(Path(bench.outputs["report_json"]).read_text(encoding="utf-8"))
    variant = next(v for v in report["variants"] if v["name"] == pick["variant"] and v["device"] == o.device)
    measured = {k: variant.get(k) for k in ("metric", "score", "agreement_with_fp32", "size_mb", "timings")}
    export = {}
    if data is not None:  # an ONNX kind is verified (and a static one calibrated) on the task's own texts
        export["verify_data"] = _data_file(data.outputs["dev"], o.verify_limit, pair=data.info["pair"])
        export["calibration_data"] = _data_file(
            data.outputs["train"], o.calibration_limit, pair=data.info["pair"]
        )
    out = ctx.tmp / "deploy"
    info = deploy_kind(
        str(model.outputs["model"]),
        out,
        pick["kind"],
        device=o.device,
        reason=pick["why"],
        measured=measured,
        opset=o.opset,
        min_agreement=o.min_agreement,
        min_agreement_int8=o.min_agreement_int8,
        max_len=_max_length(ctx),
        **export,
    )
    return Result({"deploy": out}, {k: info[k] for k in ("kind", "device", "file", "why")})

"""Teacher vs TinyBERT-4 vs DistilBERT-style vs BiLSTM on the embedded default, in one process.

    python experiments/bench_students.py [--train 6000 --eval 2000 --epochs-scale 1.0] [--threads 1]

1. Task-distills each student with ``distill.distillation.run.run`` (teacher fine-tuned once and cached).
2. Reloads every model with ``students.load`` and measures them one after the other on the same
   dev examples: dev/test accuracy, parameters, disk size, CPU latency (batch 1, p50/p90) and
   throughput (batch 32), with the thread count stated.
3. Step time: all TinyBERT objectives (emb + hidden + attn + pred) vs a plain logits-KD step (pred)
   on the same TinyBERT-4 student, teacher and batches, alternating, in this process.
4. Teacher-output cache: one epoch of teacher logits computed live vs read from the cache.

Writes experiments/reports/students/report.md and report.json (machine and load average included;
the machine may be shared, so the load is recorded before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import students  # noqa: E402
from distill.data.batching import collate, encode, encode_views, train_batches  # noqa: E402
from distill.data.dataset import load_splits  # noqa: E402
from distill.distillation.run import Plan, run  # noqa: E402
from distill.distillation.summary import machine_block  # noqa: E402
from distill.models.features import FeatureRequest, enable_capture, forward_features  # noqa: E402
from distill.objectives import OBJECTIVES  # noqa: E402
from distill.train.distiller import feature_requests, total_loss  # noqa: E402
from distill.train.distributed import SINGLE  # noqa: E402
from distill.train.evaluate import evaluate  # noqa: E402
from distill.train.speed import measure  # noqa: E402
from distill.train.stepper import param_groups  # noqa: E402
from distill.train.teacher_cache import LiveTeacher, cached_teacher  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = {
    "TinyBERT-4": "tinybert4.yaml",
    "DistilBERT-style (3 layers)": "distilbert3.yaml",
    "BiLSTM": "bilstm.yaml",
    "BiLSTM + Tang augmentation": "bilstm-tang.yaml",
}


def scaled_configs(tmp: Path, args) -> tuple[Path, dict[str, Path]]:
    teacher = yaml.safe_load((ROOT / "experiments/teachers/minilm-tweets.yaml").read_text())
    teacher["data"]["max_train_examples"], teacher["data"]["max_eval_examples"] = args.train, args.eval
    teacher["cache_dir"] = str(ROOT / "outputs/teachers")
    t_path = tmp / "teacher.yaml"
    t_path.write_text(yaml.safe_dump(teacher))
    out = {}
    for label, name in STUDENTS.items():
        s = yaml.safe_load((ROOT / "experiments/students" / name).read_text())
        if s.get("augment"):
            s["augment"] = str(ROOT / s["augment"])
        for stage in s["stages"]:
            stage["epochs"] = stage["epochs"] * args.epochs_scale
        s["speed"] = {
            "latency_runs": args.latency_runs,
            "latency_warmup": 10,
            "throughput_batches": 10,
            "throughput_batch_size": 32,
        }
        out[label] = tmp / name
        out[label].write_text(yaml.safe_dump(s))
    return t_path, out


def step_time_ratio(plan: Plan, teacher, tokenizer, splits, steps: int) -> dict:
    """Mean step time, all TinyBERT objectives vs logits KD only, same models and batches."""
    built = students.build(
        students.BuildRequest(
            arch=plan.student_cfg.architecture,
            shape=plan.shape,
            teacher=teacher,
            teacher_tokenizer=tokenizer,
            label_names=splits.label_names,
            texts=[],
            pair=False,
            init="teacher",
            layer_map=plan.layer_map,
        )
    )
    student, s_dims = built.model.train(), plan.student_dims
    t_dims = plan.teacher_dims
    make = lambda names: [OBJECTIVES.get(n)(OBJECTIVES.get(n).Params(), s_dims, t_dims) for n in names]  # noqa: E731
    variants = {
        "all TinyBERT objectives (emb+hidden+attn+pred)": make(["emb", "hidden", "attn", "pred"]),
        "logits KD (pred)": make(["pred"]),
    }
    enable_capture(student)
    enable_capture(teacher)
    data = encode(splits.train, tokenizer, plan.teacher_cfg.max_length)
    batches = train_batches(data, 32, random.Random(0))[: steps + 2]
    times: dict[str, list[float]] = {k: [] for k in variants}
    for i, indices in enumerate(batches):
        batch = collate(data, indices)
        for name, objectives in variants.items():  # alternate: the same load for both
            want_s, want_t = feature_requests(objectives, plan.layer_map)
            opt = torch.optim.AdamW(param_groups([student, *objectives], 0.01), lr=0.0)
            live = LiveTeacher(teacher, want_t)
            start = time.perf_counter()
            loss, _ = total_loss(
                objectives, forward_features(student, batch, want_s), live(indices, batch), batch["labels"]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i >= 2:  # two warm-up steps
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    full, kd = med.values()
    return {"median_step_ms": med, "ratio": full / kd, "steps": len(next(iter(times.values())))}


def cache_saving(teacher, tokenizer, splits, max_length: int, cache_dir: Path) -> dict:
    data = encode(splits.train, tokenizer, max_length)
    plan_request = FeatureRequest()  # logits only: what a kd_kl / logit_mse stage asks of the teacher
    batches = train_batches(data, 32, random.Random(0))
    live = LiveTeacher(teacher, plan_request)
    start = time.perf_counter()
    for indices in batches:
        live(indices, collate(data, indices))
    live_s = time.perf_counter() - start
    start = time.perf_counter()
    cache, calls = cached_teacher(teacher, data, plan_request, cache_dir, "cpu")
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    for indices in batches:
        cache(indices, collate(data, indices))
    hit_s = time.perf_counter() - start
    return {
        "examples": len(data),
        "live_epoch_s": live_s,
        "cache_build_s": build_s,
        "cached_epoch_s": hit_s,
        "build_batches": calls,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--eval", type=int, default=2000)
    ap.add_argument("--epochs-scale", type=float, default=1.0)
    ap.add_argument("--latency-runs", type=int, default=100)
    ap.add_argument("--step-batches", type=int, default=20)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="1 on a shared machine: 2 spinning OpenMP threads collapse under load",
    )
    ap.add_argument("--out", default=str(ROOT / "experiments/reports/students"))
    ap.add_argument(
        "--workdir", default=str(ROOT / "outputs/bench-students"), help="trained students are kept here"
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="measure the students already trained in --workdir (same settings) instead of training again",
    )
    ap.add_argument("--only", nargs="*", default=None, help="a subset of the student labels")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    tmp = Path(args.workdir)
    tmp.mkdir(parents=True, exist_ok=True)
    t_yaml, s_yamls = scaled_configs(tmp, args)
    if args.only:
        s_yamls = {k: v for k, v in s_yamls.items() if k in args.only}

    runs = {}
    for label, s_yaml in s_yamls.items():
        done = tmp / f"run-{s_yaml.stem}" / "metrics.json"
        if args.reuse and done.is_file():  # trained earlier with these settings: measure only
            runs[label] = json.loads(done.read_text())
            continue
        runs[label] = run(t_yaml, s_yaml, tmp / f"run-{s_yaml.stem}")
    first = next(iter(runs.values()))
    teacher_model, teacher_tok = students.load(first["teacher_path"])
    plan = Plan(t_yaml, s_yamls["TinyBERT-4"])
    splits = load_splits(plan.teacher_cfg.data)
    max_length = plan.teacher_cfg.max_length
    n = len(splits.label_names)

    # One measurement pass, all models, same dev examples, one after the other.
    rows = {}
    models = {"teacher (MiniLM-L6-H384)": (teacher_model, teacher_tok, first["teacher_path"])}
    models.update(
        {label: (*students.load(m["student_path"]), m["student_path"]) for label, m in runs.items()}
    )
    for label, (model, tok, path) in models.items():
        model.eval()
        dev = encode_views(splits.dev, teacher_tok, tok, max_length).for_student()
        test = encode_views(splits.test, teacher_tok, tok, max_length).for_student()
        rows[label] = {
            "dev": evaluate(model, dev, n)["accuracy"],
            "test": evaluate(model, test, n)["accuracy"],
            **measure(model, dev, latency_runs=args.latency_runs, latency_warmup=10),
            "disk_mb": (Path(path) / "model.safetensors").stat().st_size / 2**20,
            "train_seconds": sum(s["seconds"] for s in runs[label]["stages"]) if label in runs else None,
            "train_examples": runs[label]["data"]["train"] if label in runs else len(splits.train),
        }
    t_row = rows["teacher (MiniLM-L6-H384)"]
    for r in rows.values():
        r["acc_vs_teacher"] = r["dev"] / t_row["dev"]
        r["speedup_b32"] = r["throughput_b32"] / t_row["throughput_b32"]

    step = step_time_ratio(plan, teacher_model, teacher_tok, splits, args.step_batches)
    cache = cache_saving(
        teacher_model, teacher_tok, splits, max_length, Path(tempfile.mkdtemp(prefix="bench-cache-"))
    )
    report = {
        "machine": machine_block(SINGLE),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "workdir")},
        "models": rows,
        "step_time": step,
        "teacher_cache": cache,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))
    print(markdown(report))


def markdown(r: dict) -> str:
    m, s = r["machine"], r["settings"]
    lines = [
        "# Students benchmark: teacher vs TinyBERT-4 vs DistilBERT-style vs BiLSTM",
        "",
        f"Embedded tweets (binary), {s['train']} training / ≤{s['eval']} dev and test examples, stage epochs x{s['epochs_scale']}.",
        f"CPU: {m['cpu']}, {s['threads']} torch threads; torch {m['torch']}, transformers {m['transformers']}. "
        f"Load average before {r['loadavg_before'][0]:.2f}, after {r['loadavg_after'][0]:.2f} (shared machine).",
        "Regenerate: `python experiments/bench_students.py` (`--reuse` measures the students already trained in `--workdir`).",
        "",
        "| model | train examples | dev acc | test acc | dev acc / teacher | params | disk MB | b=1 p50 ms | b=1 p90 ms | b=32 seq/s | b=32 vs teacher |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, x in r["models"].items():
        lat = x["latency_ms_b1"]
        lines.append(
            f"| {label} | {x.get('train_examples', 0):,} | {x['dev']:.4f} | {x['test']:.4f} | {100 * x['acc_vs_teacher']:.1f}% | {x['params'] / 1e6:.2f}M | "
            f"{x['disk_mb']:.1f} | {lat['p50']:.1f} | {lat['p90']:.1f} | {x['throughput_b32']:.0f} | {x['speedup_b32']:.1f}x |"
        )
    st, c = r["step_time"], r["teacher_cache"]
    med = st["median_step_ms"]
    lines += [
        "",
        f"Step time (TinyBERT-4 student, batch 32, median of {st['steps']} steps, alternating): "
        + ", ".join(f"{k}: {v:.1f} ms" for k, v in med.items())
        + f"; ratio **{st['ratio']:.3f}x** (target ≤ 1.10x).",
        "",
        f"Teacher-output cache ({c['examples']} training examples, logits): one epoch of live teacher passes "
        f"{c['live_epoch_s']:.1f} s; building the cache {c['cache_build_s']:.1f} s (once); an epoch from the cache "
        f"{c['cached_epoch_s']:.2f} s.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

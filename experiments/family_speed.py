"""How much faster is a TinyBERT-4 student than its teacher, for every encoder family?

For each family with an adapter (distill.models.adapters.ADAPTERS), the family's base model (its
published base shape, random weights: speed only) is timed as a ``*ForSequenceClassification`` in
torch FP32, and beside it the TinyBERT-4 student this project builds for that teacher
(students.tinybert.build_tinybert: a BERT of 4 x 312, 12 heads, FFN 1200 reading the teacher's
vocabulary and positions) in torch FP32 and in ORT dynamic INT8 (the ``ort-int8-dynamic`` kind:
exported through LogitsOnly, quantised with its recipe). The student is the same BERT for every
family except for its embedding table, so its rows differ little; the base rows are the point.

Round-robin timing: every round runs every (family, variant, batch) case once, in an order shuffled
anew each round (seeded), so load drift on a shared machine hits every case alike. One "run" of a
case is a block of calls lasting at least ``--min-time`` seconds (the count fixed at warm-up), its
time the block's mean: a single 1 ms call is too noisy to rank. The figure reported is the median
over the rounds. Sequence length 64 (random ids, full mask), one thread, batches 1 and 32.

Writes family-speed-<class>.md and .json into experiments/reports (--out: another folder; --tiny:
a temporary one), <class> naming the CPU's matrix engines (distill.core.cpu.matrix_engines): INT8
speed depends on them.

    python experiments/family_speed.py [--rounds 5] [--min-time 0.25] [--out DIR]
    python experiments/family_speed.py --tiny [--out DIR]   # smoke run: ~10 s

How long: a round is dominated by the eight base models at batch 32 (on a shared 2-core AMD EPYC
a bert-base batch took 5.3 s, deberta-v3-base 8.1 s, modernbert-base 6.0 s: ~1 min a round there),
so the default 5 rounds, the builds and the warm-up come to ~7 min; the script prints its own
estimate after the warm-up.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

# The repository first: run as `python experiments/family_speed.py`, this folder would otherwise make
# experiments/students/ (configs) shadow the students package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.compress import kinds  # noqa: E402
from distill.compress.evalset import synthetic_batch  # noqa: E402
from distill.compress.export import export_module, ort_predict, ort_session, torch_predict  # noqa: E402
from distill.compress.machine import machine_facts, pin_threads  # noqa: E402
from distill.compress.models import LogitsOnly, count_parameters, use_onnx_attention  # noqa: E402
from distill.compress.quantize import quantize_onnx  # noqa: E402
from distill.core.atomic import write_text  # noqa: E402
from distill.models.adapters import ADAPTERS  # noqa: E402
from students.tinybert import PRESETS, build_tinybert  # noqa: E402

REPORTS = Path(__file__).parent / "reports"
VARIANTS = ("base-fp32", "student-fp32", "student-int8")
TITLES = {
    "base-fp32": "base, torch FP32",
    "student-fp32": "TinyBERT-4 student, torch FP32",
    "student-int8": "TinyBERT-4 student, ORT dynamic INT8",
}
INT8_KIND = "ort-int8-dynamic"  # the bench's kind: its recipe quantises the student here
LABELS = ["negative", "positive"]
MAX_CALLS = 1000  # per run of a case (a student INT8 b1 call: ~2 ms)


class Mode(NamedTuple):
    """Shapes and timing of one run: the base shapes (``tiny``: every family at 2 x 32) and the student."""

    tiny: bool
    student: dict[str, int]
    batches: tuple[int, ...]
    seq: int
    rounds: int
    warmup: int
    min_time: float


FULL = Mode(False, PRESETS["tinybert4"], (1, 32), 64, 5, 2, 0.25)
TINY = Mode(True, dict(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64), (1, 2), 8, 1, 1, 0.0)
# Every family's tiny base: 2 layers x 32 (4 heads, FFN 64), a 3,000-token vocabulary.
T = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64, vocab_size=3000)


def _bert(tiny: bool):
    from transformers import BertConfig

    return BertConfig(**(T if tiny else {}))  # the defaults are bert-base-uncased


def _roberta(tiny: bool):
    from transformers import RobertaConfig

    s = T if tiny else {"vocab_size": 50265}
    return RobertaConfig(**s, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)


def _electra(tiny: bool):
    from transformers import ElectraConfig

    s = {**T, "embedding_size": 32} if tiny else dict(_BASE, embedding_size=768)  # the discriminator's
    return ElectraConfig(**s)


def _distilbert(tiny: bool):
    from transformers import DistilBertConfig

    if tiny:
        return DistilBertConfig(vocab_size=3000, n_layers=2, dim=32, n_heads=4, hidden_dim=64)
    return DistilBertConfig()  # the defaults are distilbert-base-uncased: 6 x 768


def _albert(tiny: bool):
    from transformers import AlbertConfig

    # albert-base-v2: 128-wide embeddings, one 768 block applied 12 times
    s = {**T, "embedding_size": 16} if tiny else dict(_BASE, vocab_size=30000, embedding_size=128)
    return AlbertConfig(**s, num_hidden_groups=1, inner_group_num=1, hidden_act="gelu_new")


def _deberta(tiny: bool):
    from transformers import DebertaV2Config

    # deberta-v3-base: relative attention (c2p, p2c) over 256 log buckets, shared keys, no absolute
    # positions or token types
    s = T if tiny else dict(_BASE, vocab_size=128100)
    return DebertaV2Config(
        **s,
        max_position_embeddings=512,
        relative_attention=True,
        pos_att_type=["p2c", "c2p"],
        position_buckets=8 if tiny else 256,
        max_relative_positions=-1,
        position_biased_input=False,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
        pooler_hidden_size=s["hidden_size"],
    )


def _modernbert(tiny: bool):
    from transformers import ModernBertConfig

    # modernbert-base (the defaults): 22 x 768, GeGLU FFN 1152, local window 128, global every 3rd
    if tiny:  # a window of 4 so that seq 8 meets its edge; special ids inside the small vocabulary
        ids = dict(pad_token_id=0, bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3)
        return ModernBertConfig(**T, **ids, local_attention=4, global_attn_every_n_layers=3)
    return ModernBertConfig(local_attention=128, global_attn_every_n_layers=3)


def _mpnet(tiny: bool):
    from transformers import MPNetConfig

    return MPNetConfig(**(T if tiny else {}), max_position_embeddings=514)  # defaults: mpnet-base


def _ernie(tiny: bool):
    from transformers import ErnieConfig

    # ernie-3.0-base-zh: 12 x 768, vocabulary 40,000, 2,048 positions, task-type embeddings
    s = T if tiny else dict(_BASE, vocab_size=40000, max_position_embeddings=2048, type_vocab_size=4)
    return ErnieConfig(**s, use_task_id=True, task_type_vocab_size=3)


_BASE = dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072)
# family (adapter name) -> (the published base model it stands for, its config)
BASES: dict[str, tuple[str, Callable]] = {
    "bert": ("bert-base", _bert),
    "roberta": ("roberta-base", _roberta),
    "electra": ("electra-base", _electra),
    "distilbert": ("distilbert-base", _distilbert),
    "albert": ("albert-base-v2", _albert),
    "deberta-v2": ("deberta-v3-base", _deberta),
    "modernbert": ("modernbert-base", _modernbert),
    "mpnet": ("mpnet-base", _mpnet),
    "ernie": ("ernie-3.0-base-zh", _ernie),
}


def build_family(family: str, mode: Mode, work: Path) -> dict:
    """The family's base classifier and its TinyBERT student, each as the predictors the rounds time."""
    from transformers import AutoModelForSequenceClassification

    if family not in BASES:
        raise KeyError(f"no base shape for family {family!r} in experiments/family_speed.py BASES")
    name, make = BASES[family]
    cfg = make(mode.tiny)
    cfg.num_labels = len(LABELS)
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_config(cfg).eval()
    student = build_tinybert(mode.student, cfg, LABELS).eval()
    onnx_student = copy.deepcopy(student)
    use_onnx_attention(onnx_student)  # the graph every ORT kind of a BERT is built from (variants.py)
    fp32 = export_module(LogitsOnly(onnx_student), work / f"{family}.student.onnx")
    int8 = quantize_onnx(fp32, work / f"{family}.student.int8.onnx", kinds.get(INT8_KIND).recipe)
    return {
        "family": family,
        "base": name,
        "dims": f"{cfg.num_hidden_layers} x {cfg.hidden_size}",
        "vocab": cfg.vocab_size,
        "attn_implementation": base.config._attn_implementation,
        "params": {"base": count_parameters(base), "student": count_parameters(student)},
        "int8_mb": round(int8.stat().st_size / 2**20, 2),
        "predict": {
            "base-fp32": torch_predict(LogitsOnly(base).eval()),
            "student-fp32": torch_predict(LogitsOnly(student).eval()),
            "student-int8": ort_predict(ort_session(int8, threads=1)),
        },
    }


def _block(predict, inputs, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        predict(*inputs)
    return (time.perf_counter() - start) / calls


def warm_up(predict, inputs, most: int, budget_s: float = 1.0) -> float:
    """Seconds of the fastest of ``most`` calls, stopping early once ``budget_s`` is spent (a base
    model's batch of 32 takes seconds: a second warm-up call of it would teach nothing)."""
    times: list[float] = []
    while not times or (len(times) < most and sum(times) < budget_s):
        times.append(_block(predict, inputs, 1))
    return min(times)


def round_robin(
    built: list[dict], mode: Mode, rounds: int, min_time: float, seed: int
) -> tuple[dict, dict, float]:
    """Median seconds per call of every (family, variant, batch), the calls per run of each, and the
    seconds one round was estimated to take from the warm-up."""
    cases = []
    for b in mode.batches:
        inputs = synthetic_batch(b, mode.seq, 3000 if mode.tiny else 30000, seed=b)  # ids every vocab has
        for fam in built:
            cases += [((fam["family"], v, b), fam["predict"][v], inputs) for v in VARIANTS]
    calls, round_s = {}, 0.0
    for key, predict, inputs in cases:  # warm-up, and the block length that fills min_time
        t = warm_up(predict, inputs, mode.warmup)
        calls[key] = max(1, min(MAX_CALLS, math.ceil(min_time / t))) if min_time > 0 else 1
        round_s += calls[key] * t
    print(
        f"{len(cases)} cases; one round ~{round_s:.1f} s, {rounds} rounds ~{rounds * round_s:.0f} s",
        flush=True,
    )
    times: dict = {key: [] for key, _, _ in cases}
    for r in range(rounds):
        order = random.Random(seed + r).sample(cases, len(cases))  # a new order each round
        for i, ((family, variant, b), predict, inputs) in enumerate(order, 1):
            t = _block(predict, inputs, calls[family, variant, b])
            times[family, variant, b].append(t)
            print(
                f"[round {r + 1}/{rounds} {i}/{len(order)}] {family} {variant} b{b}: {1000 * t:.2f} ms "
                f"({calls[family, variant, b]} calls)",
                flush=True,
            )
    return {k: statistics.median(ts) for k, ts in times.items()}, calls, round_s


def rows(built: list[dict], med: dict, calls: dict, batches: tuple[int, ...]) -> list[dict]:
    out = []
    for fam in built:
        row = {k: v for k, v in fam.items() if k != "predict"}
        row["variants"] = {}
        for v in VARIANTS:
            cell = {}
            for b in batches:
                t, ref = med[fam["family"], v, b], med[fam["family"], "base-fp32", b]
                cell[f"b{b}_ms"] = round(1000 * t, 3)
                cell[f"b{b}_seq_s"] = round(b / t, 1)
                cell[f"b{b}_vs_base"] = round(ref / t, 2)
                cell[f"b{b}_calls"] = calls[fam["family"], v, b]
            row["variants"][v] = cell
        out.append(row)
    return out


def markdown(data: dict) -> str:
    m, lo, hi = data["machine"], data["batches"][0], data["batches"][-1]
    s = data["student_shape"]
    lines = [
        f"# Teacher families vs their TinyBERT student on {m['cpu']} ({m['matrix_engines']})",
        "",
        f"Generated by `experiments/family_speed.py`{' --tiny (smoke run: tiny shapes)' if data['tiny'] else ''}. "
        f"Machine: {m['cpu']}, matrix engines {m['matrix_engines']} (flags {', '.join(m['cpu_flags'])}), "
        f"{m['cores']} cores, {m['threads']} thread (torch and ORT intra-op); torch {m['torch']}, "
        f"transformers {m['transformers']}, onnxruntime {m['onnxruntime']}; load average "
        f"{m['loadavg_1_5_15']} before the run, {data['loadavg_after']} after.",
        "",
        f"Random weights (speed only), sequence length {data['seq_len']}, random ids, full mask. "
        f"Student: `students.tinybert.build_tinybert` ({s['num_layers']} x {s['hidden_size']}, "
        f"{s['num_heads']} heads, FFN {s['intermediate_size']}; the teacher's vocabulary and positions). "
        f"Variants: {'; '.join(f'`{v}` {TITLES[v]}' for v in VARIANTS)} (`{INT8_KIND}`: LogitsOnly "
        "export, quantize_onnx with the kind's recipe). "
        f"{data['rounds']} round-robin rounds (each runs every case once, shuffled, seed {data['seed']}); "
        f"a run is a block of calls of at least {data['min_time_s']} s; median over the rounds. "
        f"Wall time of the rounds {data['rounds_wall_s']:.0f} s.",
        "",
        f"| family | base | base b{lo} ms | base b{hi} seq/s | student-fp32 b{lo} ms | student-fp32 "
        f"b{hi} seq/s | student-int8 b{lo} ms | student-int8 b{hi} seq/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["families"]:
        base, fp32, int8 = (r["variants"][v] for v in VARIANTS)
        cells = [f"{base[f'b{lo}_ms']:.2f}", f"{base[f'b{hi}_seq_s']:.0f}"]
        for v in (fp32, int8):
            cells += [
                f"{v[f'b{lo}_ms']:.2f} ({v[f'b{lo}_vs_base']:.1f}x)",
                f"{v[f'b{hi}_seq_s']:.0f} ({v[f'b{hi}_vs_base']:.1f}x)",
            ]
        lines.append(f"| {r['family']} | {r['base']} | {' | '.join(cells)} |")
    lines += [
        "",
        "(Nx): speed-up over the family's base model at the same batch.",
        "",
        "| family | base | layers x hidden | vocab | base attention | base params (M) | student params (M) "
        "| base / student params | student INT8 MB |",
        "|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in data["families"]:
        pb, ps = r["params"]["base"], r["params"]["student"]
        lines.append(
            f"| {r['family']} | {r['base']} | {r['dims']} | {r['vocab']} | {r['attn_implementation']} | "
            f"{pb / 1e6:.1f} | {ps / 1e6:.1f} | {pb / ps:.1f}x | {r['int8_mb']:.1f} |"
        )
    lines.append("")
    lines.append(
        "The student's parameters are mostly its embedding table (the teacher's vocabulary x "
        f"{s['hidden_size']}), which costs a lookup, not a matmul: its speed differs little between families."
    )
    if data["failed"]:
        lines += ["", "Not built:", ""] + [f"- {f['family']}: {f['error']}" for f in data["failed"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--tiny", action="store_true", help="smoke run: 2 x 32 shapes, 1 round, batch 1 and 2, seq 8"
    )
    p.add_argument("--rounds", type=int, default=None, help=f"default {FULL.rounds} (--tiny: {TINY.rounds})")
    p.add_argument(
        "--min-time", type=float, default=None, help=f"seconds per run of a case (default {FULL.min_time})"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--families", nargs="*", default=None, help="default: every registered family")
    p.add_argument(
        "--out", type=Path, default=None, help="folder (default experiments/reports; --tiny: a temporary one)"
    )
    args = p.parse_args()
    mode = TINY if args.tiny else FULL
    rounds = args.rounds or mode.rounds
    min_time = mode.min_time if args.min_time is None else args.min_time
    pin_threads(1)
    facts = machine_facts(1)
    built, failed = [], []
    with tempfile.TemporaryDirectory(prefix="family-speed-") as tmp:
        for family in args.families or ADAPTERS.names():
            start = time.perf_counter()
            try:
                built.append(build_family(family, mode, Path(tmp)))
            except Exception as e:  # noqa: BLE001 - a family that does not build is a finding
                failed.append(
                    {"family": family, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
                )
            print(f"built {family} in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        med, calls, round_s = round_robin(built, mode, rounds, min_time, args.seed)
        wall = time.perf_counter() - start
    data = {
        "machine": facts,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "tiny": mode.tiny,
        "seq_len": mode.seq,
        "batches": list(mode.batches),
        "rounds": rounds,
        "min_time_s": min_time,
        "seed": args.seed,
        "estimated_round_s": round(round_s, 1),
        "rounds_wall_s": round(wall, 1),
        "student_shape": mode.student,
        "variants": {v: TITLES[v] for v in VARIANTS},
        "families": rows(built, med, calls, mode.batches),
        "failed": failed,
    }
    md = markdown(data)
    folder = args.out or (Path(tempfile.mkdtemp(prefix="family-speed-")) if mode.tiny else REPORTS)
    name = f"family-speed-{facts['matrix_engines']}"
    write_text(folder / f"{name}.md", md)
    write_text(folder / f"{name}.json", json.dumps(data, indent=2))
    print(md)
    print(f"wrote {folder / name}.md and .json")


if __name__ == "__main__":
    main()

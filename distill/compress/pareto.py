"""pareto.png: accuracy vs throughput of a benchmark's variants, readable however the points fall.

Variants of one model at similar speed, or every variant of an easy task at ~100%, land on top of
each other; their full names written beside the points overlap into unreadable strings. So each
point carries a number, placed where it overlaps no other number and no point (tried on rings of
growing radius around the point, a thin leader line back to it), and a table beside the plot says
which variant each number is, with its accuracy and throughput. The Pareto frontier (no variant
both faster and at least as accurate) is drawn as a step line. The axes span the data with a small
margin, accuracy never beyond 100%.
"""

from __future__ import annotations

import math
from pathlib import Path

from distill.compress.scoring import metric_label, score_of

DPI = 130
# Candidate label offsets (points): rings of growing radius, 8 directions each, upper right first.
_RADII = (7, 13, 20, 28, 38, 50, 64, 80)
_ANGLES = (45, 135, -45, -135, 90, -90, 0, 180)


def pareto_frontier(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (x, y) points no other point dominates (x and y both higher is better; a
    point equal to another on both is kept once, the first), ordered by x ascending."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1], i))
    front, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return sorted(front, key=lambda i: points[i][0])


def accuracy_limits(accuracies: list[float]) -> tuple[float, float]:
    """y-axis range (percent) for these accuracies (percent): the data's span plus a margin of 8% of
    it (at least a quarter point), clipped to [0, 100]."""
    lo, hi = min(accuracies), max(accuracies)
    pad = max(0.25, 0.08 * (hi - lo))
    return max(0.0, lo - pad), min(100.0, hi + pad)


def log_limits(values: list[float]) -> tuple[float, float]:
    """Log-axis range: the data's span widened by a quarter of it in log terms (at least x1.25)."""
    lo, hi = min(values), max(values)
    f = max(1.25, (hi / lo) ** 0.08)
    return lo / f, hi * f


def _overlaps(box, boxes, margin: float = 1.5) -> bool:
    return any(
        box.x0 - margin < b.x1
        and b.x0 - margin < box.x1
        and box.y0 - margin < b.y1
        and b.y0 - margin < box.y1
        for b in boxes
    )


def label_box(ann, renderer):
    """The pixel box of an annotation's text alone (matplotlib's own extent includes the leader line)."""
    from matplotlib.text import Text

    ann.update_positions(renderer)  # the text's pixel position is only computed when drawn
    return Text.get_window_extent(ann, renderer)


def place_labels(ax, xy: list[tuple[float, float]], texts: list[str], fontsize: float = 7.5) -> list:
    """One annotation per point, inside the axes, at the first candidate offset whose box overlaps
    no earlier label and no point; the last candidate tried if none is free. The axis limits and
    the figure's layout must be final: the test is done in pixels."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    r = 4.0 * fig.dpi / 72  # a marker's half-size in pixels
    taken = [Bbox.from_extents(px - r, py - r, px + r, py + r) for px, py in ax.transData.transform(xy)]
    placed = []
    for (x, y), text in zip(xy, texts, strict=True):
        ann = None
        for radius in _RADII:
            for angle in _ANGLES:
                dx, dy = radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle))
                if ann is not None:
                    ann.remove()
                ann = ax.annotate(
                    text,
                    (x, y),
                    xytext=(dx, dy),
                    textcoords="offset points",
                    fontsize=fontsize,
                    ha="left" if dx > 1 else "right" if dx < -1 else "center",
                    va="bottom" if dy > 1 else "top" if dy < -1 else "center",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.55", "shrinkA": 0, "shrinkB": 3},
                    annotation_clip=False,
                    zorder=4,
                )
                box = label_box(ann, renderer)
                if (
                    not _overlaps(box, taken)
                    and ax.bbox.contains(box.x0, box.y0)
                    and ax.bbox.contains(box.x1, box.y1)
                ):
                    break
            else:
                continue
            break
        taken.append(label_box(ann, renderer))
        placed.append(ann)
    return placed


def _name(v: dict) -> str:
    return f"{v['source']}/{v['kind']}" + ("" if v["device"] == "cpu" else f" ({v['device']})")


def pareto_figure(result: dict, timing):
    """The figure (not saved): a panel per group of points (trained models: accuracy vs throughput;
    random weights: size vs throughput), each with numbered points, and the table of numbers.
    ``timing(v, seq, batch)``: a variant's timing row at that shape, or None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["settings"]
    score_name = {"accuracy": "accuracy %"}.get(result.get("metric", "accuracy")) or metric_label(
        result["metric"]
    )
    batch, seq = max(s["batch_sizes"]), s["seq_lens"][0]
    pts = [(v, timing(v, seq, batch)) for v in result["variants"]]
    trained = [(v, t) for v, t in pts if t and score_of(v) is not None]
    speed_only = [(v, t) for v, t in pts if t and score_of(v) is None]
    panels = [p for p in (trained, speed_only) if p]
    n_panels = max(len(panels), 1)
    rows = len(trained) + len(speed_only)
    # The table: "NN* name  value  throughput" in 7-pt monospace (0.6 em a character).
    chars = max((len(_name(v)) for v, _ in trained + speed_only), default=10) + 28
    table_in = chars * 7 * 0.6 / 72 * 1.15 + 0.3
    width = 7.5 * n_panels + table_in
    fig = plt.figure(figsize=(width, max(6.5, 1.6 + 0.17 * rows)), dpi=DPI)
    grid = fig.add_gridspec(1, n_panels + 1, width_ratios=[7.5] * n_panels + [table_in], wspace=0.12)
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.1 / width, top=0.94, bottom=0.16)  # final before labels
    axes = [fig.add_subplot(grid[0, i]) for i in range(n_panels)]
    table = fig.add_subplot(grid[0, n_panels])
    table.axis("off")
    sources = list(dict.fromkeys(v["source"] for v, _ in pts))
    kinds = list(dict.fromkeys(v["kind"] for v, _ in pts))
    colors = {src: plt.cm.tab10(i % 10) for i, src in enumerate(sources)}
    markers = {k: "os^vDP*Xhp<>"[i % 12] for i, k in enumerate(kinds)}
    lines, number = [], 0
    for ax, group in zip(axes, panels, strict=False):
        acc = group is trained
        xs = [t["throughput_seq_s"] for _, t in group]
        ys = [100 * score_of(v) if acc else v["size_mb"] for v, _ in group]
        ax.set_xscale("log")
        ax.set_xlim(*log_limits(xs))
        if acc:
            ax.set_ylim(*accuracy_limits(ys))
        else:
            ax.set_yscale("log")
            ax.set_ylim(*log_limits(ys))
        for (v, _), x, y in zip(group, xs, ys, strict=True):
            ax.scatter(
                x, y, s=40, color=colors[v["source"]], marker=markers[v["kind"]], zorder=3, clip_on=False
            )
        # Frontier: fast and accurate for accuracy; fast and small for size (smaller is better).
        front = pareto_frontier([(x, y if acc else -y) for x, y in zip(xs, ys, strict=True)])
        fx, fy = [xs[i] for i in front], [ys[i] for i in front]
        ax.scatter(fx, fy, s=130, facecolors="none", edgecolors="0.2", lw=0.8, zorder=3, clip_on=False)
        if len(front) > 1:
            ax.step(fx, fy, where="pre", color="0.35", lw=1, ls="--", zorder=2, label="Pareto frontier")
            ax.legend(loc="lower left" if acc else "upper left", fontsize=7, frameon=False)
        labels = [str(number + i + 1) for i in range(len(group))]
        place_labels(ax, list(zip(xs, ys, strict=True)), labels)
        for i, ((v, _), x, y) in enumerate(zip(group, xs, ys, strict=True)):
            star = "*" if i in front else " "
            value = f"{y:6.2f}%" if acc else f"{y:7.1f} MB"
            lines.append(
                (f"{number + i + 1:>2}{star} {_name(v)}", f"{value} {x:>9.1f}/s", colors[v["source"]])
            )
        number += len(group)
        ax.set_xlabel(f"throughput, sequences/s (batch {batch}, seq {seq}, log scale)")
        ax.set_ylabel(score_name if acc else "size on disk, MB (log scale)")
        ax.set_title(
            f"{score_name.split(' ')[0]} vs throughput"
            if acc
            else "random weights, speed only: size vs throughput"
        )
        ax.grid(True, which="both", alpha=0.3)
    if not panels:
        axes[0].text(0.5, 0.5, "no timings", ha="center")
    width = max((len(a) for a, _, _ in lines), default=0)
    table.text(
        0,
        1,
        "  # variant (* on the Pareto frontier, ringed)",
        fontsize=7.5,
        family="monospace",
        weight="bold",
        va="top",
        transform=table.transAxes,
    )
    for i, (name, value, color) in enumerate(lines):
        table.text(
            0,
            1 - (i + 1.3) * 0.175 / fig.get_figheight(),
            f"{name:<{width}}  {value}",
            fontsize=7,
            family="monospace",
            color=color,
            va="top",
            transform=table.transAxes,
        )
    handles = [plt.Line2D([], [], ls="", marker=markers[k], color="0.3", label=k) for k in kinds]
    handles += [plt.Line2D([], [], ls="", marker="o", color=colors[s], label=s) for s in sources]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7, frameon=False)
    return fig


def render_pareto(result: dict, path: Path, timing) -> None:
    """Write :func:`pareto_figure` to ``path``."""
    import matplotlib.pyplot as plt

    fig = pareto_figure(result, timing)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)

"""The GPU report's two plots: share of peak per shape and variant, and throughput by batch."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_shares(r: dict, path: Path) -> None:
    """Bars at the largest batch: % of the GPU's dense peak (TFLOP/s where no peak is known)."""
    plt = _pyplot()
    top = max(r["settings"]["batches"])
    rows = [x for x in r["rows"] if x["batch"] == top]
    share = any(x["share_of_peak"] is not None for x in rows)
    shapes = list(r["shapes"])
    variants = list(dict.fromkeys(x["variant"] for x in rows))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(variants), 1)
    for k, variant in enumerate(variants):
        values = []
        for shape in shapes:
            x = next((x for x in rows if x["shape"] == shape and x["variant"] == variant), None)
            v = (
                None
                if x is None
                else (x["share_of_peak"] * 100 if share and x["share_of_peak"] else x["tflops_achieved"])
            )
            values.append(v or 0.0)
        ax.bar([i + k * width for i in range(len(shapes))], values, width, label=variant)
    ax.set_xticks([i + width * (len(variants) - 1) / 2 for i in range(len(shapes))], shapes)
    ax.set_ylabel("% of dense peak" if share else "TFLOP/s (no peak known)")
    ax.set_title(
        f"Batch {top}, sequence length {r['settings']['seq']}: achieved "
        + ("share of peak" if share else "TFLOP/s")
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(r: dict, path: Path) -> None:
    """Sequences per second by batch, one panel per shape, one line per variant (log-log)."""
    plt = _pyplot()
    shapes = list(r["shapes"])
    fig, axes = plt.subplots(1, len(shapes), figsize=(3.2 * len(shapes), 3.4), squeeze=False)
    for ax, shape in zip(axes[0], shapes, strict=True):
        mine = [x for x in r["rows"] if x["shape"] == shape]
        for variant in dict.fromkeys(x["variant"] for x in mine):
            pts = sorted((x["batch"], x["throughput_seq_s"]) for x in mine if x["variant"] == variant)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=variant)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(r["settings"]["batches"], [str(b) for b in r["settings"]["batches"]])
        ax.minorticks_off()
        ax.set_title(shape, fontsize=9)
        ax.set_xlabel("batch")
    axes[0][0].set_ylabel("sequences / s")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(len(labels), 5))
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""embed's figures: one grid of maps (representation x method) coloured by class, one by skin
tone, the PCA variance curves, and a CSV of the 2-D coordinates per map for `dvc plots`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import io
from skinlab.data.schema import CLASSES
from skinlab.evaluation import plots
from skinlab.skintone import BANDS

CSV_COLUMNS = ["image_id", "split", "dx", "band", "x", "y"]
CSV_METHODS = ("pca", "umap")  # the views given to `dvc plots` (t-SNE: the PNGs)
UNKNOWN_COLOUR = (0.6, 0.6, 0.9)
NAMES = {"pixels": "raw pixels", "features": "hand-crafted features", "cnn": "CNN embedding",
         "pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def coordinates_frame(frame: pd.DataFrame, Y: np.ndarray) -> pd.DataFrame:
    out = frame[["image_id", "split", "dx", "band"]].copy()
    out["x"], out["y"] = Y[:, 0], Y[:, 1]
    return out[CSV_COLUMNS]


def write(out: Path, frame: pd.DataFrame, maps: dict, scores: dict, curves: dict, footer: str) -> None:
    """maps: {rep: {method: (n, 2)}}; scores: metrics' projections; curves: {rep: cumulative variance}."""
    for rep, methods in maps.items():
        for method, Y in methods.items():
            if method in CSV_METHODS:
                io.write_csv(out / f"{method}_{rep}.csv", coordinates_frame(frame, Y))
    classes = [c for c in CLASSES if (frame["dx"] == c).any()]
    colours = {c: plots_colour(i) for i, c in enumerate(CLASSES)}
    plots.save_png(grid(frame, maps, scores, "dx", classes, colours, "class", footer), out / "by_class.png")
    tones = [b for b in (*BANDS, "unknown") if (frame["band"] == b).any()]
    plots.save_png(grid(frame, maps, scores, "band", tones, tone_colours(), "skin tone (ITA band)", footer),
                   out / "by_skin_tone.png")
    plots.save_png(variance_figure(curves, footer), out / "pca_variance.png")


def plots_colour(index: int):
    from matplotlib import colormaps

    return colormaps["tab10"](index)


def tone_colours() -> dict:
    """Pale yellow to dark brown (matplotlib's YlOrBr), far enough apart to tell the bands."""
    from matplotlib import colormaps

    ramp = colormaps["YlOrBr"]
    return {band: ramp(0.2 + 0.8 * i / (len(BANDS) - 1)) for i, band in enumerate(BANDS)} | {"unknown": UNKNOWN_COLOUR}


def grid(frame: pd.DataFrame, maps: dict, scores: dict, column: str, values: list, colours: dict, what: str, footer: str):
    reps, methods = list(maps), list(next(iter(maps.values())))
    fig = plots.figure((3.6 * len(methods), 3.4 * len(reps) + 0.6))
    test = (frame["split"] == "test").to_numpy()
    for r, rep in enumerate(reps):
        for m, method in enumerate(methods):
            ax = fig.add_subplot(len(reps), len(methods), r * len(methods) + m + 1)
            Y = maps[rep][method]
            for value in sorted(values, key=lambda v: -(frame[column] == v).sum()):  # the rarest drawn last, on top
                chosen = (frame[column] == value).to_numpy()
                ax.scatter(Y[chosen & ~test, 0], Y[chosen & ~test, 1], s=10, marker="x", linewidths=0.6,
                           color=colours[value], alpha=0.5)
                ax.scatter(Y[chosen & test, 0], Y[chosen & test, 1], s=9, color=colours[value], alpha=0.8,
                           edgecolors="black" if column == "band" else "none", linewidths=0.2,
                           label=value.replace("_", " "))
            s = scores[rep][method]
            ax.set_title(f"{NAMES[rep]}, {NAMES[method]}\n{_score_text(s, column)}", fontsize=8)
            ax.set_xticks([]), ax.set_yticks([])
    handles, labels = fig.axes[0].get_legend_handles_labels()
    order = [labels.index(v.replace("_", " ")) for v in values]
    fig.axes[0].legend([handles[i] for i in order], [labels[i] for i in order], fontsize=6, markerscale=1.5, loc="best", title=what, title_fontsize=6)
    fig.suptitle(f"Maps coloured by {what}: test images (dots, scored) and a train sample (crosses)", fontsize=10)
    return plots.finish(fig, footer)


def _score_text(s: dict, column: str) -> str:
    def fmt(value):
        return "-" if value is None else f"{value:.2f}"

    if column == "dx":
        return f"trust {fmt(s['trustworthiness'])}, kNN acc {fmt(s['knn_accuracy'])}, silh {fmt(s['silhouette_class'])}"
    return (f"trust {fmt(s['trustworthiness'])}, tone kNN bal. acc. {fmt(s['knn_balanced_accuracy_skin_tone'])}, "
            f"silh {fmt(s['silhouette_skin_tone'])}")


def variance_figure(curves: dict, footer: str):
    fig = plots.figure((6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for rep, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=f"{NAMES[rep]} ({len(curve)} comps)")
    ax.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("principal components")
    ax.set_ylabel("cumulative share of variance explained")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=8)
    ax.set_title("PCA explained variance per representation (standardised)", fontsize=10)
    return plots.finish(fig, footer)

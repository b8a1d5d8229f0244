"""PNG figures and DVC plot rows for the evaluation stages.

Figures are drawn on a ``matplotlib.figure.Figure`` with an explicit Agg canvas: no pyplot,
no global backend switch, nothing shared between calls or threads. Every figure carries a
footer saying it is not a medical device, because PNGs travel without their README.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skinlab import io

FOOTER = "Research use only - not a medical device."


def confusion_figure(cm, classes: Sequence[str], title: str, footer: str = FOOTER):
    """Counts with row-normalised shading, so rare classes are as readable as nevi."""
    cm = np.asarray(cm)
    k = len(classes)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix has shape {cm.shape}, expected ({k}, {k}) for {list(classes)}")
    rows = cm.sum(axis=1, keepdims=True)
    shade = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)

    fig = figure(figsize=(1.0 + 0.75 * k, 1.4 + 0.7 * k))
    ax = fig.add_subplot()
    ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if shade[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return finish(fig, footer)


def bar_figure(labels: Sequence[str], values: Sequence[float | None], title: str, xlabel: str,
               footer: str = FOOTER):
    """Horizontal bars; an undefined value (None or NaN) is marked "n/a" instead of drawn as 0."""
    labels = [str(x) for x in labels]
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")
    numbers = np.array([np.nan if v is None else float(v) for v in values], dtype=float)

    fig = figure(figsize=(6.0, 1.2 + 0.35 * max(len(labels), 1)))
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    ax.barh(y, np.nan_to_num(numbers, nan=0.0), color="tab:blue")
    for yi, v in zip(y, numbers):
        ax.text(0 if np.isnan(v) else v, yi, " n/a" if np.isnan(v) else f" {v:.3g}",
                va="center", fontsize=8)
    if np.isfinite(numbers).any() and np.nanmax(numbers) > 0:
        ax.set_xlim(right=1.12 * np.nanmax(numbers))  # room for the value labels
    ax.set_yticks(y, labels=labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return finish(fig, footer)


def roc_figure(y_true: Sequence[str], proba, classes: Sequence[str], title: str,
               footer: str = FOOTER):
    """One-vs-rest ROC curve per class that has both positives and negatives."""
    fig = figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    for c, fpr, tpr, auc in _roc_curves(y_true, proba, classes):
        ax.plot(fpr, tpr, linewidth=1.2, label=f"{c} (AUC {auc:.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    return finish(fig, footer)


def save_confusion_png(cm, classes: Sequence[str], path, title: str, footer: str = FOOTER) -> Path:
    return save_png(confusion_figure(cm, classes, title, footer), path)


def save_bar_png(labels: Sequence[str], values: Sequence[float | None], path, title: str,
                 xlabel: str, footer: str = FOOTER) -> Path:
    return save_png(bar_figure(labels, values, title, xlabel, footer), path)


def save_roc_png(y_true: Sequence[str], proba, classes: Sequence[str], path, title: str,
                 footer: str = FOOTER) -> Path:
    return save_png(roc_figure(y_true, proba, classes, title, footer), path)


def roc_points(y_true: Sequence[str], proba, classes: Sequence[str]) -> list[dict]:
    """Rows ``{"class", "fpr", "tpr"}`` for a DVC ``linear`` plot, one curve per class.

    Classes absent from ``y_true`` (or making up all of it) have no curve and no rows.
    """
    rows = []
    for c, fpr, tpr, _ in _roc_curves(y_true, proba, classes):
        rows.extend({"class": c, "fpr": float(f), "tpr": float(t)} for f, t in zip(fpr, tpr))
    return rows


def save_png(fig, path) -> Path:
    """Write ``fig`` to ``path`` through a temporary sibling, so a crash leaves no half PNG."""
    path = Path(path)
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return path


# --- helpers -------------------------------------------------------------------------------


def figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def finish(fig, footer: str):
    if footer:
        fig.text(0.5, 0.01, footer, ha="center", va="bottom", fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.04 if footer else 0, 1, 1))
    return fig


def _roc_curves(y_true, proba, classes):
    """(class, fpr, tpr, auc) per class with both positives and negatives in ``y_true``."""
    from sklearn.metrics import auc as area, roc_curve

    from skinlab.evaluation.classification import validate_inputs

    classes = [str(c) for c in classes]
    y_idx, proba = validate_inputs(y_true, proba, classes)
    curves = []
    for i, c in enumerate(classes):
        positive = y_idx == i
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, i])
        curves.append((c, fpr, tpr, float(area(fpr, tpr))))
    return curves

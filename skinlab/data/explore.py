"""Exploratory plots of data/raw: what a user should look at before training anything."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from skinlab import io
from skinlab.data.schema import CLASSES

FOOTER = "Research use only - not a medical device."


def class_counts(frame: pd.DataFrame) -> pd.DataFrame:
    counts = frame["dx"].value_counts()
    return pd.DataFrame({"dx": list(CLASSES), "images": [int(counts.get(name, 0)) for name in CLASSES]})


def _bar(ax, labels, values, title):
    positions = range(len(values))
    ax.barh(positions, values, color="#8c564b")
    ax.set_yticks(positions, [str(label) for label in labels])
    ax.set_title(title, fontsize=10)
    ax.invert_yaxis()


def overview_figure(frame: pd.DataFrame, path: Path, title: str) -> None:
    """Class distribution, and age, sex, localization and skin tone where the data has them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    counts = class_counts(frame)
    _bar(axes[0, 0], counts["dx"], counts["images"], "images per class (dx)")
    age = pd.to_numeric(frame["age"], errors="coerce").dropna()
    if len(age):
        axes[0, 1].hist(age, bins=range(0, 95, 5), color="#1f77b4")
    axes[0, 1].set_title(f"age ({len(age)} known)", fontsize=10)
    for ax, column in ((axes[0, 2], "sex"), (axes[1, 0], "localization"), (axes[1, 1], "fitzpatrick")):
        values = frame[column].astype(str).replace("", "unknown").value_counts().sort_index()
        _bar(ax, values.index, values.values, f"{column}")
    lesions = frame.groupby("lesion_id").size().value_counts().sort_index()
    _bar(axes[1, 2], [f"{n} image(s)" for n in lesions.index], lesions.values, "lesions by images per lesion")
    fig.suptitle(title)
    fig.text(0.5, 0.005, FOOTER, ha="center", fontsize=8, color="gray")
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    with io.atomic_path(path.with_suffix(".png")) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def write_plots(frame: pd.DataFrame, plots_dir: Path, source: str) -> None:
    plots_dir.mkdir(parents=True, exist_ok=True)
    io.write_csv(plots_dir / "class_counts.csv", class_counts(frame))
    overview_figure(frame, plots_dir / "overview.png", f"data/raw from source '{source}': {len(frame)} images")

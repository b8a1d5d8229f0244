"""Train/val/test split grouped by lesion and stratified by class.

Images of one lesion never sit on two sides of a split we make: a model that saw a lesion in
training would otherwise be graded on a near-copy. A `split` column given with the data is
kept as it is (DermaMNIST's official split, ISIC 2018's test set); rows without one are
assigned here, and val is carved out of train when the column names no val rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES, SPLITS


def lesion_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per lesion: its class (the most frequent dx of its images) and image count."""
    grouped = frame.groupby("lesion_id", sort=True)["dx"]
    return pd.DataFrame({"dx": grouped.agg(lambda s: s.value_counts().index[0]), "n_images": grouped.size()})


def assign_lesions(lesions: pd.DataFrame, fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Per class, shuffle lesions and give each to the split furthest below its image target."""
    rng = np.random.default_rng(seed)
    names = [name for name, fraction in fractions.items() if fraction > 0]
    assignment = {}
    for dx in sorted(lesions["dx"].unique()):
        group = lesions[lesions["dx"] == dx]
        order = rng.permutation(len(group))
        total = group["n_images"].sum()
        filled = dict.fromkeys(names, 0)
        for index in order:
            lesion_id, n_images = group.index[index], int(group["n_images"].iloc[index])
            deficit = {name: fractions[name] * total - filled[name] for name in names}
            chosen = max(names, key=lambda name: (deficit[name], -names.index(name)))
            filled[chosen] += n_images
            assignment[lesion_id] = chosen
    return assignment


def given_splits(frame: pd.DataFrame, use_given: bool) -> pd.Series:
    if not use_given or "split" not in frame.columns:
        return pd.Series("", index=frame.index)
    given = frame["split"].fillna("").astype(str).str.strip()
    bad = given[(given != "") & ~given.isin(SPLITS)]
    if len(bad):
        rows = ", ".join(f"row {i + 2} ({frame.loc[i, 'image_id']}: {bad[i]!r})" for i in bad.index[:10])
        raise InputError(f"metadata.csv: unknown split value(s) at {rows}; use one of {', '.join(SPLITS)} or empty")
    return given


def make_split(frame: pd.DataFrame, val_fraction: float, test_fraction: float, seed: int, use_given: bool = True) -> pd.Series:
    """Return the split of every row of `frame` (index-aligned)."""
    unknown = sorted(set(frame["dx"]) - set(CLASSES))
    if unknown:
        raise InputError(f"metadata.csv: unknown dx code(s) {', '.join(map(repr, unknown))}")
    split = given_splits(frame, use_given).copy()
    present = set(split[split != ""])
    missing = [name for name in ("val", "test") if name not in present]
    pool = split == ""
    if present and missing:
        pool |= split == "train"  # carve the missing splits out of the given train rows
    open_splits = ["train"] + (missing if present else ["val", "test"])
    wanted = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}
    total = sum(wanted[name] for name in open_splits)
    fractions = {name: wanted[name] / total for name in open_splits}
    if pool.any():
        lesions = lesion_table(frame[pool])
        assignment = assign_lesions(lesions, fractions, seed)
        split[pool] = frame.loc[pool, "lesion_id"].map(assignment)
    return split


def check_not_empty(split: pd.Series) -> None:
    """Every later stage needs rows in train, val and test; say which is empty and what to change."""
    empty = [name for name in SPLITS if not (split == name).any()]
    if empty:
        raise InputError(
            f"split: no image in {', '.join(empty)} (the data set is too small for the fractions, or the given "
            "split column leaves it empty); raise split.val_fraction / split.test_fraction or add images"
        )


def crossing_lesions(frame: pd.DataFrame, split: pd.Series) -> list[str]:
    """Lesion ids whose images sit in more than one split (a leak)."""
    sides = pd.DataFrame({"lesion_id": frame["lesion_id"], "split": split}).groupby("lesion_id")["split"].nunique()
    return sorted(sides[sides > 1].index)


def split_metrics(frame: pd.DataFrame, split: pd.Series) -> dict:
    metrics = {"n_images": int(len(frame)), "lesions_crossing_splits": len(crossing_lesions(frame, split))}
    for name in SPLITS:
        part = frame[split == name]
        metrics[name] = {
            "n_images": int(len(part)),
            "n_lesions": int(part["lesion_id"].nunique()),
            "per_class": {dx: int((part["dx"] == dx).sum()) for dx in CLASSES},
        }
    return metrics

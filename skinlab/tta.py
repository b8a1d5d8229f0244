"""Test-time augmentation: which views of an image are averaged, and how.

A view is (quarter turns, mirrored left-right first). `none` is the image alone, `flips` the
image and its left-right and up-down mirrors (up-down = two quarter turns of the left-right
mirror), `dihedral` all eight symmetries of the square. NumPy only: the web app and the report
use it without TensorFlow; `cnn_train.predict_views` renders the views.
"""
from __future__ import annotations

import numpy as np

TTA_MODES = ("none", "flips", "dihedral")
DIHEDRAL = tuple((turns, mirrored) for mirrored in (False, True) for turns in range(4))
TTA_VIEWS = {"none": ((0, False),), "flips": ((0, False), (0, True), (2, True)), "dihedral": DIHEDRAL}


def view(image: np.ndarray, turns: int, mirrored: bool) -> np.ndarray:
    """One view of an (height, width, channels) array, as TensorFlow's flip_left_right then rot90 make it."""
    if mirrored:
        image = image[:, ::-1]
    return np.rot90(image, turns, axes=(0, 1))


def combine_views(per_view: dict[tuple, np.ndarray], mode: str) -> np.ndarray:
    """The mean of the probabilities of the views that `mode` averages, renormalised per row."""
    if mode not in TTA_VIEWS:
        raise ValueError(f"unknown test-time augmentation {mode!r} (one of {', '.join(TTA_MODES)})")
    missing = [v for v in TTA_VIEWS[mode] if v not in per_view]
    if missing:
        raise ValueError(f"tta {mode!r} needs the views {missing}, which were not predicted")
    proba = np.mean([per_view[v] for v in TTA_VIEWS[mode]], axis=0)
    return proba / proba.sum(axis=1, keepdims=True)

"""Per-image segmentation metrics on binary masks, and their mean over images with a
lesion-bootstrap interval.

Masks are bool or integer arrays (0/255 as io.read_mask gives, or 0/1): any non-zero pixel is
lesion. Empty masks are scored, not skipped: two empty masks agree perfectly (Dice = Jaccard =
1), one empty mask against a non-empty one scores 0. Sensitivity is undefined (``None``) when
the truth has no lesion pixel, specificity when it has no background pixel; ``summary`` leaves
those images out of that metric's mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skinlab.evaluation.classification import bootstrap_ci

# ISIC 2018 Task 1 scores an image's Jaccard as 0 below this.
ISIC_JACCARD_THRESHOLD = 0.65
METRICS = ("dice", "jaccard", "thresholded_jaccard", "sensitivity", "specificity")


def as_binary(truth, pred) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as bool arrays; ValueError naming both shapes if they differ."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"mask shapes differ: truth {truth.shape}, prediction {pred.shape}")
    return truth != 0, pred != 0


def dice(truth, pred) -> float:
    """2|T∩P| / (|T| + |P|); 1.0 when both are empty."""
    truth, pred = as_binary(truth, pred)
    total = int(truth.sum()) + int(pred.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(truth, pred).sum()) / total


def jaccard(truth, pred) -> float:
    """|T∩P| / |T∪P|; 1.0 when both are empty."""
    truth, pred = as_binary(truth, pred)
    union = int(np.logical_or(truth, pred).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(truth, pred).sum()) / union


def thresholded_jaccard(truth, pred, threshold: float = ISIC_JACCARD_THRESHOLD) -> float:
    """Jaccard, or 0 when it is below ``threshold`` (ISIC 2018 Task 1: a poor mask is a failure)."""
    value = jaccard(truth, pred)
    return value if value >= threshold else 0.0


def sensitivity(truth, pred) -> float | None:
    """Share of lesion pixels predicted as lesion; None when the truth has no lesion pixel."""
    truth, pred = as_binary(truth, pred)
    positives = int(truth.sum())
    if positives == 0:
        return None
    return int(np.logical_and(truth, pred).sum()) / positives


def specificity(truth, pred) -> float | None:
    """Share of background pixels predicted as background; None when the truth is all lesion."""
    truth, pred = as_binary(truth, pred)
    negatives = int((~truth).sum())
    if negatives == 0:
        return None
    return int(np.logical_and(~truth, ~pred).sum()) / negatives


def scores(truth, pred, threshold: float = ISIC_JACCARD_THRESHOLD) -> dict:
    """All five metrics of one image, keyed as in METRICS."""
    truth, pred = as_binary(truth, pred)
    return {
        "dice": dice(truth, pred),
        "jaccard": jaccard(truth, pred),
        "thresholded_jaccard": thresholded_jaccard(truth, pred, threshold),
        "sensitivity": sensitivity(truth, pred),
        "specificity": specificity(truth, pred),
    }


def summary(
    rows: Sequence[dict],
    lesion_ids: Sequence,
    seed: int = 0,
    n_boot: int = 1000,
    alpha: float = 0.05,
) -> dict:
    """Mean of each metric over images, with a percentile interval from a lesion bootstrap.

    ``rows`` are ``scores`` dicts, one per image, ``lesion_ids`` their lesions: lesions are
    redrawn with replacement, each bringing all its images (images of one lesion are not
    independent). ``None`` values are left out per metric. Returns, per metric,
    ``{"mean", "ci95": [low, high], "n_images"}`` (mean and interval ``None`` when no image has
    a value), plus ``n_images`` and ``n_lesions``.
    """
    if len(rows) != len(lesion_ids):
        raise ValueError(f"summary: {len(rows)} rows but {len(lesion_ids)} lesion ids")
    if not rows:
        raise ValueError("summary: no rows")
    lesion_ids = np.asarray([str(x) for x in lesion_ids])
    out: dict = {"n_images": len(rows), "n_lesions": int(len(np.unique(lesion_ids)))}
    for name in METRICS:
        values = [row.get(name) for row in rows]
        keep = np.array([v is not None for v in values])
        kept = np.array([v for v in values if v is not None], dtype=np.float64)
        if not keep.any():
            out[name] = {"mean": None, "ci95": [None, None], "n_images": 0}
            continue
        low, high = bootstrap_ci(
            kept, kept, lambda v, _: float(np.mean(v)), n_boot=n_boot, alpha=alpha, seed=seed,
            groups=lesion_ids[keep],
        )
        out[name] = {"mean": float(kept.mean()), "ci95": [low, high], "n_images": int(keep.sum())}
    return out

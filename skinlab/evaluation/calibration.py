"""Calibration: temperature scaling fitted on val, expected calibration error, Brier score, and the
rows and figure of a reliability diagram.

Temperature scaling (Guo et al. 2017) divides the logits by one scalar T > 0 chosen to minimise
the negative log-likelihood of the val labels. It never changes which class is on top, so
accuracy and balanced accuracy stay as they are; only how sure the probabilities are moves.
The logits here are the log of the model's probabilities (with test-time augmentation, of the
mean over the views), which softmax maps back to the same probabilities at T = 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_BINS = 15
T_RANGE = (0.05, 20.0)  # the search interval of T; an optimum at either end is reported as such


def _logits(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(proba, np.float64), 1e-12, 1.0))


def scale(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with their logits divided by `temperature` (rows sum to 1)."""
    z = _logits(proba) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(y_idx: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.asarray(proba, np.float64)[np.arange(len(y_idx)), np.asarray(y_idx)]
    return float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))


def fit_temperature(y_idx: np.ndarray, proba: np.ndarray) -> float:
    """The T minimising the NLL of `y_idx` under scale(proba, T), searched on log T."""
    from scipy.optimize import minimize_scalar

    y_idx = np.asarray(y_idx)
    if len(y_idx) == 0:
        raise ValueError("fit_temperature: no val images to fit the temperature on")
    low, high = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    found = minimize_scalar(lambda log_t: nll(y_idx, scale(proba, np.exp(log_t))), bounds=(low, high),
                            method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


def at_search_bound(y_idx: np.ndarray, proba: np.ndarray, temperature: float) -> bool:
    """True when an end of T_RANGE fits val as well as `temperature` does: the NLL keeps falling
    towards T -> 0 (val perfectly separated) or T -> infinity, and no temperature is identified."""
    best = nll(y_idx, scale(proba, temperature))
    return any(nll(y_idx, scale(proba, end)) <= best + 1e-9 for end in T_RANGE)


def _bins(y_idx: np.ndarray, proba: np.ndarray, n_bins: int):
    proba = np.asarray(proba, np.float64)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == np.asarray(y_idx)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds confidences in (edges[b], edges[b + 1]]; a confidence of exactly 0 goes to bin 0
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    return edges, which, confidence, correct


def expected_calibration_error(y_idx: np.ndarray, proba: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE of the top-1 prediction: sum over equal-width confidence bins of
    (share of images in the bin) x |accuracy in the bin - mean confidence in the bin|."""
    edges, which, confidence, correct = _bins(y_idx, proba, n_bins)
    total = 0.0
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def ece_floor(proba: np.ndarray, n_bins: int = N_BINS, n_sims: int = 500, seed: int = 0) -> dict:
    """What ECE sampling alone gives on this many images: the ECE of these same top-1 confidences
    were they perfectly calibrated (each prediction right with probability its confidence),
    over `n_sims` simulated outcomes. Returns the mean and the 95th percentile: a measured ECE
    below the percentile is within what a perfectly calibrated model shows on this test set."""
    _, which, confidence, _ = _bins(np.zeros(len(proba), int), proba, n_bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    rng = np.random.default_rng(seed)
    values = np.empty(n_sims)
    for i in range(n_sims):
        right = rng.random(confidence.shape) < confidence
        right_sum = np.bincount(which, weights=right.astype(float), minlength=n_bins)
        values[i] = np.abs(right_sum - conf_sum).sum() / len(confidence)
    return {"mean": float(values.mean()), "p95": float(np.percentile(values, 95)), "n_sims": n_sims}


def brier_score(y_idx: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Brier score: mean over images of the squared distance to the one-hot label."""
    proba = np.asarray(proba, np.float64)
    onehot = np.eye(proba.shape[1])[np.asarray(y_idx)]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def reliability_rows(y_idx: np.ndarray, proba: np.ndarray, label: str, n_bins: int = N_BINS) -> list[dict]:
    """One row per non-empty bin: {model, bin, confidence, accuracy, count} (a DVC plot)."""
    edges, which, confidence, correct = _bins(y_idx, proba, n_bins)
    rows = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            rows.append({"model": label, "bin": f"{edges[b]:.3f}-{edges[b + 1]:.3f}",
                         "confidence": round(float(confidence[inside].mean()), 6),
                         "accuracy": round(float(correct[inside].mean()), 6), "count": int(inside.sum())})
    return rows


def summary(y_idx: np.ndarray, before: np.ndarray, after: np.ndarray) -> dict:
    """ECE and Brier score of the same images before and after scaling."""
    return {"ece_before": expected_calibration_error(y_idx, before), "ece_after": expected_calibration_error(y_idx, after),
            "brier_before": brier_score(y_idx, before), "brier_after": brier_score(y_idx, after),
            "nll_before": nll(y_idx, before), "nll_after": nll(y_idx, after), "n_bins": N_BINS, "n_images": len(y_idx),
            "ece_if_calibrated": ece_floor(after)}


def reliability_figure(curves: Sequence[tuple[str, list[dict]]], title: str):
    """Accuracy against mean confidence per bin for each (label, rows), the diagonal for reference."""
    from skinlab.evaluation import plots

    fig = plots.figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfectly calibrated")
    for label, rows in curves:
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], marker="o", linewidth=1.2,
                markersize=3, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(f"mean confidence of the top class ({N_BINS} bins)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return plots.finish(fig, plots.FOOTER)

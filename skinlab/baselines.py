"""The train_baselines stage's work: every (feature set, classical model) pair, chosen on val, graded on test.

Features are computed once per set, streaming images from disk (only the feature matrices
stay in memory); each model's hyper-parameters are picked on the val split by balanced
accuracy, and the best pair overall is picked the same way, never on test.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab.data import dataset
from skinlab.data.schema import CLASSES, MALIGNANT
from skinlab.evaluation.classification import balanced_accuracy, bootstrap_ci, classification_report
from skinlab.features.registry import FeatureExtractor
from skinlab.models import classical
from skinlab.params import TrainBaselines

log = logging.getLogger(__name__)
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc_ovr", "malignant_auc")


@dataclasses.dataclass
class Features:
    extractor: FeatureExtractor
    X: dict[str, np.ndarray]  # split -> (n, dim)
    seconds: float


@dataclasses.dataclass
class PairResult:
    features: str
    model: str
    hyper: dict
    val_balanced_accuracy: float
    test_report: dict
    test_proba: np.ndarray
    pipeline: object
    extractor: FeatureExtractor

    @property
    def name(self) -> str:
        return f"{self.features}+{self.model}"


def extractor_params(name: str, cfg: TrainBaselines, seed: int) -> dict:
    if name.startswith("pixels"):
        return {"size": cfg.pixels_size}
    if name == "hog":
        return {"cells": cfg.hog_cells}
    if name == "sift_bow":
        return {"n_words": cfg.bow_words, "seed": seed}
    return {}


def compute_features(name: str, cfg: TrainBaselines, seed: int, root: Path, frames: dict[str, pd.DataFrame]) -> Features:
    start = time.perf_counter()
    extractor = FeatureExtractor(name, extractor_params(name, cfg, seed))
    if extractor.needs_fit:
        extractor.fit(dataset.iter_images(root, frames["train"]))
    X = {split: extractor.transform(dataset.iter_images(root, frame)) for split, frame in frames.items()}
    return Features(extractor, X, time.perf_counter() - start)


def predicted_labels(proba: np.ndarray) -> np.ndarray:
    """The class of highest probability per row (columns in CLASSES order)."""
    return np.asarray(CLASSES)[np.argmax(proba, axis=1)]


def balanced_accuracy_ci(y_true: np.ndarray, proba: np.ndarray, lesions: np.ndarray, seed: int, n_boot: int = 500) -> list:
    """95% interval of test balanced accuracy, redrawing whole lesions (small test sets vary a lot)."""
    low, high = bootstrap_ci(y_true, predicted_labels(proba), balanced_accuracy, n_boot=n_boot, seed=seed, groups=lesions)
    return [low, high]


def fit_pair(features: Features, model: str, labels: dict[str, np.ndarray], cfg: TrainBaselines, seed: int) -> PairResult:
    X = features.X
    pipeline, hyper, val_score, _ = classical.select_on_val(
        model, X["train"], labels["train"], X["val"], labels["val"], seed, cfg.grid_size, groups=labels.get("train_lesions")
    )
    proba = classical.predict_proba_full(pipeline, X["test"], CLASSES)
    report = classification_report(labels["test"], proba, CLASSES)
    report["balanced_accuracy_ci95"] = balanced_accuracy_ci(labels["test"], proba, labels["test_lesions"], seed)
    return PairResult(features.extractor.name, model, hyper, val_score, report, proba, pipeline, features.extractor)


def headline(report: dict) -> dict:
    """The test entry of a metrics file (train_baselines' pairs, train_cnn): headline numbers of a report."""
    test = {key: report[key] for key in HEADLINE}
    test["balanced_accuracy_ci95"] = report["balanced_accuracy_ci95"]
    test["melanoma_sensitivity"] = report["melanoma"]["sensitivity"]
    test["melanoma_specificity"] = report["melanoma"]["specificity"]
    test["per_class_recall"] = {dx: report["per_class"][dx]["recall"] for dx in CLASSES}
    return test


def summary(result: PairResult) -> dict:
    """The per-pair entry of metrics/train_baselines.json."""
    return {"features": result.features, "model": result.model, "hyper": classical.hyper_to_json(result.hyper),
            "val_balanced_accuracy": result.val_balanced_accuracy, "test": headline(result.test_report)}


def pick_best(results: list[PairResult]) -> PairResult:
    """Highest val balanced accuracy; ties keep the earlier pair (params order)."""
    return max(results, key=lambda r: (r.val_balanced_accuracy, -results.index(r)))


def predictions_frame(frame: pd.DataFrame, proba: np.ndarray) -> pd.DataFrame:
    columns = [c for c in ("image_id", "lesion_id", "dx", "fitzpatrick", "ita", "age", "sex", "localization") if c in frame]
    out = frame[columns].reset_index(drop=True).copy()
    for i, dx in enumerate(CLASSES):
        out[f"p_{dx}"] = np.round(proba[:, i], 6)
    out["predicted"] = predicted_labels(proba)
    return out


def malignant_roc_rows(y_true: np.ndarray, proba: np.ndarray) -> list[dict]:
    """ROC of malignant (mel, bcc, akiec) vs benign, scored by their summed probability."""
    from sklearn.metrics import roc_curve

    malignant = np.isin(y_true, MALIGNANT)
    if malignant.all() or not malignant.any():
        return []
    score = proba[:, [CLASSES.index(dx) for dx in MALIGNANT]].sum(axis=1)
    fpr, tpr, _ = roc_curve(malignant, score)
    return [{"fpr": round(float(f), 6), "tpr": round(float(t), 6)} for f, t in zip(fpr, tpr)]

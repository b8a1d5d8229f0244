"""fairness_eval's mitigation: train_cnn's recipe (with the hyperparameters its search chose)
trained again with loss weights that balance the skin-tone groups of the training images, so
the gap between groups can be compared before and after on the same test images."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import fairness_report, params, seeding, tuning
from skinlab.data import dataset, tfdata
from skinlab.data.schema import CLASSES
from skinlab.evaluation.fairness import UNKNOWN

log = logging.getLogger(__name__)


def group_weights(groups: np.ndarray, base: np.ndarray, max_weight: float) -> tuple[np.ndarray, dict]:
    """A factor per image such that every known group carries the same share of the loss, where
    `base` is each image's loss weight without it (its class weight): group g gets
    B / (G B_g), B_g its images' summed base, capped at `max_weight` (a handful of images must
    not dominate the loss); images of no known group (UNKNOWN) get 1. The factors are scaled so
    the summed loss weight stays B. Returns (factors, {"weights", "loss_share", "capped"})."""
    groups, base = np.asarray(groups, str), np.asarray(base, np.float64)
    known = groups != UNKNOWN
    names = sorted(set(groups[known].tolist()))
    totals = {name: base[groups == name].sum() for name in names}
    raw = {name: base[known].sum() / (len(names) * totals[name]) for name in names}
    capped = sorted(name for name, w in raw.items() if w > max_weight)
    raw = {name: min(max_weight, w) for name, w in raw.items()}
    factors = np.array([raw.get(g, 1.0) for g in groups], np.float64)
    scale = base.sum() / (base * factors).sum()
    factors *= scale
    share = {name: float((base * factors)[groups == name].sum() / base.sum()) for name in names}
    if not known.all():
        share[UNKNOWN] = float((base * factors)[~known].sum() / base.sum())
    return factors.astype(np.float32), {"weights": {name: float(w * scale) for name, w in raw.items()},
                                        "loss_share": share, "capped": capped}


def tuned_config(cfg: params.TrainCnn, train_cnn_metrics: dict) -> params.TrainCnn:
    """train_cnn's final config: params.yaml's, with the search's best values when it searched."""
    best = (train_cnn_metrics.get("tuner") or {}).get("best_hyperparameters")
    return tuning.apply(cfg, best) if best else cfg


def retrain(cfg: params.Params, train_cnn_metrics: dict, raw: Path, split_dir: Path, tones: pd.DataFrame,
            grouping: str, max_weight: float, tones_path: Path) -> tuple[pd.DataFrame, dict]:
    """(test predictions of the reweighed CNN, in the layout of models/cnn/test_predictions.csv;
    what the mitigation did). Deterministic like train_cnn: same inputs, same numbers."""
    from skinlab import cnn_report, cnn_train, distribute
    from skinlab.models import metadata

    tc, seed = tuned_config(cfg.train_cnn, train_cnn_metrics), cfg.base.seed
    frames = {split: dataset.read_index(split_dir, split) for split in ("train", "val", "test")}
    tables = {split: tfdata.table(raw, frame, metadata.encode(frame, tc.metadata)) for split, frame in frames.items()}
    train_tones = fairness_report.tones_for(frames["train"], tones, tones_path, "training")
    groups = fairness_report.labels(train_tones, grouping)
    class_weight = tfdata.class_weights(tables["train"].labels, tc.class_weight)[tables["train"].labels]
    weights, balance = group_weights(groups, class_weight, max_weight)
    seeding.set_all(seed)
    cnn_train.deterministic(seed)
    strategy = distribute.strategy(tc.strategy)
    result = cnn_train.train(tc, tables["train"], tables["val"], seed, strategy, image_weights=weights)
    log.info("reweighed CNN: best epoch %d of %d, %s %.3f (%.0fs)", result.best_epoch, len(result.curve), tc.monitor,
             result.best_value, result.seconds)
    data = {split: tfdata.eval_dataset(tables[split], tc.image_size, tc.batch_size) for split in ("val", "test")}
    proba, calibrated, _ = cnn_report.calibrate(tc.calibration, frames["val"], cnn_train.predict(result.model, data["val"], tc.tta),
                                                frames["test"], cnn_train.predict(result.model, data["test"], tc.tta))
    predictions = frames["test"][["image_id", "lesion_id", "dx"]].reset_index(drop=True)
    predictions[[f"p_{c}" for c in CLASSES]] = np.round(proba, 6)  # as train_cnn writes them
    counts = {name: int((groups == name).sum()) for name in dict.fromkeys(groups)}
    info = {"method": "reweigh", "grouping": grouping, "max_weight": max_weight, "train_images": counts, **balance,
            "class_weight": tc.class_weight, "sampling": tc.sampling, "best_epoch": result.best_epoch,
            "epochs_run": len(result.curve), "val_best": float(result.best_value), "monitor": tc.monitor,
            "temperature": calibrated["temperature"],
            "hyperparameters": {"learning_rate": tc.learning_rate, "dropout": tc.dropout, "filters": list(tc.filters),
                                "epochs": tc.epochs, "arch": tc.arch, "image_size": tc.image_size,
                                "tuned": bool((train_cnn_metrics.get("tuner") or {}).get("best_hyperparameters"))}}
    return predictions, info

"""train_cnn's evaluation: the metric schema of train_baselines, the paired comparison with the
best baseline, and the DVC plots (confusion, ROC, training curves)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import baselines, io
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES
from skinlab.evaluation import classification, plots


def test_report(y_test: np.ndarray, proba: np.ndarray, lesions: np.ndarray, seed: int, n_boot: int) -> dict:
    """classification_report plus the lesion-bootstrap interval, exactly as train_baselines makes it."""
    report = classification.classification_report(y_test, proba, CLASSES)
    report["balanced_accuracy_ci95"] = baselines.balanced_accuracy_ci(y_test, proba, lesions, seed, n_boot)
    return report


def load_baseline(test: pd.DataFrame, predictions_csv: Path, baseline_metrics: Path) -> tuple[str, np.ndarray] | None:
    """The best baseline's name and its predicted class per test image, in `test` order.

    None when the predictions are absent (a run without train_baselines: no comparison); an
    error, before any training, when they cover other images than this test split.
    """
    predictions_csv, baseline_metrics = Path(predictions_csv), Path(baseline_metrics)
    if not predictions_csv.exists():
        return None
    theirs = pd.read_csv(predictions_csv, dtype={"image_id": str}, keep_default_na=False)
    if "predicted" not in theirs or "image_id" not in theirs:
        raise InputError(f"{predictions_csv}: needs image_id and predicted columns")
    ours = list(test["image_id"])
    if sorted(theirs["image_id"]) != sorted(ours):
        raise InputError(f"{predictions_csv}: its {len(theirs)} images are not this test split's {len(ours)} "
                         "(rerun train_baselines on the same data and split)")
    name = "best baseline"
    if baseline_metrics.exists():
        best = io.read_json(baseline_metrics)["best"]
        name = f"{best['features']}+{best['model']}"
    return name, theirs.set_index("image_id").loc[ours, "predicted"].to_numpy(dtype=str)


def compare_with_baseline(test: pd.DataFrame, proba: np.ndarray, baseline: tuple[str, np.ndarray] | None,
                          seed: int, n_boot: int) -> dict | None:
    """Test balanced accuracy of the CNN minus the best baseline's, paired by image, lesion-bootstrapped."""
    if baseline is None:
        return None
    name, baseline_pred = baseline
    y = test["dx"].to_numpy(dtype=str)
    result = classification.paired_difference_ci(
        y, baselines.predicted_labels(proba), baseline_pred, classification.balanced_accuracy,
        n_boot=n_boot, seed=seed, groups=test["lesion_id"].to_numpy())
    return {"baseline": name, "metric": "test balanced accuracy", "cnn": result["a"], "baseline_value": result["b"],
            "difference": result["difference"], "difference_ci95": result["ci95"],
            "ci_excludes_zero": result["excludes_zero"], "n_boot": n_boot, "paired_by": "image, lesion bootstrap"}


def metrics(report: dict, train, cfg, comparison: dict | None, trained_on: str, n_params: int) -> dict:
    """metrics/train_cnn.json: no timings, so the same params give the same file bit for bit."""
    return {"test": baselines.headline(report), "test_report": report,
            "val_balanced_accuracy_best": train.curve[train.best_epoch - 1]["val_balanced_accuracy"],
            "val_macro_auc_best": train.curve[train.best_epoch - 1]["val_macro_auc"],
            "best_epoch": train.best_epoch, "epochs_run": len(train.curve), "monitor": cfg.monitor,
            "arch": cfg.arch, "weights": cfg.weights, "image_size": cfg.image_size, "parameters": n_params,
            "metadata": list(cfg.metadata), "vs_best_baseline": comparison, "trained_on": trained_on}


def write_plots(out: Path, y_test: np.ndarray, proba: np.ndarray, report: dict, curve: list[dict], title: str) -> None:
    out = Path(out)
    predicted = baselines.predicted_labels(proba)
    io.write_json(out / "confusion.json", classification.confusion_rows(list(y_test), list(predicted)))
    plots.save_confusion_png(report["confusion_matrix"], CLASSES, out / "confusion.png", title)
    io.write_json(out / "roc_malignant.json", baselines.malignant_roc_rows(y_test, proba))
    plots.save_roc_png(list(y_test), proba, CLASSES, out / "roc.png", f"ROC one-vs-rest, {title}")
    rows = [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()} for row in curve]
    io.write_csv(out / "training.csv", pd.DataFrame(rows))


def write_model(out: Path, model, test: pd.DataFrame, proba: np.ndarray, val: pd.DataFrame,
                val_embeddings: np.ndarray, test_embeddings: np.ndarray, card: dict) -> None:
    """models/cnn/: model.keras, test_predictions.csv (the baselines' columns), embeddings.npz, model_card.json."""
    with io.atomic_dir(out) as tmp:
        model.save(tmp / "model.keras")
        io.write_csv(tmp / "test_predictions.csv", baselines.predictions_frame(test, proba))
        np.savez_compressed(tmp / "embeddings.npz",
                            val=val_embeddings, val_image_id=val["image_id"].to_numpy(dtype=str),
                            val_dx=val["dx"].to_numpy(dtype=str),
                            test=test_embeddings, test_image_id=test["image_id"].to_numpy(dtype=str),
                            test_dx=test["dx"].to_numpy(dtype=str))
        io.write_json(tmp / "model_card.json", card)

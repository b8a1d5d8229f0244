"""train_cnn's evaluation: the metric schema of train_baselines, the paired comparison with the
best baseline, and the DVC plots (confusion, ROC, training curves)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import DISCLAIMER, baselines, io
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES
from skinlab.evaluation import calibration, classification, plots
from skinlab.tta import TTA_MODES, TTA_VIEWS, combine_views


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


def calibrate(method: str, val: pd.DataFrame, val_proba: np.ndarray, test: pd.DataFrame,
              test_proba: np.ndarray) -> tuple[np.ndarray, dict, list[dict]]:
    """Temperature scaling fitted on val, applied to test: (test probabilities to save, the
    metrics entry, reliability rows of test before and after). `none` keeps the probabilities.

    A fitted T at either end of the search interval means val is separated perfectly (or not at
    all) and says nothing about calibration: T stays 1 and the entry says why.
    """
    y_val, y_test = (np.array([CLASSES.index(dx) for dx in frame["dx"]]) for frame in (val, test))
    entry = {"method": method, "temperature": 1.0, "fitted_on": "val", "at_search_bound": False}
    if method == "temperature":
        fitted = calibration.fit_temperature(y_val, val_proba)
        entry["at_search_bound"] = calibration.at_search_bound(y_val, val_proba, fitted)
        entry["fitted_temperature"] = fitted
        entry["temperature"] = 1.0 if entry["at_search_bound"] else fitted
    temperature = entry["temperature"]
    scaled = test_proba if temperature == 1.0 else calibration.scale(test_proba, temperature)
    val_scaled = val_proba if temperature == 1.0 else calibration.scale(val_proba, temperature)
    entry.update(val_nll_before=calibration.nll(y_val, val_proba), val_nll_after=calibration.nll(y_val, val_scaled),
                 test=calibration.summary(y_test, test_proba, scaled))
    rows = calibration.reliability_rows(y_test, test_proba, "before scaling")
    if temperature != 1.0:
        rows += calibration.reliability_rows(y_test, scaled, f"after (T = {temperature:.2f})")
    return scaled, entry, rows


def metrics(report: dict, train, cfg, comparison: dict | None, trained_on: str, n_params: int,
            calibrated: dict | None = None, exported: dict | None = None, tta: dict | None = None,
            tuned: dict | None = None) -> dict:
    """metrics/train_cnn.json: no timings, so the same params give the same file bit for bit."""
    return {"test": baselines.headline(report), "test_report": report,
            "val_balanced_accuracy_best": train.curve[train.best_epoch - 1]["val_balanced_accuracy"],
            "val_macro_auc_best": train.curve[train.best_epoch - 1]["val_macro_auc"],
            "best_epoch": train.best_epoch, "epochs_run": len(train.curve), "monitor": cfg.monitor,
            "arch": cfg.arch, "weights": cfg.weights, "image_size": cfg.image_size, "parameters": n_params,
            "metadata": list(cfg.metadata), "vs_best_baseline": comparison, "calibration": calibrated,
            "export": exported, "tta": cfg.tta, "tta_effect": tta, "tuner": tuned, "trained_on": trained_on}


def write_plots(out: Path, y_test: np.ndarray, proba: np.ndarray, report: dict, curve: list[dict], title: str,
                reliability: list[dict] | None = None) -> None:
    out = Path(out)
    if reliability is not None:
        io.write_json(out / "reliability.json", reliability)
        curves = [(label, [r for r in reliability if r["model"] == label]) for label in dict.fromkeys(r["model"] for r in reliability)]
        plots.save_png(calibration.reliability_figure(curves, f"Reliability, {title}"), out / "reliability.png")
    predicted = baselines.predicted_labels(proba)
    io.write_json(out / "confusion.json", classification.confusion_rows(list(y_test), list(predicted)))
    plots.save_confusion_png(report["confusion_matrix"], CLASSES, out / "confusion.png", title)
    io.write_json(out / "roc_malignant.json", baselines.malignant_roc_rows(y_test, proba))
    plots.save_roc_png(list(y_test), proba, CLASSES, out / "roc.png", f"ROC one-vs-rest, {title}")
    rows = [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()} for row in curve]
    io.write_csv(out / "training.csv", pd.DataFrame(rows))


def export_tflite(model, test_ds, keras_proba: np.ndarray, y_test: np.ndarray, tolerance: float = 0.01):
    """TFLite float32 and dynamic-range quantised versions: (files to write, the metrics entry).

    Both are run on the test split and compared with the Keras model's probabilities (without
    test-time augmentation, as the TFLite model runs one view); the quantised file is kept only
    when its test balanced accuracy is within `tolerance` of the Keras model's.
    """
    from skinlab import export

    keras_bacc = classification.balanced_accuracy(y_test, baselines.predicted_labels(keras_proba))
    files, entry = {}, {"compared_on": "test split, one view (no TTA), probabilities before temperature scaling",
                        "keras_balanced_accuracy": keras_bacc}
    for name, quantize, file in (("float32", False, "model.tflite"), ("dynamic_range_int8", True, "model_quant.tflite")):
        content = export.to_tflite(model, quantize)
        proba = export.predict_dataset(export.TfliteModel(content), test_ds)
        bacc = classification.balanced_accuracy(y_test, baselines.predicted_labels(proba))
        kept = not quantize or abs(bacc - keras_bacc) <= tolerance
        entry[name] = {"file": file if kept else None, "kept": kept, "size_bytes": len(content),
                       "balanced_accuracy": bacc,
                       "agreement": {k: v for k, v in export.agreement(keras_proba, proba).items()
                                     if k != "top1_disagreement_rows"}}
        if kept:
            files[file] = content
    return files, entry


def write_model(out: Path, model, test: pd.DataFrame, proba: np.ndarray, val: pd.DataFrame,
                val_embeddings: np.ndarray, test_embeddings: np.ndarray, card: dict,
                extra_files: dict[str, bytes] | None = None) -> None:
    """models/cnn/: model.keras, test_predictions.csv (the baselines' columns), embeddings.npz,
    model_card.json, and `extra_files` (the TFLite exports)."""
    with io.atomic_dir(out) as tmp:
        model.save(tmp / "model.keras")
        for name, content in (extra_files or {}).items():
            (tmp / name).write_bytes(content)
        io.write_csv(tmp / "test_predictions.csv", baselines.predictions_frame(test, proba))
        np.savez_compressed(tmp / "embeddings.npz",
                            val=val_embeddings, val_image_id=val["image_id"].to_numpy(dtype=str),
                            val_dx=val["dx"].to_numpy(dtype=str),
                            test=test_embeddings, test_image_id=test["image_id"].to_numpy(dtype=str),
                            test_dx=test["dx"].to_numpy(dtype=str))
        io.write_json(tmp / "model_card.json", card)


def data_description(raw_metrics: Path, frames: dict[str, pd.DataFrame]) -> tuple[str, str]:
    """The data source (from download's metrics) and a line naming it with the split sizes."""
    raw_metrics = Path(raw_metrics)
    source = io.read_json(raw_metrics).get("source", "unknown") if raw_metrics.exists() else "unknown"
    counts = ", ".join(f"{split} {len(frame)}" for split, frame in frames.items())
    return source, f"data source '{source}' (images: {counts})"


INTENDED_USE = ("Research and teaching: studying how a CNN classifies dermoscopy images of the seven HAM10000 "
                "classes, on data like its training data. Not for screening, diagnosis or any decision on care; "
                "not validated on other cameras, populations or non-dermoscopic photos.")


def model_card(cfg, metadata_columns: list[str], trained_on: str, calibrated: dict, headline: dict,
               hyperparameters: dict | None = None) -> dict:
    """models/cnn/model_card.json: what a user of the exported model needs to run and judge it."""
    cal_test = calibrated.get("test", {})
    return {"arch": cfg.arch, "weights": cfg.weights, "classes": list(CLASSES), "image_size": cfg.image_size,
            "input": "RGB 0..255 float32, centre-cropped to a square and resized (area) to image_size",
            "metadata": list(cfg.metadata), "metadata_columns": metadata_columns,
            "tta": {"mode": cfg.tta, "views": [list(view) for view in TTA_VIEWS[cfg.tta]],
                    "view": "(quarter turns, mirrored left-right first); the saved probabilities average them"},
            "temperature": calibrated["temperature"],
            "calibration": {"method": calibrated["method"], "fitted_on": "val",
                            "apply": "softmax(log(p) / temperature), p the model's (TTA-averaged) output",
                            **{key: cal_test.get(key) for key in ("n_images", "ece_before", "ece_after",
                                                                  "brier_before", "brier_after", "n_bins")}},
            "test_metrics": {key: headline[key] for key in ("balanced_accuracy", "balanced_accuracy_ci95",
                                                            "macro_f1", "macro_auc_ovr", "melanoma_sensitivity",
                                                            "melanoma_specificity") if key in headline},
            "hyperparameters": hyperparameters,
            "trained_on": trained_on, "intended_use": INTENDED_USE, "disclaimer": DISCLAIMER}


def tta_effect(per_view: dict, y_test: np.ndarray, lesions: np.ndarray, seed: int, n_boot: int) -> dict:
    """The same model's test metrics under each test-time augmentation (before temperature scaling),
    with the paired lesion-bootstrap interval of each mode's balanced accuracy minus no TTA's."""
    effect, plain = {}, None
    for mode in TTA_MODES:
        proba = combine_views(per_view, mode)
        report = classification.classification_report(y_test, proba, CLASSES)
        predicted = baselines.predicted_labels(proba)
        entry = {"views": len(TTA_VIEWS[mode]), "balanced_accuracy": report["balanced_accuracy"],
                 "balanced_accuracy_ci95": baselines.balanced_accuracy_ci(y_test, proba, lesions, seed, n_boot),
                 "macro_auc_ovr": report["macro_auc_ovr"],
                 "nll": calibration.nll(np.array([CLASSES.index(dx) for dx in y_test]), proba)}
        if plain is None:
            plain = predicted
        else:
            paired = classification.paired_difference_ci(y_test, predicted, plain, classification.balanced_accuracy,
                                                          n_boot=n_boot, seed=seed, groups=lesions)
            entry["difference_vs_none"] = paired["difference"]
            entry["difference_vs_none_ci95"] = paired["ci95"]
        effect[mode] = entry
    return effect


def summary_line(report: dict, comparison: dict | None) -> str:
    line = f"test balanced accuracy {report['balanced_accuracy']:.3f}"
    if comparison:
        low, high = comparison["difference_ci95"]
        line += f" (best baseline {comparison['baseline_value']:.3f}, difference 95% CI {low:.3f}..{high:.3f})"
    return line


def write_gradcam(path: Path, model, table, test: pd.DataFrame, proba: np.ndarray, image_size: int, title: str) -> None:
    """plots/train_cnn/gradcam.png: Grad-CAM of the true class on one right and one wrong test image per class."""
    from skinlab import gradcam
    from skinlab.data import tfdata

    y_true = test["dx"].to_numpy(dtype=str)
    y_pred = baselines.predicted_labels(proba)
    grad_model = gradcam.grad_model_of(model)
    fused = len(model.inputs) > 1
    panels = []
    for dx, kind, row in gradcam.pick_examples(y_true, y_pred, CLASSES):
        if row is None:
            panels.append((f"{dx}, {kind}: none in test", None))
            continue
        image = tfdata.load_image(table.paths[row], image_size).numpy()
        cam, _ = gradcam.heatmap(model, image, CLASSES.index(dx), table.metadata[row] if fused else None, grad_model)
        caption = f"true {dx}, predicted {y_pred[row]} ({proba[row].max():.2f})\n{test['image_id'].iloc[row]}"
        panels.append((caption, gradcam.overlay(image, cam)))
    plots.save_png(gradcam.examples_figure(panels, f"Grad-CAM of the true class, {title}"), path)

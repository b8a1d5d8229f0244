import json

import joblib
import numpy as np
import pandas as pd
import pytest

from skinlab import io
from skinlab.data.schema import CLASSES
from stages import train_baselines


@pytest.fixture(scope="module")
def trained(small_pipeline, tmp_path_factory):
    """One run of the stage shared by the tests below: (output folder, metrics)."""
    out = tmp_path_factory.mktemp("train_baselines")
    return out, run(small_pipeline, out)


def run(paths, tmp_path):
    train_baselines.main(["--params", str(paths["params"]), "--data", str(paths["augmented"]),
                          "--raw-metrics", str(paths["metrics"] / "download.json"), "--out", str(tmp_path / "models"),
                          "--metrics", str(tmp_path / "tb.json"), "--plots", str(tmp_path / "plots")])
    return json.loads((tmp_path / "tb.json").read_text())


def test_stage_trains_every_pair_and_beats_chance(trained):
    tmp_path, metrics = trained
    assert set(metrics["pairs"]) == {"hsv_hist+logreg", "hsv_hist+forest", "lbp+logreg", "lbp+forest"}
    best = metrics["best"]
    # The best pair is the one with the highest val balanced accuracy, never chosen on test.
    assert best["val_balanced_accuracy"] == max(p["val_balanced_accuracy"] for p in metrics["pairs"].values())
    chance = 1 / len(CLASSES)
    assert best["test"]["balanced_accuracy"] > chance + 0.1
    assert best["test"]["macro_auc_ovr"] > 0.6
    assert set(best["test"]["per_class_recall"]) == set(CLASSES)
    assert 0 <= best["test"]["melanoma_sensitivity"] <= 1
    assert "synthetic" in metrics["trained_on"]
    # Plots for DVC and people.
    for name in ("confusion.json", "comparison.json", "roc_malignant.json", "confusion.png", "comparison.png", "roc.png"):
        assert (tmp_path / "plots" / name).exists(), name
    confusion = json.loads((tmp_path / "plots" / "confusion.json").read_text())
    assert len(confusion) == best["test_report"]["n"]


def test_saved_model_reproduces_saved_predictions(small_pipeline, trained):
    tmp_path, _ = trained
    bundle = joblib.load(tmp_path / "models" / "best.joblib")
    assert "not a medical device" in bundle["disclaimer"].lower()
    predictions = pd.read_csv(tmp_path / "models" / "test_predictions.csv", dtype={"image_id": str})
    test = pd.read_csv(small_pipeline["augmented"] / "test.csv", dtype=str, keep_default_na=False)
    assert list(predictions["image_id"]) == list(test["image_id"])
    row = test.iloc[0]
    image = io.read_image(small_pipeline["augmented"] / row["image"])
    vector = bundle["extractor"].transform_one(image)[None, :]
    proba = bundle["pipeline"].predict_proba(vector)[0]
    full = dict(zip(bundle["pipeline"].classes_, proba))
    for dx in CLASSES:
        assert abs(full.get(dx, 0.0) - predictions.loc[0, f"p_{dx}"]) < 1e-5
    assert np.allclose(predictions[[f"p_{dx}" for dx in CLASSES]].sum(axis=1), 1, atol=1e-4)


def test_every_pair_carries_a_lesion_bootstrap_interval(trained):
    _, metrics = trained
    for pair in metrics["pairs"].values():
        low, high = pair["test"]["balanced_accuracy_ci95"]
        assert low <= pair["test"]["balanced_accuracy"] <= high and high - low > 0

"""Temperature scaling, ECE and Brier score against hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from skinlab.evaluation import calibration


def test_ece_matches_a_hand_computed_case():
    # four images, two classes; top-class confidences 0.9, 0.9, 0.6, 0.55
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.55, 0.45]])
    y = np.array([0, 1, 1, 1])
    # 15 bins of width 1/15: 0.9 falls in (0.8667, 0.9333], 0.6 in (0.5333, 0.6], 0.55 in (0.5333, 0.6]
    # bin of 0.9: accuracy 1/2, confidence 0.9 -> |0.5 - 0.9| x 2/4 = 0.2
    # bin of 0.6 and 0.55: accuracy 1/2 (0.6 right, 0.55 wrong), confidence 0.575 -> 0.075 x 2/4 = 0.0375
    assert calibration.expected_calibration_error(y, proba) == pytest.approx(0.2375)
    # Brier: (0.01+0.01), (0.81+0.81), (0.16+0.16), (0.3025+0.3025) -> mean 0.6025
    assert calibration.brier_score(y, proba) == pytest.approx((0.02 + 1.62 + 0.32 + 0.605) / 4)
    rows = calibration.reliability_rows(y, proba, "model")
    assert [(r["count"], r["accuracy"]) for r in rows] == [(2, 0.5), (2, 0.5)]
    assert rows[0]["confidence"] == pytest.approx(0.575)


def test_temperature_scaling_fixes_an_over_confident_model_and_keeps_its_predictions():
    rng = np.random.default_rng(0)
    n, k = 4000, 5
    y = rng.integers(0, k, n)
    # a calibrated model: logits whose softmax is the true probability of each class ...
    logits = rng.normal(0, 1.0, (n, k))
    logits[np.arange(n), y] += 1.2
    calibrated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(k, p=p) for p in calibrated])  # labels drawn from those probabilities
    # ... made over-confident by sharpening its logits three times
    over = calibration.scale(calibrated, 1 / 3)
    t = calibration.fit_temperature(labels, over)
    assert t == pytest.approx(3.0, rel=0.1) and not calibration.at_search_bound(labels, over, t)
    fixed = calibration.scale(over, t)
    before = calibration.expected_calibration_error(labels, over)
    after = calibration.expected_calibration_error(labels, fixed)
    assert before > 0.15 and after < 0.03
    assert calibration.brier_score(labels, fixed) < calibration.brier_score(labels, over)
    np.testing.assert_array_equal(fixed.argmax(axis=1), over.argmax(axis=1))  # accuracy unchanged
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0)
    summary = calibration.summary(labels, over, fixed)
    assert summary["ece_before"] == before and summary["nll_after"] < summary["nll_before"]


def test_scale_by_one_is_the_identity_and_an_empty_val_is_an_error():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(calibration.scale(proba, 1.0), proba)
    with pytest.raises(ValueError, match="no val images"):
        calibration.fit_temperature(np.array([], int), np.zeros((0, 3)))


def test_reliability_figure_draws(tmp_path):
    from skinlab.evaluation import plots

    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    rows = calibration.reliability_rows(np.array([0, 1, 1]), proba, "before")
    path = plots.save_png(calibration.reliability_figure([("before", rows)], "test"), tmp_path / "r.png")
    assert path.stat().st_size > 1000


def test_a_perfectly_separated_val_keeps_t_at_one_and_says_so():
    import pandas as pd

    from skinlab import cnn_report
    from skinlab.data.schema import CLASSES

    val = pd.DataFrame({"dx": ["nv", "mel", "nv", "bcc"]})
    val_proba = np.full((4, len(CLASSES)), 0.02)
    for row, dx in enumerate(val["dx"]):
        val_proba[row, CLASSES.index(dx)] = 0.88  # every val image right: NLL falls as T -> 0
    test = pd.DataFrame({"dx": ["nv", "mel"]})
    test_proba = val_proba[:2][::-1]  # both wrong
    scaled, entry, rows = cnn_report.calibrate("temperature", val, val_proba, test, test_proba)
    assert entry["at_search_bound"] and entry["fitted_temperature"] < 0.2
    assert entry["temperature"] == 1.0 and scaled is test_proba
    assert {row["model"] for row in rows} == {"before scaling"}
    kept, none_entry, _ = cnn_report.calibrate("none", val, val_proba, test, test_proba)
    assert none_entry["temperature"] == 1.0 and none_entry["val_nll_after"] == none_entry["val_nll_before"]
    assert "fitted_temperature" not in none_entry


def test_ece_floor_is_what_a_calibrated_model_shows_on_that_many_images():
    from skinlab.evaluation import calibration

    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 200)
    proba = np.stack([confidence, 1 - confidence], axis=1)
    floor = calibration.ece_floor(proba, n_sims=300, seed=0)
    # labels drawn so the model IS calibrated: their ECEs scatter around the floor's mean
    drawn = [calibration.expected_calibration_error((rng.random(200) >= confidence).astype(int), proba)
             for _ in range(300)]
    assert floor["mean"] == pytest.approx(np.mean(drawn), rel=0.1)
    assert np.mean(np.array(drawn) <= floor["p95"]) == pytest.approx(0.95, abs=0.03)
    assert calibration.ece_floor(np.tile(proba, (25, 1)))["mean"] < floor["mean"] / 3  # more images, lower floor

"""Evaluation figures: valid PNGs, written atomically, each carrying the disclaimer."""

import cv2
import numpy as np
import pytest

from skinlab.data.schema import CLASSES
from skinlab.evaluation import plots

Y_TRUE = ["mel", "nv", "nv", "bcc", "mel", "nv", "bkl", "nv"]


def proba_for(y_true, seed=0):
    """Noisy but informative probabilities: the true class gets a head start."""
    rng = np.random.default_rng(seed)
    p = rng.random((len(y_true), len(CLASSES)))
    for row, label in enumerate(y_true):
        p[row, CLASSES.index(label)] += 0.8
    return p / p.sum(axis=1, keepdims=True)


def assert_png(path):
    assert path.exists()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_confusion_png(tmp_path):
    cm = np.arange(49).reshape(7, 7)
    path = plots.save_confusion_png(cm, CLASSES, tmp_path / "deep" / "er" / "cm.png", "test cm")
    assert_png(path)
    with pytest.raises(ValueError, match=r"shape \(3, 3\), expected \(7, 7\)"):
        plots.save_confusion_png(np.eye(3), CLASSES, tmp_path / "bad.png", "bad")
    assert not (tmp_path / "bad.png").exists()


def test_bar_png_with_an_undefined_value(tmp_path):
    path = plots.save_bar_png(["I-II", "III-IV", "V-VI"], [0.71, None, 0.4], tmp_path / "bar.png",
                              "balanced accuracy by skin type", "balanced accuracy")
    assert_png(path)


def test_roc_png_and_overwrite(tmp_path):
    path = tmp_path / "roc.png"
    path.write_bytes(b"old")
    plots.save_roc_png(Y_TRUE, proba_for(Y_TRUE), CLASSES, path, "roc")
    assert_png(path)


def test_every_figure_carries_the_disclaimer():
    figures = [
        plots.confusion_figure(np.eye(7, dtype=int), CLASSES, "t"),
        plots.bar_figure(["a"], [1.0], "t", "x"),
        plots.roc_figure(Y_TRUE, proba_for(Y_TRUE), CLASSES, "t"),
    ]
    assert plots.FOOTER == "Research use only - not a medical device."
    for fig in figures:
        assert plots.FOOTER in [t.get_text() for t in fig.texts]
    custom = plots.bar_figure(["a"], [1.0], "t", "x", footer="Synthetic data.")
    assert [t.get_text() for t in custom.texts] == ["Synthetic data."]


def test_roc_points_per_present_class_and_monotonic():
    rows = plots.roc_points(Y_TRUE, proba_for(Y_TRUE), CLASSES)
    assert set(rows[0]) == {"class", "fpr", "tpr"}
    # bkl and bcc appear once, mel twice, nv four times; akiec, df, vasc have no curve
    assert {r["class"] for r in rows} == {"bcc", "bkl", "mel", "nv"}
    for c in ("bcc", "bkl", "mel", "nv"):
        fpr = [r["fpr"] for r in rows if r["class"] == c]
        tpr = [r["tpr"] for r in rows if r["class"] == c]
        assert fpr[0] == 0.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert all(type(r["fpr"]) is float for r in rows)


def test_roc_points_perfect_scores_reach_the_corner():
    y = ["mel", "nv", "nv", "mel"]
    proba = np.zeros((4, 7))
    for row, label in enumerate(y):
        proba[row, CLASSES.index(label)] = 1.0
    mel = [(r["fpr"], r["tpr"]) for r in plots.roc_points(y, proba, CLASSES) if r["class"] == "mel"]
    assert (0.0, 1.0) in mel


def test_roc_rejects_unknown_labels():
    with pytest.raises(ValueError, match="'naevus'"):
        plots.roc_points(["mel", "naevus"], proba_for(["mel", "nv"]), CLASSES)

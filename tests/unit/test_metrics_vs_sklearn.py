"""Every metric of metrics/train_baselines.json against sklearn, on random data of several sizes
and class sets (classes absent from y_true, no melanoma column, two classes only)."""

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
    roc_auc_score,
)

from skinlab.baselines import PairResult, summary
from skinlab.data.schema import CLASSES
from skinlab.evaluation.classification import accuracy, balanced_accuracy, classification_report, macro_f1

MALIGNANT_BY_HAND = {"akiec", "bcc", "mel"}  # the README: malignant = mel, bcc, akiec
CASES = [
    (7, CLASSES),
    (40, CLASSES),
    (500, CLASSES),
    (30, ("bkl", "mel", "nv")),
    (200, ("akiec", "bcc", "df", "nv", "vasc")),  # no melanoma column
    (60, ("bcc", "mel")),
    (25, ("df", "nv", "vasc")),  # no malignant column
]
CASES = [pytest.param(n, classes, id=f"{n}-{'+'.join(classes) if len(classes) < 7 else 'all'}") for n, classes in CASES]
# sklearn's balanced accuracy warns when a class is predicted but absent; so does the data here.
pytestmark = pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true:UserWarning")


def random_case(n, classes, seed):
    """Uneven prevalences; probabilities that lean towards the true class for about half the rows."""
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, size=n, p=rng.dirichlet(np.ones(len(classes))))
    proba = rng.dirichlet(np.full(len(classes), 0.7), size=n)
    lean = rng.random(n) < 0.5
    onehot = (np.asarray(classes)[None, :] == y[:, None]).astype(float)
    proba[lean] = 0.5 * proba[lean] + 0.5 * onehot[lean]
    return y, proba


def sklearn_metrics(y, proba, classes):
    classes = list(classes)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    present = sorted(set(y))
    recalls = dict(zip(present, recall_score(y, pred, labels=present, average=None)))
    aucs = {c: roc_auc_score(y == c, proba[:, i]) for i, c in enumerate(classes) if 0 < np.sum(y == c) < len(y)}
    expected = {
        "pred": pred,
        "accuracy": accuracy_score(y, pred),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "macro_f1": f1_score(y, pred, labels=sorted(set(y) | set(pred)), average="macro", zero_division=0),
        "macro_auc_ovr": np.mean(list(aucs.values())) if aucs else None,
        "per_class_recall": {c: recalls.get(c) for c in classes},
        "per_class_auc": {c: aucs.get(c) for c in classes},
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
        "melanoma_sensitivity": None,
        "melanoma_specificity": None,
        "malignant_auc": None,
    }
    if "mel" in classes:
        if (y == "mel").any():
            expected["melanoma_sensitivity"] = recall_score(y == "mel", pred == "mel")
        if (y != "mel").any():
            expected["melanoma_specificity"] = recall_score(y == "mel", pred == "mel", pos_label=False)
    malignant_columns = [i for i, c in enumerate(classes) if c in MALIGNANT_BY_HAND]
    is_malignant = np.isin(y, list(MALIGNANT_BY_HAND))
    if malignant_columns and 0 < is_malignant.sum() < len(y):
        expected["malignant_auc"] = roc_auc_score(is_malignant, proba[:, malignant_columns].sum(axis=1))
    return expected


def same(value, expected):
    return value is None if expected is None else value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("n", "classes"), CASES)
def test_report_agrees_with_sklearn(n, classes, seed):
    y, proba = random_case(n, classes, seed)
    expected = sklearn_metrics(y, proba, classes)
    report = classification_report(y, proba, classes)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc_ovr", "malignant_auc"):
        assert same(report[key], expected[key]), key
    assert same(report["melanoma"]["sensitivity"], expected["melanoma_sensitivity"])
    assert same(report["melanoma"]["specificity"], expected["melanoma_specificity"])
    for c in classes:
        assert same(report["per_class"][c]["recall"], expected["per_class_recall"][c]), c
        assert same(report["per_class"][c]["auc"], expected["per_class_auc"][c]), c
    assert report["confusion_matrix"] == expected["confusion_matrix"]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("n", "classes"), CASES)
def test_label_metrics_agree_with_sklearn(n, classes, seed):
    """The label functions the lesion bootstrap uses."""
    y, proba = random_case(n, classes, seed)
    expected = sklearn_metrics(y, proba, classes)
    pred = expected["pred"]
    assert accuracy(y, pred) == pytest.approx(expected["accuracy"], abs=1e-12)
    assert balanced_accuracy(y, pred) == pytest.approx(expected["balanced_accuracy"], abs=1e-12)
    assert macro_f1(y, pred) == pytest.approx(expected["macro_f1"], abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n", [40, 300])
def test_metrics_file_entry_agrees_with_sklearn(n, seed):
    """The per-pair `test` entry of metrics/train_baselines.json, key by key."""
    y, proba = random_case(n, CLASSES, seed)
    expected = sklearn_metrics(y, proba, CLASSES)
    report = classification_report(y, proba, CLASSES)
    report["balanced_accuracy_ci95"] = [0.0, 1.0]
    entry = summary(PairResult("hog", "svm", {}, 0.5, report, proba, None, None))["test"]
    assert set(entry) == {"accuracy", "balanced_accuracy", "balanced_accuracy_ci95", "macro_f1", "macro_auc_ovr",
                          "malignant_auc", "melanoma_sensitivity", "melanoma_specificity", "per_class_recall"}
    for key in set(entry) - {"balanced_accuracy_ci95", "per_class_recall"}:
        assert same(entry[key], expected[key]), key
    assert set(entry["per_class_recall"]) == set(CLASSES)
    for c in CLASSES:
        assert same(entry["per_class_recall"][c], expected["per_class_recall"][c]), c

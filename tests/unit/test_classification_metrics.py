"""Classification metrics against values worked out by hand."""

import json

import numpy as np
import pytest

from skinlab.data.schema import CLASSES
from skinlab.evaluation.classification import (
    accuracy,
    balanced_accuracy,
    bootstrap_ci,
    classification_report,
    confusion_rows,
    macro_f1,
)

IDX = {c: i for i, c in enumerate(CLASSES)}  # akiec 0, bcc 1, bkl 2, df 3, mel 4, nv 5, vasc 6


def peaked(preds, top=0.625):
    """Rows with ``top`` on the predicted class and the rest spread evenly (0.0625 each).

    Powers of two keep sums exact, so tied scores stay tied in the AUCs below.
    """
    rest = (1.0 - top) / (len(CLASSES) - 1)
    proba = np.full((len(preds), len(CLASSES)), rest)
    for row, p in enumerate(preds):
        proba[row, IDX[p]] = top
    return proba


# Six samples, three classes present; bkl is predicted once but never true.
#   sample  true  pred
#   0       mel   mel   correct
#   1       mel   nv
#   2       nv    nv    correct
#   3       nv    mel
#   4       nv    bkl
#   5       bcc   bcc   correct
Y_TRUE = ["mel", "mel", "nv", "nv", "nv", "bcc"]
Y_PRED = ["mel", "nv", "nv", "mel", "bkl", "bcc"]


@pytest.fixture
def tiny():
    return classification_report(Y_TRUE, peaked(Y_PRED))


def test_tiny_example_headline_metrics(tiny):
    assert tiny["n"] == 6
    assert tiny["accuracy"] == pytest.approx(3 / 6)
    # recall: mel 1/2, nv 1/3, bcc 1/1 -> mean over the 3 present classes = (1/2+1/3+1)/3
    assert tiny["balanced_accuracy"] == pytest.approx(11 / 18)
    # F1 = 2TP/(support+predicted): mel 2/(2+2)=1/2, nv 2/(3+2)=2/5, bcc 2/(1+1)=1,
    # bkl 0/(0+1)=0 (predicted but absent still counts) -> (1/2 + 2/5 + 1 + 0)/4 = 19/40
    assert tiny["macro_f1"] == pytest.approx(19 / 40)
    # melanoma: 1 of 2 found; of 4 non-melanomas one (sample 3) was called mel
    assert tiny["melanoma"] == {"sensitivity": pytest.approx(1 / 2), "specificity": pytest.approx(3 / 4)}


def test_tiny_example_per_class(tiny):
    pc = tiny["per_class"]
    assert pc["mel"]["recall"] == pytest.approx(1 / 2)
    assert pc["nv"]["recall"] == pytest.approx(1 / 3)
    assert pc["bcc"]["recall"] == pytest.approx(1.0)
    assert pc["mel"]["precision"] == pytest.approx(1 / 2)  # predicted for samples 0 and 3
    assert pc["nv"]["precision"] == pytest.approx(1 / 2)  # predicted for samples 1 and 2
    assert pc["bkl"]["precision"] == 0.0
    assert pc["bkl"]["recall"] is None and pc["bkl"]["f1"] == 0.0
    assert pc["nv"]["f1"] == pytest.approx(2 / 5)
    assert [pc[c]["support"] for c in CLASSES] == [0, 1, 0, 0, 2, 3, 0]
    for absent in ("akiec", "df", "vasc"):
        assert pc[absent] == {"recall": None, "precision": None, "f1": None, "support": 0, "auc": None}


def test_tiny_example_auc_by_hand(tiny):
    # mel scores (p = 0.625 predicted, q = 0.0625 otherwise): positives {p, q}, negatives
    # {q, p, q, q}; of 8 pairs the p wins 3 and ties 1 (3.5), the q ties 3 (1.5) -> 5/8
    assert tiny["per_class"]["mel"]["auc"] == pytest.approx(5 / 8)
    # bcc: its one positive scores p, all five negatives q -> 1
    assert tiny["per_class"]["bcc"]["auc"] == pytest.approx(1.0)
    # nv: positives {p, q, q}, negatives {q, p, q} -> (2.5 + 1 + 1)/9 = 1/2
    assert tiny["per_class"]["nv"]["auc"] == pytest.approx(1 / 2)
    assert tiny["macro_auc_ovr"] == pytest.approx((5 / 8 + 1 + 1 / 2) / 3)
    # malignant score = p(akiec)+p(bcc)+p(mel): p+2q = 0.75 when mel or bcc is predicted,
    # else 3q = 0.1875. positives (0,1,5) {.75, .1875, .75}, negatives (2,3,4) {.1875, .75, .1875}
    # -> (2.5 + 2.5 + 1)/9 = 2/3
    assert tiny["malignant_auc"] == pytest.approx(2 / 3)


def test_tiny_example_confusion_matrix(tiny):
    expected = np.zeros((7, 7), dtype=int)
    for t, p in zip(Y_TRUE, Y_PRED):
        expected[IDX[t], IDX[p]] += 1
    assert tiny["confusion_matrix"] == expected.tolist()
    assert tiny["confusion_matrix"][IDX["nv"]][IDX["bkl"]] == 1  # rows true, columns predicted
    assert tiny["classes"] == list(CLASSES)


def test_label_functions_agree_with_report():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(1 / 2)
    assert balanced_accuracy(Y_TRUE, Y_PRED) == pytest.approx(11 / 18)
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx(19 / 40)


def test_agrees_with_sklearn_on_random_data():
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.choice(CLASSES, size=300, p=[0.05, 0.1, 0.1, 0.05, 0.1, 0.55, 0.05])
    proba = rng.dirichlet(np.ones(7), size=300)
    report = classification_report(y, proba)
    pred = np.array(CLASSES)[proba.argmax(axis=1)]
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    labels = sorted(set(y) | set(pred))
    assert report["macro_f1"] == pytest.approx(f1_score(y, pred, labels=labels, average="macro", zero_division=0))
    assert report["macro_auc_ovr"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", labels=list(CLASSES)))


def test_majority_class_predictor_is_exposed():
    y = ["nv"] * 80 + ["mel"] * 10 + ["bcc"] * 10
    report = classification_report(y, peaked(["nv"] * 100))
    assert report["accuracy"] == pytest.approx(0.8)
    assert report["balanced_accuracy"] == pytest.approx(1 / 3)  # 3 present classes
    assert report["melanoma"] == {"sensitivity": 0.0, "specificity": 1.0}
    # macro-F1: nv 2*80/(80+100) = 8/9, mel 0, bcc 0
    assert report["macro_f1"] == pytest.approx((8 / 9) / 3)


def test_perfect_and_reversed_scores():
    y = ["mel", "nv", "bcc", "nv", "mel", "bkl"]
    perfect = classification_report(y, peaked(y, top=0.94))
    assert perfect["accuracy"] == 1.0 and perfect["balanced_accuracy"] == 1.0
    assert perfect["macro_auc_ovr"] == 1.0 and perfect["malignant_auc"] == 1.0
    assert all(perfect["per_class"][c]["auc"] == 1.0 for c in ("mel", "nv", "bcc", "bkl"))

    # Two classes, each sample gives 0.9 to the wrong one: every ranking is backwards.
    y = ["mel", "mel", "nv", "nv", "nv"]
    proba = np.zeros((5, 7))
    for row, label in enumerate(y):
        proba[row, IDX[label]] = 0.1
        proba[row, IDX["nv" if label == "mel" else "mel"]] = 0.9
    reversed_ = classification_report(y, proba)
    assert reversed_["per_class"]["mel"]["auc"] == 0.0
    assert reversed_["per_class"]["nv"]["auc"] == 0.0
    assert reversed_["macro_auc_ovr"] == 0.0 and reversed_["malignant_auc"] == 0.0
    assert reversed_["accuracy"] == 0.0


def test_undefined_values_are_none_and_json_is_strict(tiny):
    only_mel = classification_report(["mel", "mel"], peaked(["mel", "nv"]))
    assert only_mel["per_class"]["mel"]["auc"] is None  # no negatives
    assert only_mel["per_class"]["nv"]["auc"] is None  # no positives
    assert only_mel["macro_auc_ovr"] is None and only_mel["malignant_auc"] is None
    assert only_mel["melanoma"] == {"sensitivity": 0.5, "specificity": None}
    assert only_mel["balanced_accuracy"] == 0.5
    for report in (tiny, only_mel):
        text = json.dumps(report, allow_nan=False)
        assert json.loads(text) == report


def test_numbers_are_plain_python():
    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                yield from walk(v)
        elif isinstance(x, list):
            for v in x:
                yield from walk(v)
        else:
            yield x

    report = classification_report(Y_TRUE, peaked(Y_PRED))
    assert all(v is None or type(v) in (int, float, str) for v in walk(report))


def test_unknown_label_is_named():
    with pytest.raises(ValueError, match=r"y_true\[2\] = 'melanoma'"):
        classification_report(["mel", "nv", "melanoma"], peaked(["mel", "nv", "nv"]))


@pytest.mark.parametrize(
    "proba, message",
    [
        (np.full((3, 6), 1 / 6), r"shape \(3, 6\), expected \(3, 7\)"),
        (np.full((2, 7), 1 / 7), r"shape \(2, 7\), expected \(3, 7\)"),
        (np.vstack([peaked(["mel", "nv"]), np.full((1, 7), 0.5)]), "row 2 sums to 3.5"),
        (np.vstack([peaked(["mel"]), [[np.nan] * 7], peaked(["nv"])]), "row 1 holds NaN"),
        (np.vstack([peaked(["mel", "nv"]), [[1.5, -0.5, 0, 0, 0, 0, 0]]]), "row 2 holds a negative"),
    ],
)
def test_bad_proba_is_rejected(proba, message):
    with pytest.raises(ValueError, match=message):
        classification_report(["mel", "nv", "bcc"], proba)


def test_float32_softmax_rounding_is_accepted():
    proba = peaked(Y_PRED).astype(np.float32) * np.float32(1.0004)
    assert classification_report(Y_TRUE, proba)["accuracy"] == pytest.approx(0.5)


def test_confusion_rows():
    rows = confusion_rows(["mel", "nv"], ["nv", "nv"])
    assert rows == [{"actual": "mel", "predicted": "nv"}, {"actual": "nv", "predicted": "nv"}]
    with pytest.raises(ValueError, match=r"y_pred\[1\] = 'naevus'"):
        confusion_rows(["mel", "nv"], ["nv", "naevus"], classes=CLASSES)
    with pytest.raises(ValueError, match="2 labels but y_pred has 1"):
        confusion_rows(["mel", "nv"], ["nv"])


def _labels_with_accuracy(n, rng):
    y = rng.choice(["mel", "nv", "bcc"], size=n)
    pred = np.where(rng.random(n) < 0.7, y, "bkl")
    return y, pred


def test_bootstrap_ci_contains_estimate_and_narrows():
    rng = np.random.default_rng(0)
    y_small, p_small = _labels_with_accuracy(40, rng)
    y_big, p_big = _labels_with_accuracy(1000, rng)
    low_s, high_s = bootstrap_ci(y_small, p_small, accuracy, n_boot=400, seed=1)
    low_b, high_b = bootstrap_ci(y_big, p_big, accuracy, n_boot=400, seed=1)
    assert low_s <= accuracy(y_small, p_small) <= high_s
    assert low_b <= accuracy(y_big, p_big) <= high_b
    assert high_b - low_b < (high_s - low_s) / 2  # ~sqrt(25) = 5x narrower in theory
    assert bootstrap_ci(y_small, p_small, accuracy, n_boot=50, seed=7) == bootstrap_ci(
        y_small, p_small, accuracy, n_boot=50, seed=7
    )


def test_bootstrap_ci_on_probabilities_and_undefined_metric():
    y = ["mel", "nv", "nv", "bcc", "mel", "nv", "nv", "nv"]
    proba = peaked(["mel", "nv", "mel", "bcc", "nv", "nv", "nv", "bkl"])

    def auc(yt, p):
        return classification_report(yt, p)["macro_auc_ovr"]

    low, high = bootstrap_ci(y, proba, auc, n_boot=60, seed=0)
    assert 0.0 <= low <= auc(y, proba) <= high <= 1.0
    assert bootstrap_ci(y, proba, lambda yt, p: None, n_boot=5) == (None, None)
    with pytest.raises(ValueError, match="n_boot must be >= 1"):
        bootstrap_ci(y, proba, auc, n_boot=0)
    with pytest.raises(ValueError, match="8 samples but y_pred_or_proba has 7"):
        bootstrap_ci(y, proba[:7], auc)


def test_group_bootstrap_redraws_whole_groups_and_is_wider_for_correlated_rows():
    from skinlab.evaluation.classification import accuracy, bootstrap_ci

    # 20 lesions with 10 identical images each: each lesion is all right or all wrong.
    y_true = np.array(["nv"] * 200)
    y_pred = np.array(["nv" if (i // 10) % 2 == 0 else "mel" for i in range(200)])
    groups = [f"L{i // 10}" for i in range(200)]
    rows = bootstrap_ci(y_true, y_pred, accuracy, n_boot=500, seed=1)
    lesions = bootstrap_ci(y_true, y_pred, accuracy, n_boot=500, seed=1, groups=groups)
    assert rows[0] < 0.5 < rows[1] and lesions[0] < 0.5 < lesions[1]
    assert (lesions[1] - lesions[0]) > 2 * (rows[1] - rows[0])
    with pytest.raises(ValueError, match="groups has 3 entries"):
        bootstrap_ci(y_true, y_pred, accuracy, groups=["a", "b", "c"])


def test_paired_difference_ci_by_hand():
    from skinlab.evaluation.classification import balanced_accuracy, paired_difference_ci

    y = ["nv", "mel"] * 20
    better = list(y)  # always right
    worse = ["nv"] * 40  # balanced accuracy 0.5
    result = paired_difference_ci(y, better, worse, balanced_accuracy, n_boot=200, seed=0,
                                  groups=[i // 2 for i in range(40)])
    assert result["a"] == 1.0 and result["b"] == 0.5 and result["difference"] == 0.5
    # every resample holds both classes (each lesion has one of each), so the difference is always 0.5
    assert result["ci95"] == [0.5, 0.5] and result["excludes_zero"]
    same = paired_difference_ci(y, worse, worse, balanced_accuracy, n_boot=50, seed=0)
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0] and not same["excludes_zero"]

"""Per-group metrics, bootstrap intervals, gaps and malignancy differences of
skinlab.evaluation.fairness, against sklearn, fairlearn, hand counts and simulated data."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skinlab.data.schema import CLASSES, MALIGNANT
from skinlab.evaluation import fairness
from skinlab.evaluation.classification import classification_report

K = len(CLASSES)
MEL, NV, BCC = CLASSES.index("mel"), CLASSES.index("nv"), CLASSES.index("bcc")
MALIGNANT_IDX = [CLASSES.index(c) for c in MALIGNANT]


def random_case(n, seed, skill=0.6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), y] += 3 * skill
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_the_classification_report(seed):
    y, proba = random_case(150, seed)
    pred = proba.argmax(axis=1)
    malignant = proba[:, MALIGNANT_IDX].sum(axis=1)
    ours = fairness.scores(y, pred, malignant)
    report = classification_report(np.array(CLASSES)[y], proba)
    for name, theirs in (("accuracy", report["accuracy"]), ("balanced_accuracy", report["balanced_accuracy"]),
                         ("macro_f1", report["macro_f1"]), ("melanoma_sensitivity", report["melanoma"]["sensitivity"]),
                         ("malignant_auc", report["malignant_auc"])):
        assert ours[name] == pytest.approx(theirs, abs=1e-12), name


def test_auc_by_ranks_equals_sklearn_with_ties_and_is_nan_without_both_sides():
    rng = np.random.default_rng(3)
    positive = rng.random(80) < 0.3
    score = np.round(rng.random(80), 1)  # many ties
    assert fairness.auc(positive, score) == pytest.approx(roc_auc_score(positive, score))
    assert np.isnan(fairness.auc(np.ones(5, bool), score[:5])) and np.isnan(fairness.auc(np.zeros(5, bool), score[:5]))


def test_undefined_metrics_are_nan_in_scores_and_none_in_reports():
    y = np.array([NV, NV, NV])  # no melanoma, nothing malignant
    values = fairness.scores(y, y, np.zeros(3))
    assert np.isnan(values["melanoma_sensitivity"]) and np.isnan(values["malignant_auc"])
    report = fairness.groups_report(y, y, np.zeros(3), ["a", "b", "c"], ["g"] * 3, ["g"], 1, 100, 0)
    entry = report["groups"]["g"]
    assert entry["melanoma_sensitivity"] is None and entry["melanoma_sensitivity_ci95"] == [None, None]
    assert entry["accuracy"] == 1.0 and entry["malignant_tpr"] is None


def coverage(n_lesions, images_per_lesion, p, sims=200, n_boot=200, seed=0, by_lesion=True):
    """Share of simulated groups whose accuracy interval holds the true accuracy p; images of
    one lesion share their correctness (the worst case for an image-level bootstrap)."""
    rng = np.random.default_rng(seed)
    lesions = np.repeat(np.arange(n_lesions), images_per_lesion)
    hits = 0
    for s in range(sims):
        right = np.repeat(rng.random(n_lesions) < p, images_per_lesion)
        y = np.full(len(lesions), NV)
        pred = np.where(right, NV, MEL)
        units = lesions if by_lesion else np.arange(len(lesions))
        low, high = fairness.interval(fairness.draws(y, pred, np.zeros(len(y)), units, n_boot, s)["accuracy"])
        hits += low <= p <= high
    return hits / sims


def test_intervals_cover_the_true_accuracy_at_the_stated_rate():
    assert 0.88 <= coverage(60, 1, 0.8) <= 0.99


def test_lesion_bootstrap_keeps_the_stated_rate_when_images_of_a_lesion_agree():
    # three images per lesion, all right or all wrong: a bootstrap over images would be too
    # narrow (coverage well below 95 %); redrawing lesions keeps it
    assert 0.88 <= coverage(40, 3, 0.75, seed=1) <= 0.99
    assert coverage(40, 3, 0.75, seed=1, sims=100, by_lesion=False) < 0.85  # what redrawing images would give


def planted(n_a=40, n_b=40, n_small=5):
    """Group a always right, group b right half the time, a small group and images without a tone."""
    groups = np.array(["a"] * n_a + ["b"] * n_b + ["tiny"] * n_small + [fairness.UNKNOWN] * 30)
    n = len(groups)
    y = np.tile([MEL, NV, BCC, NV], n // 4 + 1)[:n]
    pred = y.copy()
    b = np.flatnonzero(groups == "b")
    pred[b[::2]] = np.where(y[b[::2]] == NV, MEL, NV)  # every other image of b wrong
    pred[groups == fairness.UNKNOWN] = NV  # the unknown group is worst of all, but not judged
    malignant = np.isin(pred, MALIGNANT_IDX).astype(float)
    return y, pred, malignant, np.arange(n).astype(str), groups


def test_small_and_unknown_groups_are_reported_and_flagged_but_left_out_of_the_gap():
    y, pred, malignant, lesions, groups = planted()
    report = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b", "tiny"], 10, 300, 0)
    assert list(report["groups"]) == ["a", "b", "tiny", fairness.UNKNOWN]
    assert report["small"] == ["tiny"] and report["judged"] == ["a", "b"]
    assert report["groups"]["tiny"]["small"] and report["groups"]["tiny"]["n"] == 5
    assert not report["groups"][fairness.UNKNOWN]["judged"] and not report["groups"][fairness.UNKNOWN]["small"]
    gap = report["gaps"]["accuracy"]
    assert (gap["best"], gap["worst"]) == ("a", "b") and gap["gap"] == pytest.approx(0.5)
    low, high = gap["ci95"]
    assert 0 < low < 0.5 < high and gap["excludes_zero"] and gap["groups"] == ["a", "b"]
    assert gap["pair_ci95"] == gap["ci95"]  # two groups, one pair: nothing to adjust
    a = report["groups"]["a"]
    assert a["accuracy"] == 1.0 and a["accuracy_ci95"] == [1.0, 1.0] and a["n_lesions"] == 40
    assert a["melanomas"] == int((y[groups == "a"] == MEL).sum()) == 10


def test_no_gap_with_fewer_than_two_judged_groups():
    y, pred, malignant, lesions, groups = planted()
    report = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b", "tiny"], 41, 100, 0)
    assert report["judged"] == [] and report["small"] == ["a", "b", "tiny", fairness.UNKNOWN]
    assert report["gaps"]["accuracy"]["gap"] is None and "a gap needs two" in report["gaps"]["accuracy"]["reason"]
    assert report["malignancy"]["equal_opportunity_difference"] is None and report["malignancy"]["reason"]


def test_malignancy_differences_equal_fairlearn_and_hand_counts():
    y, pred, malignant, lesions, groups = planted()
    report = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b", "tiny"], 10, 300, 0)
    result = report["malignancy"]
    assert result["groups"] == ["a", "b"]
    tpr, fpr = {}, {}
    for g in ("a", "b"):
        keep = groups == g
        truth, said = np.isin(y[keep], MALIGNANT_IDX), np.isin(pred[keep], MALIGNANT_IDX)
        tpr[g], fpr[g] = said[truth].mean(), said[~truth].mean()
        assert report["groups"][g]["malignant_tpr"] == pytest.approx(tpr[g])
    assert result["equal_opportunity_difference"] == pytest.approx(abs(tpr["a"] - tpr["b"]))
    assert result["equalized_odds_difference"] == pytest.approx(max(abs(tpr["a"] - tpr["b"]), abs(fpr["a"] - fpr["b"])))
    low, high = result["equal_opportunity_ci95"]
    assert -1 <= low <= result["equal_opportunity_difference"] <= high <= 1
    rate = result["equalized_odds_rate"]
    assert {"tpr": abs(tpr["a"] - tpr["b"]), "fpr": abs(fpr["a"] - fpr["b"])}[rate] == pytest.approx(
        result["equalized_odds_difference"])


def test_same_seed_same_intervals():
    y, pred, malignant, lesions, groups = planted()
    one = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b"], 10, 200, 7)
    two = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b"], 10, 200, 7)
    assert one == two


def test_groups_of_the_grouping_without_any_image_are_listed_not_dropped():
    y, pred, malignant, lesions, groups = planted()
    report = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b", "tiny", "dark"], 10, 100, 0)
    dark = report["groups"]["dark"]
    assert dark["n"] == 0 and dark["small"] and not dark["judged"] and dark["balanced_accuracy"] is None
    assert dark["balanced_accuracy_ci95"] == [None, None] and "dark" in report["small"]


def test_tied_groups_give_a_gap_between_two_different_groups():
    y, pred, malignant, lesions, groups = planted()
    pred = y.copy()  # every group perfect: all tie at 1
    report = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b"], 10, 100, 0)
    gap = report["gaps"]["accuracy"]
    assert gap["best"] != gap["worst"] and gap["gap"] == 0


def equal_groups(seed, k=5, n=40, p=0.7):
    """k groups with the same true accuracy and malignant rates: any gap is chance."""
    rng = np.random.default_rng(seed)
    size = k * n
    y = rng.choice([MEL, NV, BCC, NV], size=size)
    right = rng.random(size) < p
    pred = np.where(right, y, np.where(y == NV, MEL, NV))
    groups = np.repeat([f"g{i}" for i in range(k)], n)
    return y, pred, np.isin(pred, MALIGNANT_IDX).astype(float), np.arange(size).astype(str), groups


def test_between_equal_groups_the_gap_and_the_malignancy_differences_rarely_exclude_zero():
    # best and worst are picked after seeing the data: the pair's own interval excludes 0 more
    # often than 5 %; the Bonferroni-adjusted one keeps near or below it (an approximation: the
    # percentile bootstrap of 40-image groups is itself a little narrow)
    excluded = {"gap": 0, "pair": 0, "opportunity": 0}
    sims = 50
    for seed in range(sims):
        y, pred, malignant, lesions, groups = equal_groups(seed, k=3)
        report = fairness.groups_report(y, pred, malignant, lesions, groups, [], 10, 300, seed, min_positives=5)
        gap = report["gaps"]["accuracy"]
        excluded["gap"] += gap["excludes_zero"]
        excluded["pair"] += gap["pair_ci95"][0] > 0
        low, high = report["malignancy"]["equal_opportunity_ci95"]
        excluded["opportunity"] += low > 0 or high < 0
    assert excluded["gap"] / sims <= 0.08 and excluded["opportunity"] / sims <= 0.1
    assert excluded["pair"] > excluded["gap"]  # the adjustment matters


def test_sensitivity_and_auc_enter_a_gap_only_with_enough_positives():
    y, pred, malignant, lesions, groups = planted()
    few = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b"], 10, 100, 0, min_positives=11)
    assert few["groups"]["a"]["melanomas"] == 10 and few["gaps"]["melanoma_sensitivity"]["gap"] is None
    assert "enough images" in few["gaps"]["melanoma_sensitivity"]["reason"]
    assert few["gaps"]["accuracy"]["gap"] is not None  # other metrics need no positives
    enough = fairness.groups_report(y, pred, malignant, lesions, groups, ["a", "b"], 10, 100, 0, min_positives=10)
    assert enough["gaps"]["melanoma_sensitivity"]["groups"] == ["a", "b"]

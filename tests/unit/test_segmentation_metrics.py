import numpy as np
import pytest

from skinlab.evaluation import segmentation as seg


def grid(rows):
    return np.array([[int(c) for c in row] for row in rows.split()], dtype=np.uint8) * 255


# truth: 6 pixels; pred: 4 pixels, 3 of them on the truth.
TRUTH = grid("1110 1110 0000 0000")
PRED = grid("0110 0100 0100 0000")


def test_hand_computed_small_masks():
    # |T| = 6, |P| = 4, |T∩P| = 3, |T∪P| = 7, background of T = 10 pixels, 9 not predicted.
    assert seg.dice(TRUTH, PRED) == pytest.approx(2 * 3 / (6 + 4))
    assert seg.jaccard(TRUTH, PRED) == pytest.approx(3 / 7)
    assert seg.sensitivity(TRUTH, PRED) == pytest.approx(3 / 6)
    assert seg.specificity(TRUTH, PRED) == pytest.approx(9 / 10)


def test_bool_and_0_255_masks_score_alike():
    assert seg.scores(TRUTH > 0, PRED > 0) == seg.scores(TRUTH, PRED)
    assert seg.scores(TRUTH // 255, PRED) == seg.scores(TRUTH, PRED)


def test_dice_and_jaccard_are_symmetric_and_one_on_identity():
    assert seg.dice(TRUTH, PRED) == seg.dice(PRED, TRUTH)
    assert seg.jaccard(TRUTH, TRUTH) == 1.0
    assert seg.dice(TRUTH, TRUTH) == 1.0


def test_both_empty_is_perfect_agreement():
    empty = np.zeros((4, 4), np.uint8)
    result = seg.scores(empty, empty)
    assert result["dice"] == 1.0 and result["jaccard"] == 1.0 and result["thresholded_jaccard"] == 1.0
    assert result["sensitivity"] is None  # no lesion pixel to find
    assert result["specificity"] == 1.0


@pytest.mark.parametrize("truth_empty", [True, False])
def test_one_side_empty_scores_zero(truth_empty):
    empty = np.zeros((4, 4), np.uint8)
    truth, pred = (empty, TRUTH) if truth_empty else (TRUTH, empty)
    result = seg.scores(truth, pred)
    assert result["dice"] == 0.0 and result["jaccard"] == 0.0 and result["thresholded_jaccard"] == 0.0
    if truth_empty:
        assert result["sensitivity"] is None
        assert result["specificity"] == pytest.approx(10 / 16)
    else:
        assert result["sensitivity"] == 0.0
        assert result["specificity"] == 1.0


def test_full_truth_has_no_specificity():
    full = np.full((4, 4), 255, np.uint8)
    assert seg.specificity(full, PRED) is None
    assert seg.sensitivity(full, PRED) == pytest.approx(4 / 16)


def jaccard_pair(value_times_100):
    """Masks of 100 pixels whose Jaccard is exactly value/100."""
    truth = np.zeros(100, bool)
    truth[:100] = True
    pred = np.zeros(100, bool)
    pred[:value_times_100] = True
    return truth.reshape(10, 10), pred.reshape(10, 10)


def test_thresholded_jaccard_at_the_isic_threshold():
    assert seg.thresholded_jaccard(*jaccard_pair(64)) == 0.0
    assert seg.thresholded_jaccard(*jaccard_pair(66)) == pytest.approx(0.66)
    assert seg.thresholded_jaccard(*jaccard_pair(65)) == pytest.approx(0.65)  # at the threshold counts
    assert seg.thresholded_jaccard(*jaccard_pair(64), threshold=0.5) == pytest.approx(0.64)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\)"):
        seg.dice(TRUTH, np.zeros((4, 5), np.uint8))


def rows_of(values):
    return [{"dice": v, "jaccard": v, "thresholded_jaccard": v, "sensitivity": v, "specificity": None}
            for v in values]


def test_summary_mean_and_interval_contain_the_mean():
    values = [0.9, 0.7, 0.8, 0.95, 0.6, 0.85]
    result = seg.summary(rows_of(values), ["a", "b", "c", "d", "e", "f"], seed=1, n_boot=300)
    dice = result["dice"]
    assert dice["mean"] == pytest.approx(np.mean(values))
    low, high = dice["ci95"]
    assert low < dice["mean"] < high
    assert min(values) <= low and high <= max(values)
    assert dice["n_images"] == 6 and result["n_images"] == 6 and result["n_lesions"] == 6


def test_summary_is_deterministic_given_seed():
    rows = rows_of([0.9, 0.1, 0.5, 0.7, 0.3])
    ids = list("abcde")
    assert seg.summary(rows, ids, seed=3, n_boot=200) == seg.summary(rows, ids, seed=3, n_boot=200)
    assert seg.summary(rows, ids, seed=3, n_boot=200) != seg.summary(rows, ids, seed=4, n_boot=200)


def test_summary_redraws_whole_lesions():
    # Each lesion's two images average 0.5: redrawing lesions always gives 0.5, while
    # treating the four images as independent does not.
    rows = rows_of([0.0, 1.0, 1.0, 0.0])
    grouped = seg.summary(rows, ["A", "A", "B", "B"], seed=0, n_boot=200)["dice"]
    single = seg.summary(rows, ["a", "b", "c", "d"], seed=0, n_boot=200)["dice"]
    assert grouped["ci95"] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert single["ci95"][1] - single["ci95"][0] > 0.3
    assert grouped["mean"] == single["mean"] == 0.5


def test_summary_ignores_none_per_metric():
    rows = rows_of([0.2, 0.4])
    rows[0]["sensitivity"] = None
    result = seg.summary(rows, ["a", "b"], n_boot=50)
    assert result["sensitivity"]["mean"] == pytest.approx(0.4)
    assert result["sensitivity"]["n_images"] == 1
    assert result["dice"]["mean"] == pytest.approx(0.3)
    assert result["specificity"] == {"mean": None, "ci95": [None, None], "n_images": 0}


def test_summary_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 rows but 3 lesion ids"):
        seg.summary(rows_of([0.1, 0.2]), ["a", "b", "c"])

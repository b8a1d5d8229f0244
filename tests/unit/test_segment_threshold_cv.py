"""The fold and choice rules of bench.segment_threshold_cv (the threshold chosen without test)."""
from types import SimpleNamespace

import pytest

from bench import segment_threshold_cv as cv


def _items(lesions):
    return [SimpleNamespace(image_id=f"img{i}", lesion_id=lesion) for i, lesion in enumerate(lesions)]


def test_folds_keep_a_lesions_images_together_and_balance_lesions():
    items = _items(["a", "a", "b", "c", "c", "c", "d", "e", "f", "g"])
    fold_of = cv.folds(items, 3, seed=42)
    by_lesion = {}
    for item in items:
        by_lesion.setdefault(item.lesion_id, set()).add(fold_of[item.image_id])
    assert all(len(folds) == 1 for folds in by_lesion.values())
    lesions_per_fold = [sum(1 for f in by_lesion.values() if f == {k}) for k in range(3)]
    assert sorted(lesions_per_fold) == [2, 2, 3]  # 7 lesions dealt round-robin
    assert cv.folds(items, 3, seed=42) == fold_of  # seeded
    assert cv.folds(items, 3, seed=1) != fold_of


def test_choose_takes_the_best_mean_and_breaks_ties_towards_the_default():
    assert cv.choose({0.4: 0.91, 0.5: 0.92, 0.6: 0.93}, 0.5) == 0.6
    assert cv.choose({0.4: 0.93, 0.5: 0.92, 0.6: 0.93}, 0.5) == 0.4  # equally near: the lower
    assert cv.choose({0.3: 0.93, 0.5: 0.92, 0.6: 0.93}, 0.5) == 0.6  # the nearer of the tied
    assert cv.choose({0.5: 0.92004, 0.6: 0.92001}, 0.5) == 0.5  # equal to 4 decimals
    assert cv.choose({0.5: 0.9200, 0.6: 0.9202}, 0.5) == 0.6


@pytest.mark.parametrize("k", [1, 5])
def test_folds_outside_two_to_the_lesions_stop_naming_the_option(k):
    items = _items(["a", "a", "b", "c", "d"])  # 4 lesions
    with pytest.raises(ValueError, match=rf"--folds {k}: need 2 to 4 \(the lesions of the train images with a mask\)"):
        cv.folds(items, k, seed=42)

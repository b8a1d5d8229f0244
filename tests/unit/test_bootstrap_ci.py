"""bootstrap_ci against independent computations: every resample enumerated, scipy's percentile
bootstrap, and the coverage of the 95% interval on simulated data whose true value is known."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from skinlab.evaluation.classification import balanced_accuracy, bootstrap_ci


def accuracy_of(y_true, y_pred):
    """Plain numeric accuracy: cheap enough for thousands of resamples."""
    return float(np.mean(y_true == y_pred))


def exact_percentile_interval(values, alpha=0.05):
    """The percentile interval of a bootstrap distribution given as every equally likely resample:
    the smallest value whose CDF reaches alpha/2 and the smallest whose CDF reaches 1 - alpha/2.

    The CDF must not sit within 0.005 of either level, so that a finite Monte Carlo bootstrap
    lands on the same value (else the test could not tell a right answer from a lucky one).
    """
    values = np.sort(np.asarray(values, dtype=np.float64))
    support, counts = np.unique(values, return_counts=True)
    cdf = np.cumsum(counts) / len(values)
    ends = []
    for level in (alpha / 2, 1 - alpha / 2):
        assert np.min(np.abs(cdf - level)) > 0.005, "enumerated case too close to a jump of the CDF"
        ends.append(float(support[np.argmax(cdf >= level)]))
    return tuple(ends)


# Three lesions: A has 1 image (right), B has 2 (one right, one wrong), C has 3 (all wrong).
# A grouped resample draws 3 lesions with replacement: 27 equally likely draws. By hand:
#   CCC -> 0/9 (1 draw, 1/27 = 3.7%)       AAA -> 1/1 (1 draw, 3.7%)
#   every other draw scores strictly between 0 and 1.
# So the 2.5% and 97.5% percentiles are exactly 0 and 1 (3.7% > 2.5% on each side), while
# 5% / 95% percentiles (a 90% interval) would drop both: 1/8 (BCC) and 3/4 (AAB).
LESION_SIZES = {"A": 1, "B": 2, "C": 3}
LESION_RIGHT = {"A": 1, "B": 1, "C": 0}


def three_lesions():
    groups = [name for name, size in LESION_SIZES.items() for _ in range(size)]
    y_true = np.zeros(len(groups), int)
    y_pred = np.ones(len(groups), int)
    y_pred[[0, 1]] = 0  # A's image and B's first image are right
    return y_true, y_pred, groups


def test_three_lesions_enumerated_by_hand():
    y_true, y_pred, groups = three_lesions()
    draws = itertools.product(LESION_SIZES, repeat=3)
    values = [sum(LESION_RIGHT[g] for g in d) / sum(LESION_SIZES[g] for g in d) for d in draws]
    assert exact_percentile_interval(values) == (0.0, 1.0)
    assert exact_percentile_interval(values, alpha=0.1) == (1 / 8, 3 / 4)
    assert bootstrap_ci(y_true, y_pred, accuracy_of, n_boot=10000, seed=0, groups=groups) == (0.0, 1.0)
    low, high = bootstrap_ci(y_true, y_pred, accuracy_of, n_boot=10000, alpha=0.1, seed=0, groups=groups)
    assert (low, high) == (pytest.approx(1 / 8), pytest.approx(3 / 4))


def test_five_rows_enumerated_balanced_accuracy():
    """Ungrouped: all 5^5 = 3125 row resamples of a 5-sample case, scored by balanced accuracy
    (95% interval (0.2, 1), 90% interval (0.4, 1))."""
    y_true = np.array(["mel", "mel", "bcc", "mel", "nv"])
    y_pred = np.array(["bcc", "nv", "bcc", "mel", "nv"])
    draws = itertools.product(range(5), repeat=5)
    values = [balanced_accuracy(y_true[list(d)], y_pred[list(d)]) for d in draws]
    expected = exact_percentile_interval(values)
    assert expected != exact_percentile_interval(values, alpha=0.1)  # the case tells 95% from 90%
    assert bootstrap_ci(y_true, y_pred, balanced_accuracy, n_boot=10000, seed=3) == pytest.approx(expected)


def test_ungrouped_interval_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(0)
    n = 1000
    y_true = rng.integers(0, 3, size=n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, 3)
    ours = bootstrap_ci(y_true, y_pred, accuracy_of, n_boot=8000, seed=1)

    def reference(level):
        result = stats.bootstrap(((y_true == y_pred).astype(float),), np.mean, n_resamples=8000,
                                 method="percentile", confidence_level=level, rng=np.random.default_rng(2))
        return result.confidence_interval.low, result.confidence_interval.high

    low, high = reference(0.95)
    # Two independent Monte Carlo runs differ by about 0.001 here (accuracy steps by 1/1000);
    # a 90% interval is about 0.004 narrower at each end, so the tolerance tells them apart.
    assert ours[0] == pytest.approx(low, abs=0.0025) and ours[1] == pytest.approx(high, abs=0.0025)
    assert (ours[1] - ours[0]) == pytest.approx(high - low, abs=0.004)
    low90, high90 = reference(0.90)
    assert (high - low) - (high90 - low90) > 2 * 0.004


def test_95_percent_interval_covers_the_true_value_at_the_stated_rate():
    """400 simulated test sets of 150 images, each right with probability 0.7: the 95% interval
    must contain 0.7 in about 95% of them (binomial sd of the count: sqrt(400 * .95 * .05) = 4.4;
    a 90% interval would cover about 360, 9 sd below 380)."""
    true_accuracy, n, repeats = 0.7, 150, 400
    covered = 0
    for seed in range(repeats):
        rng = np.random.default_rng(seed)
        y_pred = (rng.random(n) >= true_accuracy).astype(int)  # 0 = right
        low, high = bootstrap_ci(np.zeros(n, int), y_pred, accuracy_of, n_boot=400, seed=seed)
        covered += low < true_accuracy < high
    sd = math.sqrt(repeats * 0.95 * 0.05)
    assert abs(covered - 0.95 * repeats) <= 2.6 * sd, f"covered {covered} of {repeats}"


def test_grouped_resampling_draws_every_group_whole():
    sizes = [1, 3, 2, 4, 1]
    groups = np.repeat([f"L{g}" for g in range(len(sizes))], sizes)
    drawn_groups, draw_sizes = set(), set()

    def spy(y_true, y_pred):
        # y_true carries the group names: a whole group is drawn, or none of it.
        names, counts = np.unique(y_true, return_counts=True)
        for name, count in zip(names, counts):
            assert count % sizes[int(name[1:])] == 0
        drawn_groups.update(names)
        draw_sizes.add(len(y_true))
        return 0.5

    bootstrap_ci(groups, np.zeros(len(groups)), spy, n_boot=200, seed=0, groups=groups)
    assert drawn_groups == set(groups)  # the last group (L4) too
    assert min(draw_sizes) < sum(sizes) < max(draw_sizes)  # 5 groups drawn, not 11 rows


def test_ungrouped_resampling_draws_every_row():
    drawn = set()

    def spy(y_true, y_pred):
        assert len(y_true) == 6
        drawn.update(y_true.tolist())
        return 0.5

    bootstrap_ci(np.arange(6), np.zeros(6), spy, n_boot=100, seed=0)
    assert drawn == set(range(6))

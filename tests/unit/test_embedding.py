"""skinlab.embedding: the stratified sample, standardised blocks, the three projections and the
scores that judge a map (each shown to fail where it should)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skinlab import embedding, params

CFG = params.parse({}).embed


def classes_frame(counts: dict[str, int]) -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return pd.DataFrame({"dx": labels, "row": range(len(labels))})


def planted_plane(n=300, dim=40, noise=0.01, seed=0):
    """Points on a random 2-D plane inside `dim` dimensions, with a little noise off the plane."""
    rng = np.random.default_rng(seed)
    plane = rng.normal(size=(n, 2)) * [3.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(dim, 2)))[0]
    return plane @ basis.T + noise * rng.normal(size=(n, dim))


# ---- stratified_sample -----------------------------------------------------------------------------

def test_the_sample_keeps_every_class_even_a_rare_one_and_has_the_size_asked():
    frame = classes_frame({"nv": 900, "mel": 80, "bkl": 15, "df": 2, "vasc": 1})
    sample = embedding.stratified_sample(frame, 100, ["dx"], seed=0)
    assert len(sample) == 100
    assert set(sample["dx"]) == set(frame["dx"])
    counts = sample["dx"].value_counts()
    assert counts["nv"] == pytest.approx(100 * 900 / 998, abs=2)  # shares kept
    assert counts["vasc"] == 1 and counts["df"] >= 1
    assert sample["row"].is_monotonic_increasing  # original order
    assert sample["row"].is_unique


def test_the_sample_is_fixed_by_its_seed_and_changes_with_it():
    frame = classes_frame({"nv": 500, "mel": 100})
    a = embedding.stratified_sample(frame, 60, ["dx"], seed=1)
    b = embedding.stratified_sample(frame, 60, ["dx"], seed=1)
    c = embedding.stratified_sample(frame, 60, ["dx"], seed=2)
    assert a["row"].tolist() == b["row"].tolist()
    assert a["row"].tolist() != c["row"].tolist()


def test_a_set_under_the_cap_is_kept_whole_and_too_small_a_cap_is_refused():
    frame = classes_frame({"nv": 5, "mel": 3})
    assert embedding.stratified_sample(frame, 8, ["dx"], seed=0) is frame
    with pytest.raises(ValueError, match="cannot keep 3 strata"):
        embedding.stratified_sample(classes_frame({"a": 5, "b": 5, "c": 5}), 2, ["dx"], seed=0)


def test_many_singleton_strata_still_give_the_exact_size():
    frame = classes_frame({f"c{i}": 1 for i in range(30)} | {"big": 300})
    sample = embedding.stratified_sample(frame, 40, ["dx"], seed=0)
    assert len(sample) == 40 and set(sample["dx"]) == set(frame["dx"])


# ---- vectors -------------------------------------------------------------------------------------

def test_standardised_blocks_weigh_the_same_whatever_their_width():
    rng = np.random.default_rng(0)
    wide, narrow = rng.normal(5, 100, size=(200, 300)), rng.normal(-2, 0.01, size=(200, 4))
    constant = np.ones((200, 1))
    X = embedding.standardise([wide, narrow, constant])
    assert X.shape == (200, 305)
    assert X[:, :300].var(axis=0).sum() == pytest.approx(1.0)
    assert X[:, 300:304].var(axis=0).sum() == pytest.approx(1.0)
    assert np.all(X[:, 304] == 0)


def test_explained_variance_of_a_plane_is_nearly_all_in_two_components():
    curve = embedding.explained_variance(planted_plane(), 10, seed=0)
    assert len(curve) == 10 and np.all(np.diff(curve) >= -1e-12)
    assert curve[1] > 0.99


# ---- projections ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", embedding.METHODS)
def test_every_method_gives_one_point_per_row_the_same_for_the_same_seed(method):
    X = planted_plane(n=120)
    a, b = embedding.project(method, X, CFG, seed=3), embedding.project(method, X, CFG, seed=3)
    assert a.coordinates.shape == (120, 2) and np.all(np.isfinite(a.coordinates))
    np.testing.assert_array_equal(a.coordinates, b.coordinates)
    assert a.seconds >= 0


@pytest.mark.parametrize("method", embedding.METHODS)
def test_a_projection_keeps_the_neighbours_of_a_planted_plane(method):
    X = planted_plane(n=300)
    Y = embedding.project(method, X, CFG, seed=0).coordinates
    assert embedding.trustworthiness(X, Y, 10) > 0.95


def test_random_coordinates_are_not_trustworthy():
    X = planted_plane(n=300)
    Y = np.random.default_rng(1).normal(size=(300, 2))
    assert embedding.trustworthiness(X, Y, 10) < 0.65


def test_a_small_set_lowers_perplexity_and_neighbours_and_says_so(caplog):
    X = planted_plane(n=20)
    for method in ("tsne", "umap"):
        assert embedding.project(method, X, CFG, seed=0).coordinates.shape == (20, 2)
    assert "perplexity lowered from 30 to 6.3" in caplog.text
    assert "n_neighbors lowered from 15 to 19" not in caplog.text  # 15 < 19: kept


def test_unknown_methods_and_too_few_points_are_refused():
    with pytest.raises(ValueError, match="unknown projection method 'mds'"):
        embedding.project("mds", planted_plane(n=20), CFG, seed=0)
    with pytest.raises(ValueError, match="at least 4 points"):
        embedding.project("pca", planted_plane(n=3), CFG, seed=0)


# ---- scores --------------------------------------------------------------------------------------

def test_knn_finds_separated_classes_and_reports_chance():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], [60, 30, 10])
    centres = {"a": (0, 0), "b": (10, 0), "c": (0, 10)}
    Y = np.array([centres[label] for label in labels]) + rng.normal(size=(100, 2))
    result = embedding.knn_cv(Y, labels, np.arange(100).astype(str), k=5, folds=5, seed=0)
    assert result["accuracy"] == 1.0 and result["balanced_accuracy"] == 1.0
    assert result["chance"] == 0.6 and result["folds"] == 5


def test_knn_folds_are_grouped_by_lesion_so_copies_of_a_lesion_do_not_vote_for_themselves():
    # 40 lesions, 5 near-identical images each, labels random per lesion: nothing to learn
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 2)) * 10
    lesion_labels = rng.choice(["a", "b"], size=40)
    lesions = np.repeat(np.arange(40), 5).astype(str)
    Y = np.repeat(centres, 5, axis=0) + 0.01 * rng.normal(size=(200, 2))
    labels = np.repeat(lesion_labels, 5)
    grouped = embedding.knn_cv(Y, labels, lesions, k=3, folds=5, seed=0)
    ungrouped = embedding.knn_cv(Y, labels, np.arange(200).astype(str), k=3, folds=5, seed=0)
    assert ungrouped["accuracy"] > 0.95  # each image's copies are its neighbours
    assert grouped["accuracy"] < 0.75    # near chance (~0.5) when the copies are held out together


def test_knn_needs_two_labels_and_two_groups():
    Y = np.zeros((10, 2))
    assert embedding.knn_cv(Y, np.array(["a"] * 10), np.arange(10).astype(str), 3, 5, 0) is None
    assert embedding.knn_cv(Y, np.array(["a", "b"] * 5), np.array(["L"] * 10), 3, 5, 0) is None


def test_silhouette_is_high_for_apart_clusters_low_for_mixed_and_none_for_one_label():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 50)
    apart = np.where(labels[:, None] == "a", 0.0, 20.0) + rng.normal(size=(100, 2))
    mixed = rng.normal(size=(100, 2))
    assert embedding.silhouette(apart, labels) > 0.8
    assert abs(embedding.silhouette(mixed, labels)) < 0.1
    assert embedding.silhouette(apart, np.array(["a"] * 100)) is None

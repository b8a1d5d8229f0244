"""Classical model builders: every model learns separable blobs; selection is by val score."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skinlab.data.schema import CLASSES
from skinlab.evaluation.classification import balanced_accuracy
from skinlab.models import classical

BLOB_CLASSES = np.array(["bcc", "mel", "nv"])


def blobs(n, seed):
    X, y = make_blobs(n_samples=n, centers=3, n_features=8, cluster_std=1.5, random_state=seed)
    return X, BLOB_CLASSES[y]


@pytest.fixture(scope="module")
def train_test():
    X, y = blobs(240, seed=4)
    return X[:150], y[:150], X[150:], y[150:]


@pytest.mark.parametrize("name", classical.MODEL_NAMES)
def test_every_model_learns_blobs(name, train_test):
    X_train, y_train, X_test, y_test = train_test
    pipeline = classical.fit_balanced(classical.build(name, seed=0), X_train, y_train)
    assert isinstance(pipeline, Pipeline)
    proba = classical.predict_proba_full(pipeline, X_test)
    assert proba.shape == (len(X_test), len(CLASSES))
    assert np.allclose(proba.sum(axis=1), 1.0)
    y_pred = np.array(CLASSES)[proba.argmax(axis=1)]
    assert balanced_accuracy(y_test, y_pred) > 0.8  # chance is 1/3


@pytest.mark.parametrize("name", classical.MODEL_NAMES)
def test_scaling_only_where_the_model_needs_it(name):
    steps = dict(classical.build(name, seed=0).steps)
    needs_scaling = name in ("knn", "logreg", "svm", "mlp")
    assert isinstance(steps.get("scale"), StandardScaler) == needs_scaling
    model = steps["model"]
    if "class_weight" in model.get_params():
        assert model.get_params()["class_weight"] == "balanced"
    if name in ("knn", "forest"):
        assert model.n_jobs == 1  # the stage is one process on a shared machine


def test_hyper_parameters_reach_the_estimator():
    model = classical.build("forest", seed=3, n_estimators=7, max_depth=2).named_steps["model"]
    assert (model.n_estimators, model.max_depth, model.random_state) == (7, 2, 3)
    mlp = classical.build("mlp", seed=0, hidden_layer_sizes=[16, 8]).named_steps["model"]
    assert mlp.hidden_layer_sizes == (16, 8)  # a YAML list becomes a tuple


def test_same_seed_same_probabilities(train_test):
    X_train, y_train, X_test, _ = train_test
    a = classical.fit_balanced(classical.build("forest", seed=5, n_estimators=10), X_train, y_train)
    b = classical.fit_balanced(classical.build("forest", seed=5, n_estimators=10), X_train, y_train)
    assert np.array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_predict_proba_full_puts_columns_in_class_order(train_test):
    X_train, y_train, X_test, _ = train_test
    pipeline = classical.fit_balanced(classical.build("logreg", seed=0), X_train, y_train)
    part = pipeline.predict_proba(X_test)  # columns bcc, mel, nv (sorted)
    full = classical.predict_proba_full(pipeline, X_test, classes=CLASSES)
    assert np.array_equal(full[:, CLASSES.index("bcc")], part[:, 0])
    assert np.array_equal(full[:, CLASSES.index("mel")], part[:, 1])
    assert np.array_equal(full[:, CLASSES.index("nv")], part[:, 2])
    for absent in ("akiec", "bkl", "df", "vasc"):
        assert not full[:, CLASSES.index(absent)].any()
    reordered = classical.predict_proba_full(pipeline, X_test, classes=("nv", "mel", "vasc", "bcc"))
    assert np.array_equal(reordered[:, 0], part[:, 2]) and not reordered[:, 2].any()
    with pytest.raises(ValueError, match="trained on class 'bcc'"):
        classical.predict_proba_full(pipeline, X_test, classes=("mel", "nv"))


@pytest.mark.parametrize("rare_count", [1, 2, 3])
def test_svm_copes_with_rare_training_classes(rare_count, train_test):
    # 1 sample: nothing to cross-validate, calibrated in-sample; 2-3: fewer folds than 5.
    X_train, y_train, X_test, _ = train_test
    y_rare = y_train.astype(object)
    y_rare[:rare_count] = "df"
    pipeline = classical.fit_balanced(classical.build("svm", seed=0), X_train, y_rare)
    proba = classical.predict_proba_full(pipeline, X_test)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert proba[:, CLASSES.index("df")].any() and not proba[:, CLASSES.index("akiec")].any()


@pytest.mark.parametrize("name", classical.MODEL_NAMES)
def test_grid_size_caps_and_is_deterministic(name):
    assert classical.grid(name, 1) == [classical.DEFAULTS[name]]
    full = classical.grid(name, 100)
    assert 4 <= len(full) <= 8
    assert len({repr(sorted(h.items())) for h in full}) == len(full)  # no duplicates
    assert classical.grid(name, 3) == full[:3] == classical.grid(name, 3)
    for hyper in full:
        classical.build(name, seed=0, **hyper)  # every candidate is buildable
    full[0]["mutated"] = True
    assert "mutated" not in classical.grid(name, 1)[0]  # callers get copies


def separable_with_rare_class():
    """40 nevi around 0 and 6 melanomas around 5: 15 neighbours always outvote the melanomas."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(5, 0.3, (6, 2))])
    y = np.array(["nv"] * 40 + ["mel"] * 6)
    return X, y


def test_select_on_val_picks_the_better_setting():
    X_train, y_train = separable_with_rare_class()
    X_val = np.array([[0.0, 0.0], [0.5, -0.5], [5.0, 5.0], [5.2, 4.9]])
    y_val = np.array(["nv", "nv", "mel", "mel"])
    assert classical.grid("knn", 2) == [{"n_neighbors": 5}, {"n_neighbors": 15}]

    pipeline, hyper, score, results = classical.select_on_val(
        "knn", X_train, y_train, X_val, y_val, seed=0, grid_size=2
    )
    assert hyper == {"n_neighbors": 5} and score == 1.0
    assert [r["val_score"] for r in results] == [1.0, 0.5]  # k=15 calls everything nv
    assert pipeline.named_steps["model"].n_neighbors == 5
    assert list(pipeline.predict(X_val)) == list(y_val)  # returned already fitted

    # With the score turned upside down the other candidate must win: selection follows
    # the scorer, not the grid order.
    _, hyper, score, _ = classical.select_on_val(
        "knn", X_train, y_train, X_val, y_val, seed=0, grid_size=2,
        scorer=lambda yt, yp: -balanced_accuracy(yt, yp),
    )
    assert hyper == {"n_neighbors": 15} and score == -0.5


def test_select_on_val_results_are_json_ready(train_test):
    import json

    X_train, y_train, X_val, y_val = train_test
    *_, results = classical.select_on_val("mlp", X_train, y_train, X_val, y_val, seed=0, grid_size=1)
    assert results[0]["hyper"]["hidden_layer_sizes"] == [128]
    json.dumps(results, allow_nan=False)


def test_unknown_names_and_bad_arguments():
    with pytest.raises(ValueError, match=r"unknown model 'xgboost' \(valid: knn, logreg, tree, forest, svm, hgb, mlp\)"):
        classical.build("xgboost", seed=0)
    with pytest.raises(ValueError, match="unknown model 'rf'"):
        classical.grid("rf", 2)
    with pytest.raises(ValueError, match="model 'knn' has no hyper-parameter 'C'"):
        classical.build("knn", seed=0, C=1.0)
    with pytest.raises(ValueError, match="grid size must be >= 1"):
        classical.grid("knn", 0)
    X, y = blobs(30, seed=0)
    with pytest.raises(ValueError, match="X_train has 30 rows but y_train has 29"):
        classical.select_on_val("knn", X, y[:29], X, y, seed=0, grid_size=1)


def test_calibrated_svm_keeps_its_class_balance_on_imbalanced_training():
    """Unweighted Platt sigmoids would pull predictions back to the majority class."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.svm import SVC

    from skinlab.models.classical import CalibratedSVC

    rng = np.random.default_rng(0)

    def blobs(sizes):
        X = np.vstack([rng.normal(c, 1.5, (n, 2)) for c, n in zip([(0, 0), (2, 0), (0, 2)], sizes)])
        return X, np.repeat(["nv", "mel", "bkl"], sizes)

    X, y = blobs([1500, 100, 100])
    X_test, y_test = blobs([300, 300, 300])
    calibrated = CalibratedSVC(random_state=0).fit(X, y).predict(X_test)
    plain = SVC(class_weight="balanced").fit(X, y).predict(X_test)
    assert balanced_accuracy_score(y_test, calibrated) > balanced_accuracy_score(y_test, plain) - 0.03
    assert np.mean(calibrated == "nv") < 0.5


def test_calibration_folds_never_split_a_group(monkeypatch):
    from sklearn.model_selection import StratifiedGroupKFold

    from skinlab.models.classical import CalibratedSVC

    seen = []
    original = StratifiedGroupKFold.split

    def spy(self, X, y=None, groups=None):
        for train, test in original(self, X, y, groups):
            seen.append((set(groups[train]), set(groups[test])))
            yield train, test

    monkeypatch.setattr(StratifiedGroupKFold, "split", spy)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = np.repeat(["nv", "mel"], 60)
    groups = np.repeat(np.arange(40), 3)  # three copies of each source image
    model = CalibratedSVC(random_state=0).fit(X, y, groups=groups)
    assert seen and all(not (train & test) for train, test in seen)
    assert model.predict_proba(X).shape == (120, 2)

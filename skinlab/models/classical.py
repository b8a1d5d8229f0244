"""Classical baselines on hand-crafted features: pure builders of scikit-learn Pipelines.

Each model gets a scaler inside its pipeline when it is distance- or gradient-based, so the
scaler is fitted on training rows only and travels with the model. ``class_weight="balanced"``
is set wherever the estimator supports it, because HAM10000 is 58 % nevi; the MLP, which has
no ``class_weight``, gets balanced sample weights from ``fit_balanced``; KNN stays unweighted.
Everything runs single-threaded (``n_jobs=1``): the stage is one process on a shared machine.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from skinlab.data.schema import CLASSES
from skinlab.evaluation.classification import balanced_accuracy

MODEL_NAMES = ("knn", "logreg", "tree", "forest", "svm", "hgb", "mlp")

# The hyper-parameters build() accepts per model, with their defaults (= grid(name, 1)[0]).
DEFAULTS: dict[str, dict] = {
    "knn": {"n_neighbors": 5},
    "logreg": {"C": 1.0},
    "tree": {"max_depth": 8},
    "forest": {"n_estimators": 100, "max_depth": None},
    "svm": {"C": 1.0, "gamma": "scale"},
    "hgb": {"learning_rate": 0.1, "max_depth": None, "max_iter": 50, "max_bins": 31},
    "mlp": {"hidden_layer_sizes": (128,), "alpha": 1e-4, "early_stopping": False, "max_iter": 100},
}

# Candidates in the order grid() hands them out: the default first, then the values most
# likely to matter, so a small ``size`` still explores something useful.
_GRIDS: dict[str, list[dict]] = {
    "knn": [{"n_neighbors": k} for k in (5, 15, 3, 31, 9, 1)],
    "logreg": [{"C": c} for c in (1.0, 0.1, 0.01, 10.0, 0.001, 100.0)],
    "tree": [{"max_depth": d} for d in (8, 4, 16, None, 2, 12)],
    "forest": [
        {"n_estimators": 100, "max_depth": None},
        {"n_estimators": 100, "max_depth": 8},
        {"n_estimators": 200, "max_depth": None},
        {"n_estimators": 200, "max_depth": 16},
        {"n_estimators": 100, "max_depth": 16},
        {"n_estimators": 200, "max_depth": 8},
    ],
    "svm": [
        {"C": 1.0, "gamma": "scale"},
        {"C": 10.0, "gamma": "scale"},
        {"C": 0.1, "gamma": "scale"},
        {"C": 10.0, "gamma": 1e-4},
        {"C": 1.0, "gamma": 1e-2},
        {"C": 100.0, "gamma": 1e-4},
        {"C": 10.0, "gamma": 1e-3},
    ],
    "hgb": [
        {"learning_rate": 0.1, "max_depth": None, "max_iter": 50, "max_bins": 31},
        {"learning_rate": 0.2, "max_depth": None, "max_iter": 50, "max_bins": 31},
        {"learning_rate": 0.1, "max_depth": 3, "max_iter": 50, "max_bins": 31},
        {"learning_rate": 0.05, "max_depth": None, "max_iter": 100, "max_bins": 31},
        {"learning_rate": 0.2, "max_depth": 3, "max_iter": 50, "max_bins": 31},
        {"learning_rate": 0.1, "max_depth": 6, "max_iter": 100, "max_bins": 63},
    ],
    # No early stopping: its random 10% holdout would hold augmented copies of training
    # images (and other images of their lesions), so it would stop on near-duplicates.
    "mlp": [
        {"hidden_layer_sizes": (128,), "alpha": 1e-4, "early_stopping": False, "max_iter": 100},
        {"hidden_layer_sizes": (128,), "alpha": 1e-2, "early_stopping": False, "max_iter": 100},
        {"hidden_layer_sizes": (256, 64), "alpha": 1e-3, "early_stopping": False, "max_iter": 100},
        {"hidden_layer_sizes": (64,), "alpha": 1e-1, "early_stopping": False, "max_iter": 100},
        {"hidden_layer_sizes": (128,), "alpha": 1.0, "early_stopping": False, "max_iter": 100},
        {"hidden_layer_sizes": (256,), "alpha": 1e-3, "early_stopping": False, "max_iter": 200},
    ],
}


def build(name: str, seed: int, **hyper):
    """An unfitted Pipeline for model ``name``; every one of them has ``predict_proba``.

    ``hyper`` overrides ``DEFAULTS[name]``; an unknown key raises ValueError naming it, so a
    typo in params.yaml does not silently train the default model. Fit it with
    ``fit_balanced`` so that the MLP is class-balanced too.
    """
    _check_name(name)
    unknown = sorted(set(hyper) - set(DEFAULTS[name]))
    if unknown:
        raise ValueError(
            f"model {name!r} has no hyper-parameter {unknown[0]!r} (accepted: {sorted(DEFAULTS[name])})"
        )
    h = {**DEFAULTS[name], **hyper}
    seed = int(seed)

    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        model = KNeighborsClassifier(n_neighbors=int(h["n_neighbors"]), n_jobs=1)
    elif name == "logreg":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(
            C=float(h["C"]), class_weight="balanced", max_iter=2000, random_state=seed
        )
    elif name == "tree":
        from sklearn.tree import DecisionTreeClassifier

        model = DecisionTreeClassifier(
            max_depth=_opt_int(h["max_depth"]), class_weight="balanced", random_state=seed
        )
        return Pipeline([("model", model)])
    elif name == "forest":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(
            n_estimators=int(h["n_estimators"]),
            max_depth=_opt_int(h["max_depth"]),
            class_weight="balanced",
            n_jobs=1,
            random_state=seed,
        )
        return Pipeline([("model", model)])
    elif name == "svm":
        gamma = h["gamma"] if isinstance(h["gamma"], str) else float(h["gamma"])
        model = CalibratedSVC(C=float(h["C"]), gamma=gamma, class_weight="balanced", random_state=seed)
    elif name == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        # Trees need no scaling. Early stopping stays off so that results do not depend on
        # an internal split of an already small training set. Histogram building over ~500
        # features dominates the time, hence few bins and few iterations by default
        # (about 8 s single-threaded on 1000 x 500 with 7 classes).
        model = HistGradientBoostingClassifier(
            learning_rate=float(h["learning_rate"]),
            max_depth=_opt_int(h["max_depth"]),
            max_iter=int(h["max_iter"]),
            max_bins=int(h["max_bins"]),
            class_weight="balanced",
            early_stopping=False,
            random_state=seed,
        )
        return Pipeline([("model", model)])
    else:  # mlp
        from sklearn.neural_network import MLPClassifier

        # batch_size 64 instead of min(200, n): on a small training set the default gives one
        # step per epoch and early stopping ends training before the net has learned anything.
        model = MLPClassifier(
            hidden_layer_sizes=tuple(int(u) for u in np.atleast_1d(h["hidden_layer_sizes"])),
            alpha=float(h["alpha"]),
            early_stopping=bool(h["early_stopping"]),
            max_iter=int(h["max_iter"]),
            batch_size=64,
            random_state=seed,
        )
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def grid(name: str, size: int) -> list[dict]:
    """The first ``size`` hyper-parameter candidates for ``name``; ``size=1`` is the default only.

    The order is fixed, so a given ``size`` always means the same search.
    """
    _check_name(name)
    if int(size) < 1:
        raise ValueError(f"grid size must be >= 1 (got {size})")
    return [dict(c) for c in _GRIDS[name][: int(size)]]


def predict_proba_full(
    pipeline, X, classes: Sequence[str] = CLASSES, n_threads: int | None = 1
) -> np.ndarray:
    """``predict_proba`` with one column per entry of ``classes``, in that order.

    A training split can lack a rare class (a few dermatofibromas fall in one split); the
    fitted model then has fewer columns. The missing classes get probability 0 so that every
    model's output lines up with ``classification_report``. ``n_threads`` as in ``fit_balanced``.
    """
    classes = [str(c) for c in classes]
    fitted = [str(c) for c in pipeline.classes_]
    unknown = [c for c in fitted if c not in classes]
    if unknown:
        raise ValueError(f"model was trained on class {unknown[0]!r}, which is not in {classes}")
    with _threads(n_threads):
        part = np.asarray(pipeline.predict_proba(X), dtype=np.float64)
    full = np.zeros((part.shape[0], len(classes)), dtype=np.float64)
    full[:, [classes.index(c) for c in fitted]] = part
    return full


def fit_balanced(pipeline, X, y, n_threads: int | None = 1, groups=None):
    """Fit ``pipeline``, giving an MLP balanced sample weights since it has no ``class_weight``.

    The other models are balanced by ``build`` itself (KNN cannot be); this is the one place
    the MLP gets the same treatment, so refit through it too. ``n_threads`` caps OpenMP and
    BLAS threads (HistGradientBoosting and numpy otherwise take every core, and on a busy
    2-core machine oversubscribed OpenMP ran 10x slower than one thread); ``None`` leaves
    the libraries' defaults. ``groups`` (lesion ids) keeps the SVM's calibration folds from
    splitting images of one lesion, or augmented copies of one image, across a fold.
    """
    from sklearn.neural_network import MLPClassifier

    params = {}
    if groups is not None and isinstance(pipeline.steps[-1][1], CalibratedSVC):
        params[f"{pipeline.steps[-1][0]}__groups"] = np.asarray(groups)
    if isinstance(pipeline.steps[-1][1], MLPClassifier):
        from sklearn.utils.class_weight import compute_sample_weight

        step = pipeline.steps[-1][0]
        params[f"{step}__sample_weight"] = compute_sample_weight("balanced", np.asarray(y))
    with _threads(n_threads):
        return pipeline.fit(X, y, **params)


def select_on_val(
    name: str,
    X_train,
    y_train,
    X_val,
    y_val,
    seed: int,
    grid_size: int,
    scorer: Callable[[np.ndarray, np.ndarray], float] = balanced_accuracy,
    n_threads: int | None = 1,
    groups=None,
):
    """Fit each candidate of ``grid(name, grid_size)`` on train and keep the best on val.

    Predictions are the argmax of ``predict_proba`` (not ``predict``), so the validation
    score matches what ``classification_report`` will later say. Ties keep the earlier
    candidate (the default first). Returns ``(pipeline, hyper, val_score, results)``: the
    winning pipeline, already fitted on the training rows (through ``fit_balanced``); its
    hyper-parameters; its score; and one ``{"hyper", "val_score", "fit_seconds"}`` dict per
    candidate, in grid order (``hyper`` with tuples as lists, ready for JSON).
    """
    X_train, X_val = np.asarray(X_train), np.asarray(X_val)
    y_train, y_val = np.asarray(y_train).astype(str), np.asarray(y_val).astype(str)
    if len(X_train) != len(y_train):
        raise ValueError(f"X_train has {len(X_train)} rows but y_train has {len(y_train)} labels")
    if len(X_val) != len(y_val):
        raise ValueError(f"X_val has {len(X_val)} rows but y_val has {len(y_val)} labels")
    candidates = grid(name, grid_size)
    best = None
    results = []
    for hyper in candidates:
        start = time.perf_counter()
        pipeline = fit_balanced(build(name, seed, **hyper), X_train, y_train, n_threads, groups)
        seconds = time.perf_counter() - start
        with _threads(n_threads):
            proba = pipeline.predict_proba(X_val)
        y_pred = np.asarray(pipeline.classes_).astype(str)[np.argmax(proba, axis=1)]
        score = float(scorer(y_val, y_pred))
        results.append({"hyper": hyper_to_json(hyper), "val_score": score, "fit_seconds": seconds})
        if best is None or score > best[2]:
            best = (pipeline, hyper, score)
    return best[0], best[1], best[2], results


class CalibratedSVC(ClassifierMixin, BaseEstimator):
    """RBF SVM with Platt-scaled probabilities from stratified cross-validation.

    Replaces ``SVC(probability=True)``, deprecated in scikit-learn 1.9. The fold count shrinks
    to the smallest class (at most ``max_folds``), so a rare class with 2-4 training samples
    still works; with a single sample there is nothing to cross-validate and the sigmoid is
    fitted on the training decision values (over-confident, but defined).
    """

    def __init__(self, C=1.0, gamma="scale", class_weight="balanced", max_folds=5, random_state=None):
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.max_folds = max_folds
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        """Balanced class weights reach both the SVM and its Platt sigmoids (weighting only the
        SVM would let the sigmoids pull predictions back to the majority class); with
        ``groups``, no group is split across calibration folds."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator
        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
        from sklearn.svm import SVC
        from sklearn.utils.class_weight import compute_sample_weight

        y = np.asarray(y)
        labels, counts = np.unique(y, return_counts=True)
        if len(counts) < 2:
            raise ValueError(f"svm needs at least two classes in training (got {labels.tolist()})")
        weights = compute_sample_weight(self.class_weight, y) if self.class_weight is not None else None
        svc = SVC(kernel="rbf", C=self.C, gamma=self.gamma, random_state=self.random_state)
        if groups is not None:
            groups = np.asarray(groups)
            counts = np.array([len(np.unique(groups[y == label])) for label in labels])
        folds = int(min(self.max_folds, counts.min()))
        if folds >= 2:
            if groups is None:
                cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            else:
                splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=self.random_state)
                cv = list(splitter.split(X, y, groups))
            calibrated = CalibratedClassifierCV(svc, method="sigmoid", cv=cv, ensemble=False)
        else:
            # One "fold" whose train and test parts are the whole set: the sigmoid is fitted
            # on the frozen model's training decision values.
            everything = np.arange(len(y))
            calibrated = CalibratedClassifierCV(
                FrozenEstimator(svc.fit(X, y, sample_weight=weights)),
                method="sigmoid",
                cv=[(everything, everything)],
                ensemble=False,
            )
        with warnings.catch_warnings():
            # The frozen SVM was fitted with these weights already; sklearn cannot know that.
            warnings.filterwarnings("ignore", message="Since FrozenEstimator does not appear to accept sample_weight")
            self.calibrated_ = calibrated.fit(X, y, sample_weight=weights)
        self.classes_ = self.calibrated_.classes_
        self.n_features_in_ = self.calibrated_.n_features_in_
        return self

    def predict_proba(self, X):
        return self.calibrated_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _threads(n_threads: int | None):
    if n_threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n_threads))


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r} (valid: {', '.join(MODEL_NAMES)})")


def _opt_int(value) -> int | None:
    return None if value is None else int(value)


def hyper_to_json(hyper: dict) -> dict:
    """Hyper-parameters as JSON/YAML writes them back (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in hyper.items()}


_jsonable = hyper_to_json  # the name skinlab/baselines.py used first

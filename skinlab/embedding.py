"""2-D maps of high-dimensional image representations, and the numbers that say how far to trust them.

A projection method is a name mapped to one function (`METHODS`), as feature sets are in
features/registry.py. The scores use sklearn's implementations (trustworthiness, silhouette,
k-NN); only the stratified sample and the lesion-grouped cross-validation are assembled here.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import warnings

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


# ---- which images ---------------------------------------------------------------------------------

def stratified_sample(frame: pd.DataFrame, n: int, by: list[str], seed: int) -> pd.DataFrame:
    """`n` rows of `frame` drawn so that every stratum (`by` columns) keeps its share, and at least
    one row while n allows it; the rows keep their order. All of `frame` when it has <= n rows."""
    if len(frame) <= n:
        return frame
    groups = frame.groupby(by, sort=True).indices
    keys = list(groups)
    sizes = np.array([len(groups[key]) for key in keys])
    if n < len(keys):
        raise ValueError(f"cannot keep {len(keys)} strata ({', '.join(by)}) in a sample of {n}; raise the cap")
    exact = n * sizes / sizes.sum()
    quota = np.minimum(np.maximum(np.floor(exact).astype(int), 1), sizes)
    while quota.sum() > n:  # the floor of one per stratum overshot: take from the most over-served
        quota[np.argmax(np.where(quota > 1, quota - exact, -np.inf))] -= 1
    order = np.argsort(-(exact - quota), kind="stable")
    for index in order:  # hand out what is left by the largest remainders
        if quota.sum() == n:
            break
        if quota[index] < sizes[index]:
            quota[index] += 1
    while quota.sum() < n:  # strata full: any with room
        quota[np.argmax(sizes - quota)] += 1
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.choice(groups[key], size=q, replace=False) for key, q in zip(keys, quota)])
    return frame.iloc[np.sort(chosen)]


# ---- vectors -------------------------------------------------------------------------------------

def standardise(blocks: list[np.ndarray]) -> np.ndarray:
    """Concatenate feature blocks, each z-scored per column and scaled by 1/sqrt(its width), so that
    every block weighs the same in a Euclidean distance whatever its length (HOG's 324 columns do
    not drown a 32-bin histogram). Constant columns become 0."""
    parts = []
    for block in blocks:
        block = np.asarray(block, np.float64)
        std = block.std(axis=0)
        z = (block - block.mean(axis=0)) / np.where(std > 0, std, 1.0)
        parts.append(z / np.sqrt(block.shape[1]))
    return np.concatenate(parts, axis=1)


def principal_components(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The first n principal component scores (all columns when n is 0 or not smaller than them)."""
    from sklearn.decomposition import PCA

    if n == 0 or n >= min(X.shape):
        return X
    return PCA(n_components=n, random_state=seed).fit_transform(X)


def explained_variance(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Cumulative share of the variance explained by the first 1..n components."""
    from sklearn.decomposition import PCA

    n = min(n, *X.shape)
    return np.cumsum(PCA(n_components=n, random_state=seed).fit(X).explained_variance_ratio_)


# ---- projections ---------------------------------------------------------------------------------

def _pca(X, cfg, seed):
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(X)


def _tsne(X, cfg, seed):
    from sklearn.manifold import TSNE

    perplexity = min(cfg.tsne.perplexity, (len(X) - 1) / 3)
    if perplexity < cfg.tsne.perplexity:
        log.warning("t-SNE: perplexity lowered from %g to %.1f for %d points", cfg.tsne.perplexity, perplexity, len(X))
    X = principal_components(X, cfg.pre_pca, seed)
    return TSNE(n_components=2, perplexity=perplexity, max_iter=cfg.tsne.max_iter, init="pca",
                learning_rate="auto", random_state=seed).fit_transform(X)


def _umap(X, cfg, seed):
    import umap

    neighbors = min(cfg.umap.n_neighbors, len(X) - 1)
    if neighbors < cfg.umap.n_neighbors:
        log.warning("UMAP: n_neighbors lowered from %d to %d for %d points", cfg.umap.n_neighbors, neighbors, len(X))
    X = principal_components(X, cfg.pre_pca, seed)
    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state": wanted, for determinism
        warnings.filterwarnings("ignore", message=".*n_jobs.*overridden.*")
        reducer = umap.UMAP(n_components=2, n_neighbors=neighbors, min_dist=cfg.umap.min_dist, random_state=seed)
        return reducer.fit_transform(X)


METHODS = {"pca": _pca, "tsne": _tsne, "umap": _umap}


@dataclasses.dataclass
class Projection:
    coordinates: np.ndarray  # (n, 2)
    seconds: float


def project(method: str, X: np.ndarray, cfg, seed: int) -> Projection:
    """2-D coordinates of the rows of X by `method` (pca | tsne | umap), with the wall time it took."""
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; known: {', '.join(METHODS)}")
    if len(X) < 4:
        raise ValueError(f"{method}: needs at least 4 points (got {len(X)})")
    start = time.perf_counter()
    coordinates = np.asarray(METHODS[method](np.asarray(X, np.float64), cfg, seed), np.float64)
    return Projection(coordinates, time.perf_counter() - start)


# ---- scores --------------------------------------------------------------------------------------

def trustworthiness(X: np.ndarray, Y: np.ndarray, k: int) -> float | None:
    """sklearn's trustworthiness (1: the 2-D neighbours of every point are neighbours in X);
    k is lowered to what the number of points allows; None under 4 points."""
    from sklearn.manifold import trustworthiness as score

    k = min(k, (len(X) - 1) // 2)
    return None if k < 1 else float(score(X, Y, n_neighbors=k))


def knn_cv(X: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int, folds: int, seed: int) -> dict | None:
    """Out-of-fold k-NN predictions in the space X, folds grouped by lesion and stratified by label:
    accuracy, balanced accuracy, and the majority share as chance. None when fewer than two labels
    or two groups."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels, str)
    folds = min(folds, len(np.unique(groups)))
    if len(np.unique(labels)) < 2 or folds < 2:
        return None
    predicted = np.empty(len(labels), dtype=labels.dtype)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a class rarer than the folds is expected on small sets
        warnings.filterwarnings("ignore", message="The least populated class")
        for fit, held in splitter.split(X, labels, groups):
            model = KNeighborsClassifier(n_neighbors=min(k, len(fit))).fit(X[fit], labels[fit])
            predicted[held] = model.predict(X[held])
    _, counts = np.unique(labels, return_counts=True)
    return {"accuracy": float(accuracy_score(labels, predicted)),
            "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
            "chance": float(counts.max() / counts.sum()), "folds": folds}


def silhouette(Y: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean silhouette of the labels' clusters in Y (-1..1; near 0: mixed); None with one label."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels, str)
    if not 2 <= len(np.unique(labels)) < len(labels):
        return None
    return float(silhouette_score(Y, labels))

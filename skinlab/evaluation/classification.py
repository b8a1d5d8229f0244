"""Classification metrics that stay honest on HAM10000's 58 %-nevus imbalance.

Plain accuracy rewards a model that says "nevus" to everything, so every report carries
balanced accuracy (the ISIC 2018 metric), macro-F1, one-vs-rest AUC, per-class recall and
melanoma sensitivity beside it. Reports are JSON-ready: plain Python numbers, and ``None``
(never NaN) where a value is undefined for the data at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from skinlab.data.schema import CLASSES, MALIGNANT

# Rows of a probability matrix may drift from 1 by float32 softmax rounding, not by more.
ROW_SUM_ATOL = 1e-3


def classification_report(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str] = CLASSES
) -> dict:
    """Every headline metric of one model on one split, as a JSON-ready dict.

    ``proba`` is (n, len(classes)) in the order of ``classes``; the prediction is its argmax
    (ties go to the earlier class). Keys:

    - ``n``, ``classes`` (the order used by ``confusion_matrix`` and ``per_class``),
      ``accuracy``.
    - ``balanced_accuracy``: mean recall over the classes present in ``y_true``. A class
      absent from ``y_true`` has no recall and is left out rather than counted as 0.
    - ``macro_f1``: mean F1 over the classes present in ``y_true`` *or* predicted at least
      once; F1 = 2TP / (2TP + FP + FN), so a class never predicted scores 0 and a class
      predicted but absent scores 0 (sklearn's ``zero_division=0`` on those labels).
    - ``macro_auc_ovr``: mean one-vs-rest ROC AUC over the classes that have both positives
      and negatives in ``y_true``; ``None`` if there is none.
    - ``per_class[c]``: ``recall`` (``None`` if ``c`` is absent from ``y_true``),
      ``precision`` (``None`` if ``c`` is never predicted), ``f1`` (``None`` if ``c`` is
      neither present nor predicted), ``support``, ``auc`` (``None`` unless ``y_true`` holds
      both ``c`` and something else).
    - ``melanoma``: ``sensitivity`` = recall of ``mel`` (``None`` without melanomas),
      ``specificity`` = share of non-melanomas not predicted ``mel`` (``None`` without
      non-melanomas); both ``None`` if ``mel`` is not in ``classes``.
    - ``malignant_auc``: ROC AUC of malignant (``schema.MALIGNANT`` classes found in
      ``classes``) against benign, scored by the summed probability of the malignant
      classes; ``None`` if either side is missing from ``y_true``.
    - ``confusion_matrix``: list of lists, rows = true class, columns = predicted class.
    """
    classes = _check_classes(classes)
    y_idx, proba = validate_inputs(y_true, proba, classes)
    k = len(classes)
    pred_idx = np.argmax(proba, axis=1)

    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_idx, pred_idx), 1)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)

    per_class = {}
    for i, c in enumerate(classes):
        auc = _binary_auc(y_idx == i, proba[:, i])
        per_class[c] = {
            "recall": _ratio(tp[i], support[i]),
            "precision": _ratio(tp[i], predicted[i]),
            "f1": _ratio(2 * tp[i], support[i] + predicted[i]),
            "support": int(support[i]),
            "auc": auc,
        }

    recalls = [v["recall"] for v in per_class.values() if v["recall"] is not None]
    f1s = [v["f1"] for v in per_class.values() if v["f1"] is not None]
    aucs = [v["auc"] for v in per_class.values() if v["auc"] is not None]

    return {
        "n": int(len(y_idx)),
        "classes": list(classes),
        "accuracy": float(tp.sum() / len(y_idx)),
        "balanced_accuracy": _mean(recalls),
        "macro_f1": _mean(f1s),
        "macro_auc_ovr": _mean(aucs),
        "per_class": per_class,
        "melanoma": _melanoma(cm, classes),
        "malignant_auc": _malignant_auc(y_idx, proba, classes),
        "confusion_matrix": cm.tolist(),
    }


def validate_inputs(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str] = CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """``(class index per sample, proba as float64)``, or ValueError naming what is wrong.

    Rejects: an empty ``y_true``; a label not in ``classes`` (named, with its position);
    ``proba`` not shaped (n, len(classes)); a row with NaN/inf, a negative entry, or a sum
    further than ``ROW_SUM_ATOL`` from 1 (logits or unnormalised scores passed by mistake).
    """
    classes = _check_classes(classes)
    y_idx = _label_indices(y_true, classes, "y_true")
    return y_idx, _check_proba(proba, len(y_idx), classes)


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Share of exact matches; here for bootstrapping and as a comparison to balanced accuracy."""
    y_true, y_pred = _paired_labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def balanced_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Mean recall over the classes present in ``y_true`` (ISIC 2018's headline metric).

    Works on any labels, so it can score a model whose training lacked a class.
    """
    y_true, y_pred = _paired_labels(y_true, y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Mean F1 over labels present in ``y_true`` or ``y_pred``, as in ``classification_report``."""
    y_true, y_pred = _paired_labels(y_true, y_pred)
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = np.sum((y_true == c) & (y_pred == c))
        scores.append(2 * tp / (np.sum(y_true == c) + np.sum(y_pred == c)))
    return float(np.mean(scores))


def confusion_rows(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None = None
) -> list[dict]:
    """One ``{"actual", "predicted"}`` row per sample: the input of DVC's ``confusion`` template.

    With ``classes`` given, a label outside it raises ValueError instead of silently adding a
    row and column to the rendered matrix.
    """
    y_true, y_pred = _paired_labels(y_true, y_pred)
    if classes is not None:
        classes = _check_classes(classes)
        _label_indices(y_true, classes, "y_true")
        _label_indices(y_pred, classes, "y_pred")
    return [{"actual": str(a), "predicted": str(p)} for a, p in zip(y_true, y_pred)]


def bootstrap_ci(
    y_true: Sequence[str],
    y_pred_or_proba: Sequence | np.ndarray,
    metric_fn: Callable[[np.ndarray, np.ndarray], float | None],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Sequence | None = None,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of ``metric_fn(y_true, y_pred_or_proba)``.

    With ``groups`` (e.g. lesion ids) whole groups are redrawn, not single rows: images of one
    lesion are not independent, and a row bootstrap would make the interval too narrow.

    Small groups (a rare skin type, a rare site) give metrics with wide uncertainty; the
    interval makes that visible. Samples are redrawn with replacement, rows of
    ``y_pred_or_proba`` (labels or a probability matrix) move with their labels. Resamples
    where the metric is undefined (``None`` or NaN, e.g. an AUC drawn with one class only)
    are dropped; if all are, the interval is ``(None, None)``.
    """
    if int(n_boot) < 1:
        raise ValueError(f"bootstrap_ci: n_boot must be >= 1 (got {n_boot})")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"bootstrap_ci: alpha must be in (0, 1) (got {alpha})")
    y_true = np.asarray(y_true)
    scores = np.asarray(y_pred_or_proba)
    if y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"bootstrap_ci: y_true must be a non-empty 1-D sequence (shape {y_true.shape})")
    if len(scores) != len(y_true):
        raise ValueError(
            f"bootstrap_ci: y_true has {len(y_true)} samples but y_pred_or_proba has {len(scores)}"
        )
    rng = np.random.default_rng(seed)
    n = len(y_true)
    members = None
    if groups is not None:
        if len(groups) != n:
            raise ValueError(f"bootstrap_ci: groups has {len(groups)} entries for {n} samples")
        _, codes = np.unique(np.asarray(groups), return_inverse=True)
        members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    values = []
    for _ in range(int(n_boot)):
        if members is None:
            idx = rng.integers(0, n, size=n)
        else:
            idx = np.concatenate([members[g] for g in rng.integers(0, len(members), size=len(members))])
        value = metric_fn(y_true[idx], scores[idx])
        if value is not None and np.isfinite(value):
            values.append(float(value))
    if not values:
        return None, None
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_difference_ci(
    y_true: Sequence[str],
    y_pred_a: Sequence[str],
    y_pred_b: Sequence[str],
    metric_fn: Callable[[np.ndarray, np.ndarray], float | None],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Sequence | None = None,
) -> dict:
    """``metric(a) - metric(b)`` on the same samples, with a paired bootstrap interval.

    Both models' predictions are redrawn together (whole groups with ``groups``), so the
    interval reflects how much the *difference* varies, which is narrower than comparing two
    separate intervals. Returns ``{"a", "b", "difference", "ci95", "excludes_zero"}``.
    """
    y_pred_a, y_pred_b = np.asarray(y_pred_a).astype(str), np.asarray(y_pred_b).astype(str)
    if len(y_pred_a) != len(y_pred_b):
        raise ValueError(f"paired_difference_ci: {len(y_pred_a)} predictions of a but {len(y_pred_b)} of b")
    pairs = np.stack([y_pred_a, y_pred_b], axis=1)

    def difference(y, p):
        return metric_fn(y, p[:, 0]) - metric_fn(y, p[:, 1])

    low, high = bootstrap_ci(y_true, pairs, difference, n_boot=n_boot, alpha=alpha, seed=seed, groups=groups)
    a, b = metric_fn(np.asarray(y_true), y_pred_a), metric_fn(np.asarray(y_true), y_pred_b)
    return {"a": a, "b": b, "difference": a - b, "ci95": [low, high],
            "excludes_zero": bool(low is not None and (low > 0 or high < 0))}


# --- helpers -------------------------------------------------------------------------------


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    classes = tuple(str(c) for c in classes)
    if not classes:
        raise ValueError("classes must not be empty")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be unique (got {list(classes)})")
    return classes


def _label_indices(labels: Sequence[str], classes: tuple[str, ...], what: str) -> np.ndarray:
    """Map labels to column indices, naming the first unknown label and where it is."""
    position = {c: i for i, c in enumerate(classes)}
    labels = list(labels) if not isinstance(labels, np.ndarray) else labels.tolist()
    if not labels:
        raise ValueError(f"{what} is empty")
    out = np.empty(len(labels), dtype=np.int64)
    for row, label in enumerate(labels):
        try:
            out[row] = position[str(label)]
        except KeyError:
            raise ValueError(
                f"{what}[{row}] = {label!r} is not a known class (expected one of {list(classes)})"
            ) from None
    return out


def _check_proba(proba: np.ndarray, n: int, classes: tuple[str, ...]) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (n, len(classes)):
        raise ValueError(
            f"proba has shape {proba.shape}, expected ({n}, {len(classes)}): "
            f"one row per sample, one column per class of {list(classes)}"
        )
    bad = ~np.isfinite(proba).all(axis=1)
    if bad.any():
        raise ValueError(f"proba row {int(np.argmax(bad))} holds NaN or infinity")
    bad = (proba < -ROW_SUM_ATOL).any(axis=1)
    if bad.any():
        raise ValueError(f"proba row {int(np.argmax(bad))} holds a negative probability")
    sums = proba.sum(axis=1)
    bad = np.abs(sums - 1.0) > ROW_SUM_ATOL
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"proba row {row} sums to {sums[row]:.6g}, not 1 (were scores passed instead of probabilities?)")
    return proba


def _paired_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f"labels must be 1-D (got shapes {y_true.shape} and {y_pred.shape})")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    return y_true, y_pred


def _ratio(num, den) -> float | None:
    return None if den == 0 else float(num / den)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when one side is empty and the AUC does not exist."""
    if positive.all() or not positive.any():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, score))


def _melanoma(cm: np.ndarray, classes: tuple[str, ...]) -> dict:
    if "mel" not in classes:
        return {"sensitivity": None, "specificity": None}
    m = classes.index("mel")
    others = [i for i in range(len(classes)) if i != m]
    negatives = cm[others, :].sum()
    true_negatives = negatives - cm[others, m].sum()
    return {
        "sensitivity": _ratio(cm[m, m], cm[m, :].sum()),
        "specificity": _ratio(true_negatives, negatives),
    }


def _malignant_auc(y_idx: np.ndarray, proba: np.ndarray, classes: tuple[str, ...]) -> float | None:
    columns = [i for i, c in enumerate(classes) if c in MALIGNANT]
    if not columns:
        return None
    return _binary_auc(np.isin(y_idx, columns), proba[:, columns].sum(axis=1))

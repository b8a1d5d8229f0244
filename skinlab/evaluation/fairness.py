"""Does a model work as well for every skin-tone group? Per-group metrics and the gaps between
groups, each with a lesion-bootstrap 95 % interval, and fairlearn's malignancy differences.

A group's figures come from its own test images; its interval redraws its lesions (images of
one lesion move together). The gap of a metric is best minus worst group among the groups
large enough to judge (``min_size`` images or more, and not the "unknown" group of images
without an estimate); its interval is that of the difference between those two groups'
bootstrap draws (independent: disjoint images), widened (Bonferroni) for the number of pairs
the two were picked from, so that it keeps 95 % though best and worst are chosen after seeing
the data. Smaller groups, and groups of the grouping without any test image, are still
reported, flagged ``small``: never dropped silently.

Malignancy is the decision malignant (mel, bcc, akiec) vs benign: true when the diagnosis is
malignant, predicted when the predicted class is. Equal opportunity compares its true-positive
rate between groups, equalized odds the worse of the true- and false-positive-rate differences
(fairlearn, ``between_groups``), over the judged groups that hold enough malignant and benign
images; their intervals are those of the signed difference between the two groups that define
them, adjusted like a gap's. (The AUC scores the summed malignant probability instead, so it
does not depend on the argmax decision.)
"""
from __future__ import annotations

import numpy as np

from skinlab.data.schema import CLASSES, MALIGNANT

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "melanoma_sensitivity", "malignant_auc")
UNKNOWN = "unknown"  # images without an estimate of the grouping: reported, never judged in a gap
_MALIGNANT_IDX = np.array([i for i, c in enumerate(CLASSES) if c in MALIGNANT])
_IS_MALIGNANT = np.isin(np.arange(len(CLASSES)), _MALIGNANT_IDX)  # class index -> malignant?
_MEL = CLASSES.index("mel")


def scores(y: np.ndarray, pred: np.ndarray, malignant_score: np.ndarray) -> dict:
    """The per-group metrics of class indices ``y`` and ``pred`` (CLASSES order); NaN where undefined.

    Same definitions as classification.classification_report: balanced accuracy over the
    classes present, macro-F1 over classes present or predicted, melanoma sensitivity = recall
    of mel, malignant AUC scored by the summed malignant probability.
    """
    k = len(CLASSES)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    present, seen = support > 0, (support + predicted) > 0
    return {
        "accuracy": tp.sum() / len(y),
        "balanced_accuracy": np.mean(tp[present] / support[present]),
        "macro_f1": np.mean(2 * tp[seen] / (support + predicted)[seen]),
        "melanoma_sensitivity": tp[_MEL] / support[_MEL] if support[_MEL] else np.nan,
        "malignant_auc": auc(_IS_MALIGNANT[y], malignant_score),
    }


def auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (ties count half, as sklearn's); NaN when one side is empty."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def rates(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(true-positive rate, false-positive rate) of the malignant decision; NaN where undefined."""
    truth, said = _IS_MALIGNANT[y], _IS_MALIGNANT[pred]
    tpr = said[truth].mean() if truth.any() else np.nan
    fpr = said[~truth].mean() if (~truth).any() else np.nan
    return float(tpr), float(fpr)


def draws(y, pred, malignant_score, lesions, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """``n_boot`` lesion-bootstrap values of every metric (and ``tpr``, ``fpr``); NaN where undefined."""
    rng = np.random.default_rng(seed)
    _, codes = np.unique(lesions, return_inverse=True)
    order = np.argsort(codes, kind="stable")  # images of lesion g: order[starts[g]:starts[g] + sizes[g]]
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = {name: np.empty(n_boot) for name in METRICS + ("tpr", "fpr")}
    for b in range(n_boot):
        drawn = rng.integers(0, len(sizes), size=len(sizes))
        lengths = sizes[drawn]
        ends = np.cumsum(lengths)
        idx = order[np.repeat(starts[drawn] - ends + lengths, lengths) + np.arange(ends[-1])]
        values = scores(y[idx], pred[idx], malignant_score[idx])
        values["tpr"], values["fpr"] = rates(y[idx], pred[idx])
        for name, value in values.items():
            out[name][b] = value
    return out


def interval(values: np.ndarray, alpha: float = 0.05) -> list[float | None]:
    """Percentile interval of the defined draws; [None, None] when none is defined."""
    values = values[np.isfinite(values)]
    if not len(values):
        return [None, None]
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return [float(low), float(high)]


def groups_report(y, pred, malignant_score, lesions, groups, order, min_size: int, n_boot: int, seed: int,
                  min_positives: int = 1) -> dict:
    """Every group of ``order`` (those without images too, with n 0) and any other label of
    ``groups`` after them, with metrics, intervals and flags; the gap of every metric and the
    malignancy differences.

    ``y``/``pred`` are class indices, ``malignant_score`` the summed malignant probability,
    ``lesions`` the lesion id per image (the bootstrap unit). A group's melanoma sensitivity
    enters a gap only with ``min_positives`` melanomas, its malignant AUC and malignant rates
    only with that many malignant and benign images.
    """
    y, pred = np.asarray(y, np.int64), np.asarray(pred, np.int64)
    malignant_score, lesions, groups = np.asarray(malignant_score, float), np.asarray(lesions), np.asarray(groups, str)
    present = set(groups.tolist())
    labels = [str(g) for g in order if g in present or g != UNKNOWN] + sorted(present - set(order))
    entries, samples = {}, {}
    for number, label in enumerate(labels):
        keep = groups == label
        entries[label] = entry = {"n": int(keep.sum()), "n_lesions": int(len(set(lesions[keep]))),
                                  "small": bool(keep.sum() < min_size),
                                  "judged": bool(keep.sum() >= min_size and label != UNKNOWN),
                                  "malignant": int(_IS_MALIGNANT[y[keep]].sum()), "melanomas": int((y[keep] == _MEL).sum())}
        if not keep.any():
            entry.update({"malignant_tpr": None, "malignant_fpr": None,
                          **{key: value for name in METRICS for key, value in ((name, None), (f"{name}_ci95", [None, None]))}})
            continue
        point = scores(y[keep], pred[keep], malignant_score[keep])
        tpr, fpr = rates(y[keep], pred[keep])
        samples[label] = draws(y[keep], pred[keep], malignant_score[keep], lesions[keep], n_boot, seed + number)
        entry.update(malignant_tpr=_plain(tpr), malignant_fpr=_plain(fpr))
        for name in METRICS:
            entry[name] = _plain(point[name])
            entry[f"{name}_ci95"] = interval(samples[label][name])
    judged = [label for label in labels if entries[label]["judged"]]
    return {"groups": entries, "judged": judged, "min_positives": min_positives,
            "small": [label for label in labels if entries[label]["small"]],
            "gaps": {name: gap(entries, samples, _enough(entries, judged, name, min_positives), name) for name in METRICS},
            "malignancy": malignancy(y, pred, groups, entries, samples, _enough(entries, judged, "malignant_tpr", min_positives))}


def _enough(entries: dict, judged: list[str], name: str, min_positives: int) -> list[str]:
    """The judged groups where `name` is defined and rests on enough positive (and negative) images."""
    def holds(entry):
        if name == "melanoma_sensitivity":
            return entry["melanomas"] >= min_positives
        if name in ("malignant_auc", "malignant_tpr"):
            return min(entry["malignant"], entry["n"] - entry["malignant"]) >= min_positives
        return True
    return [label for label in judged if entries[label].get(name) is not None and holds(entries[label])]


def _pair_interval(high: np.ndarray, low: np.ndarray, k: int, choices: int = 1) -> tuple[list, list]:
    """(interval of high - low over the draws, adjusted (Bonferroni) for the k(k-1)/2 pairs, times
    `choices`, the two were chosen from after seeing the data; the pair's own 95 % interval)."""
    pairs = max(1, k * (k - 1) // 2) * choices
    difference = high - low
    return interval(difference, 0.05 / pairs), interval(difference)


def gap(entries: dict, samples: dict, usable: list[str], name: str) -> dict:
    """Best minus worst usable group on one metric. Its ``ci95`` is Bonferroni-adjusted over every
    pair of usable groups, as best and worst are picked after seeing the data (the pair's own
    interval, ``pair_ci95``, would exclude 0 far more often than 5 % between equal groups)."""
    if len(usable) < 2:
        return {"gap": None, "best": None, "worst": None, "groups": usable, "ci95": [None, None],
                "pair_ci95": [None, None], "excludes_zero": False,
                "reason": f"{len(usable)} judged group(s) with a defined {name} on enough images: a gap needs two"}
    best = max(usable, key=lambda label: entries[label][name])
    worst = min((label for label in usable if label != best), key=lambda label: entries[label][name])
    adjusted, own = _pair_interval(samples[best][name], samples[worst][name], len(usable))
    return {"gap": entries[best][name] - entries[worst][name], "best": best, "worst": worst, "groups": usable,
            "ci95": adjusted, "pair_ci95": own, "excludes_zero": _excludes_zero(adjusted), "reason": None}


def malignancy(y, pred, groups, entries, samples, usable) -> dict:
    """Equal-opportunity and equalized-odds differences (fairlearn, between groups) of the
    malignant decision over the usable groups, each with the Bonferroni-adjusted interval of the
    signed difference between the two groups that define it."""
    if len(usable) < 2:
        return {"groups": usable, "equal_opportunity_difference": None, "equalized_odds_difference": None,
                "equal_opportunity_ci95": [None, None], "equalized_odds_ci95": [None, None],
                "equal_opportunity_pair": None, "equalized_odds_pair": None, "equalized_odds_rate": None,
                "reason": f"{len(usable)} judged group(s) hold enough malignant and benign images: the differences need two"}
    from fairlearn.metrics import equal_opportunity_difference, equalized_odds_difference

    keep = np.isin(groups, usable)
    truth, said = _IS_MALIGNANT[y[keep]].astype(int), _IS_MALIGNANT[pred[keep]].astype(int)
    spans = {}
    for rate in ("tpr", "fpr"):
        high = max(usable, key=lambda label: entries[label][f"malignant_{rate}"])
        low = min((label for label in usable if label != high), key=lambda label: entries[label][f"malignant_{rate}"])
        spans[rate] = (entries[high][f"malignant_{rate}"] - entries[low][f"malignant_{rate}"], high, low,
                       _pair_interval(samples[high][rate], samples[low][rate], len(usable), 1 if rate == "tpr" else 2)[0])
    odds = max(spans, key=lambda rate: spans[rate][0])  # the worse of the two differences, as fairlearn's
    if odds == "tpr":  # equalized odds chose among both rates: adjust for twice the pairs
        high, low = spans["tpr"][1:3]
        spans["odds"] = (*spans["tpr"][:3], _pair_interval(samples[high]["tpr"], samples[low]["tpr"], len(usable), 2)[0])
    else:
        spans["odds"] = spans["fpr"]
    return {"groups": usable,
            "equal_opportunity_difference": float(equal_opportunity_difference(truth, said, sensitive_features=groups[keep])),
            "equalized_odds_difference": float(equalized_odds_difference(truth, said, sensitive_features=groups[keep])),
            "equal_opportunity_ci95": spans["tpr"][3], "equal_opportunity_pair": list(spans["tpr"][1:3]),
            "equalized_odds_ci95": spans["odds"][3], "equalized_odds_pair": list(spans["odds"][1:3]),
            "equalized_odds_rate": odds, "reason": None}


def _excludes_zero(bounds: list) -> bool:
    return bool(bounds[0] is not None and (bounds[0] > 0 or bounds[1] < 0))


def _plain(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)

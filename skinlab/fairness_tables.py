"""README tables and sentences from metrics/fairness_eval.json (kinds of skinlab.report)."""
from __future__ import annotations

from pathlib import Path

from skinlab import io
from skinlab.fairness_report import GROUPINGS
from skinlab.evaluation.fairness import UNKNOWN

MODEL_TITLES = {"cnn": "CNN", "baseline": "best baseline", "cnn_reweighed": "CNN, reweighed"}


def _read(root: Path) -> dict:
    return io.read_json(Path(root) / "metrics" / "fairness_eval.json")


def _value(value, interval=None) -> str:
    if value is None:
        return "n/a"
    if interval is None or None in interval:
        return f"{value:.2f}"
    return f"{value:.2f} ({interval[0]:.2f} to {interval[1]:.2f})"


def _models(result: dict) -> list[str]:
    """The models in a fixed order (the JSON's keys are sorted)."""
    return [m for m in MODEL_TITLES if m in result["models"]] + sorted(set(result["models"]) - set(MODEL_TITLES))


def _groupings(report: dict) -> list[str]:
    return [g for g in GROUPINGS if g in report["by"]]


def _ordered(grouping: str, groups: dict) -> list[str]:
    order = GROUPINGS[grouping][1] + (UNKNOWN,)
    return [g for g in order if g in groups] + sorted(set(groups) - set(order))


def groups_table(root: Path) -> str:
    """Balanced accuracy (95 % interval) of every model per group of every grouping; small groups marked."""
    result = _read(root)
    models = result["models"]
    names = _models(result)
    lines = ["| grouping | group | test images | melanomas | " + " | ".join(MODEL_TITLES.get(m, m) for m in names) + " |",
             "|---|---|---:|---:|" + "---:|" * len(names)]
    first = models[names[0]]
    for grouping in _groupings(first):
        groups = first["by"][grouping]["groups"]
        for label in _ordered(grouping, groups):
            entry = groups[label]
            flag = " (small)" if entry["small"] else (" (not judged)" if not entry["judged"] else "")
            cells = [_value(models[m]["by"][grouping]["groups"][label]["balanced_accuracy"],
                            models[m]["by"][grouping]["groups"][label]["balanced_accuracy_ci95"]) for m in names]
            lines.append(f"| {grouping} | {label.replace('_', ' ')} | {entry['n']}{flag} | {entry['melanomas']} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def gaps_table(root: Path) -> str:
    """Best minus worst judged group per model and grouping, and the malignancy differences."""
    result = _read(root)
    lines = ["| model | grouping | bal. acc. gap (95% CI) | best / worst | malignant AUC gap | mel. sens. gap | "
             "equal opportunity diff. | equalized odds diff. |", "|---|---|---:|---|---:|---:|---:|---:|"]
    for model in _models(result):
        report = result["models"][model]
        for grouping in _groupings(report):
            by = report["by"][grouping]
            gaps, mal = by["gaps"], by["malignancy"]
            bacc = gaps["balanced_accuracy"]
            pair = f"{bacc['best']} / {bacc['worst']}" if bacc["gap"] is not None else "n/a"
            lines.append(f"| {MODEL_TITLES.get(model, model)} | {grouping} | {_value(bacc['gap'], bacc['ci95'])} | {pair} | "
                         f"{_value(gaps['malignant_auc']['gap'], gaps['malignant_auc']['ci95'])} | "
                         f"{_value(gaps['melanoma_sensitivity']['gap'], gaps['melanoma_sensitivity']['ci95'])} | "
                         f"{_value(mal['equal_opportunity_difference'], mal['equal_opportunity_ci95'])} | "
                         f"{_value(mal['equalized_odds_difference'], mal['equalized_odds_ci95'])} |")
    return "\n".join(lines)


def estimate_summary(root: Path) -> str:
    """What grouping by the estimated instead of the true type changes, for the CNN and the baseline."""
    result = _read(root)
    vs, accuracy = result["estimate_vs_truth"], result["estimate_on_test"]
    if not vs:
        return "The data has no true skin type: the groups are the estimate's, and its error is unknown here."
    parts = []
    for model in ("cnn", "baseline"):
        entry = vs[model]["balanced_accuracy"]
        verdict = "the same verdict" if entry["same_verdict"] else "a different verdict"
        worst = ("the same worst group" if entry["same_worst"]
                 else f"another worst group ({entry['worst_estimated']} instead of {entry['worst_true']})")
        parts.append(f"for the {MODEL_TITLES[model]} the balanced-accuracy gap is {_value(entry['gap_true'])} by true "
                     f"and {_value(entry['gap_estimated'])} by estimated type, with {worst} and {verdict} "
                     "(whether the interval excludes 0)")
    return (f"The estimate agrees with the true type on {accuracy['exact']:.0%} of the {accuracy['n']} test images "
            f"({accuracy['within_one']:.0%} within one type); " + "; ".join(parts) + ".")


def mitigation_summary(root: Path) -> str:
    """The gap of the CNN before and after skin-tone reweighing, and what it cost overall."""
    mitigation = _read(root)["mitigation"]
    if mitigation.get("method") != "reweigh":
        return "No mitigation was run (fairness_eval.mitigation.method: none)."
    parts = []
    for grouping in [g for g in GROUPINGS if g in mitigation["before_after"]]:
        entry = mitigation["before_after"][grouping]["balanced_accuracy"]
        parts.append(f"by {grouping} {_value(entry['gap_before'], entry['gap_before_ci95'])} before, "
                     f"{_value(entry['gap_after'], entry['gap_after_ci95'])} after")
    overall = next(iter(mitigation["before_after"].values()))["balanced_accuracy"]
    weights = ", ".join(f"{g} {w:.2f}" for g, w in sorted(mitigation["weights"].items(), key=lambda item: -item[1]))
    return (f"Retraining the CNN with loss weights that balance the {mitigation['grouping']} groups of the training "
            f"images ({weights}; capped at {mitigation['max_weight']:g} before scaling) moves its balanced-accuracy "
            f"gap {'; '.join(parts)}; overall test balanced accuracy {_value(overall['overall_before'])} before, "
            f"{_value(overall['overall_after'])} after.")


KINDS = {"fairness": groups_table, "fairness_gaps": gaps_table, "fairness_estimate": estimate_summary,
         "fairness_mitigation": mitigation_summary}

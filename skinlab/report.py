"""Markdown tables from committed metrics, so README figures are printed, not typed.

python -m skinlab.report metrics/train_baselines.json
"""
from __future__ import annotations

import argparse
from pathlib import Path

from skinlab import io

COLUMNS = (("val_balanced_accuracy", "val bal. acc."), ("balanced_accuracy", "bal. acc."),
           ("balanced_accuracy_ci95", "95% CI (lesion bootstrap)"), ("accuracy", "acc."),
           ("macro_f1", "macro-F1"), ("macro_auc_ovr", "macro AUC"), ("melanoma_sensitivity", "mel sens."),
           ("melanoma_specificity", "mel spec."), ("malignant_auc", "malignant AUC"))


def _cell(value) -> str:
    if isinstance(value, (list, tuple)):
        return "n/a" if None in value else f"{value[0]:.2f}-{value[1]:.2f}"
    return "n/a" if value is None else f"{value:.3f}"


def baseline_table(metrics: dict) -> str:
    """One row per (features, model) pair, ranked on val (how the pipeline chooses), test figures beside."""
    best = f"{metrics['best']['features']}+{metrics['best']['model']}"
    lines = ["| features | model | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    pairs = sorted(metrics["pairs"].items(), key=lambda item: -(item[1]["val_balanced_accuracy"] or 0))
    for name, pair in pairs:
        values = {"val_balanced_accuracy": pair["val_balanced_accuracy"], **pair["test"]}
        mark = "**" if name == best else ""
        cells = [f"{mark}{_cell(values[key])}{mark}" for key, _ in COLUMNS]
        lines.append(f"| {mark}{pair['features']}{mark} | {mark}{pair['model']}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("metrics", type=Path)
    args = parser.parse_args(argv)
    print(baseline_table(io.read_json(args.metrics)))


if __name__ == "__main__":
    main()

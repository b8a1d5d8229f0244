"""fairness_eval's PNG figures: per-group bars with their intervals, and accuracy against ITA."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import fairness_report, io
from skinlab.evaluation import plots


def write_plots(out: Path, result: dict, predictions: dict, inputs, fe, seed: int, cuts) -> None:
    """groups.json (DVC bars), groups.png (bars with intervals), accuracy_vs_ita.csv and .png."""
    footer = f"{plots.FOOTER} Models trained on {result['trained_on']}."
    models = result["models"]
    io.write_json(out / "groups.json", bar_rows(models))
    plots.save_png(groups_figure(models, "balanced_accuracy", "Balanced accuracy per skin-tone group, test split",
                                 footer), out / "groups.png")
    curves = {name: fairness_report.ita_bins(frame, fairness_report.tones_for(frame, inputs.tones, inputs.tones_path),
                                             fe.ita_bins, fe.bootstrap, seed) for name, frame in predictions.items()}
    rows = [{"model": name, **row} for name, points in curves.items() for row in points]
    columns = ["model", "ita", "ita_low", "ita_high", "accuracy", "ci_low", "ci_high", "n"]
    io.write_csv(out / "accuracy_vs_ita.csv", pd.DataFrame(rows, columns=columns))
    plots.save_png(ita_figure(curves, f"Accuracy against ITA ({fe.ita_bins} equal-count bins), test split", footer, cuts),
                   out / "accuracy_vs_ita.png")


def bar_rows(models: dict, metric: str = "balanced_accuracy") -> list[dict]:
    """DVC bar_horizontal rows: one bar per (model, grouping, group) with a defined value."""
    rows = []
    for model, report in models.items():
        for grouping, result in report["by"].items():
            for label, entry in result["groups"].items():
                if entry[metric] is None:
                    continue
                low, high = entry[f"{metric}_ci95"]
                flag = ", small" if entry["small"] else ""
                rows.append({"bar": f"{model} | {grouping} | {label} (n={entry['n']}{flag})", metric: entry[metric],
                             "ci_low": low, "ci_high": high})
    return rows


def groups_figure(models: dict, metric: str, title: str, footer: str):
    """One panel per grouping; in each, a bar per (group, model) with its 95 % interval.
    Groups below min_group_size are drawn pale and marked "small"."""
    groupings = list(dict.fromkeys(g for report in models.values() for g in report["by"]))
    heights = [len(next(iter(models.values()))["by"][g]["groups"]) * len(models) for g in groupings]
    fig = plots.figure(figsize=(7.5, 1.6 + 0.2 * sum(heights) + 0.5 * len(groupings)))
    axes = fig.subplots(len(groupings), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    colours = dict(zip(models, ("tab:blue", "tab:orange", "tab:green", "tab:purple")))
    for ax, grouping in zip(axes, groupings):
        ticks, names = [], []
        y = 0
        labels = next(iter(models.values()))["by"][grouping]["groups"]
        for label in labels:
            for model, report in models.items():
                entry = report["by"].get(grouping, {"groups": {}})["groups"].get(label)
                if entry is not None and entry[metric] is not None:
                    low, high = entry[f"{metric}_ci95"]
                    err = [[entry[metric] - low], [high - entry[metric]]] if low is not None else None
                    ax.barh(y, entry[metric], xerr=err, color=colours[model], alpha=0.35 if entry["small"] else 0.9,
                            capsize=2)
                ticks.append(y)
                small = entry is not None and entry["small"]
                names.append(f"{label} · {model} (n={entry['n'] if entry else 0}{', small' if small else ''})")
                y += 1
            y += 0.5
        ax.set_yticks(ticks, labels=names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.05)
        ax.set_title(f"by {grouping}", fontsize=9, loc="left")
    from matplotlib.patches import Patch

    axes[0].legend(handles=[Patch(color=colour, label=model) for model, colour in colours.items()], fontsize=7,
                   loc="lower right", bbox_to_anchor=(1.0, 1.08), ncol=len(colours), frameon=False)
    axes[-1].set_xlabel(f"{metric.replace('_', ' ')} on test (bars: 95% lesion-bootstrap interval)")
    fig.suptitle(title, fontsize=10)
    return plots.finish(fig, footer)


def ita_figure(rows: dict[str, list[dict]], title: str, footer: str, cuts):
    """Accuracy per equal-count ITA bin (median ITA of the bin on x), with intervals, per model;
    the Fitzpatrick cut points (skin_tone_classify.fitzpatrick_cuts) drawn as lines."""
    fig = plots.figure(figsize=(6.5, 4.0))
    ax = fig.add_subplot()
    for model, points in rows.items():
        if not points:
            continue
        x = np.array([p["ita"] for p in points])
        acc = np.array([p["accuracy"] for p in points])
        low = np.array([p["ci_low"] for p in points], dtype=float)
        high = np.array([p["ci_high"] for p in points], dtype=float)
        ax.errorbar(x, acc, yerr=[acc - low, high - acc], marker="o", capsize=3, label=model)
    roman = fairness_report.ROMAN
    for number, cut in enumerate(cuts):
        name = f"{roman[number]}|{roman[number + 1]}"
        ax.axvline(cut, color="lightgrey", linewidth=0.8)
        ax.text(cut, 1.02, name, fontsize=6, ha="center", color="grey")
    ax.set_xlabel("ITA of the healthy skin (degrees; light to the right)")
    ax.set_ylabel("accuracy on test (95% lesion-bootstrap interval)")
    ax.set_ylim(0, 1.08)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return plots.finish(fig, footer)

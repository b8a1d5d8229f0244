"""Markdown tables and sentences from committed metrics, so README figures are printed, not typed.

python -m skinlab.report metrics/train_baselines.json          # the baselines table
python -m skinlab.report --kind data results/dermamnist-28      # a sentence from a run's metrics/
The README's markers name the kind and the run (skinlab/results.py checks them).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from skinlab import embed_tables, fairness_tables, io
from skinlab.params import TrainCnn

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


def data_summary(root: Path) -> str:
    """The data a run saw, from its metrics/{download,split,augment}.json."""
    download, split, augment = (io.read_json(root / "metrics" / f"{stage}.json") for stage in ("download", "split", "augment"))
    images = " / ".join(f"{split[s]['n_images']} {s}" for s in ("train", "val", "test"))
    lesions = " / ".join(str(split[s]["n_lesions"]) for s in ("train", "val", "test"))
    train = augment["train"]
    grown = (f"train is oversampled to {train['n_images']} images" if train["n_augmented"]
             else "train is not oversampled")
    size = augment["image_size"]
    return (f"{download['n_images']} images of {download['n_lesions']} lesions, split into {images} images "
            f"({lesions} lesions); {grown}; models see {size}x{size} px.")


def _pair_name(pair: dict) -> str:
    return f"{pair['features']} + {pair['model']}"


def best_summary(metrics: dict) -> str:
    """The pair chosen on val and what it scores on test."""
    best = metrics["best"]
    test = best["test"]
    return (f"The chosen pair, {_pair_name(best)} (val balanced accuracy {_cell(best['val_balanced_accuracy'])}), "
            f"scores {_cell(test['balanced_accuracy'])} balanced accuracy on test "
            f"(95% interval {_cell(test['balanced_accuracy_ci95'])}), accuracy {_cell(test['accuracy'])}, "
            f"macro AUC {_cell(test['macro_auc_ovr'])}.")


def leaders_summary(metrics: dict) -> str:
    """The pairs with the highest test accuracy and macro AUC, the metrics published tables report."""
    pairs = list(metrics["pairs"].values())
    by_acc = max(pairs, key=lambda p: p["test"]["accuracy"] or 0)
    by_auc = max(pairs, key=lambda p: p["test"]["macro_auc_ovr"] or 0)
    return (f"Highest test accuracy: {_pair_name(by_acc)} ({_cell(by_acc['test']['accuracy'])}, melanoma sensitivity "
            f"{_cell(by_acc['test']['melanoma_sensitivity'])}); highest macro AUC: {_pair_name(by_auc)} "
            f"({_cell(by_auc['test']['macro_auc_ovr'])}).")


CNN_COLUMNS = COLUMNS[1:]


def _model_row(name: str, test: dict, mark: str = "") -> str:
    cells = [f"{mark}{_cell(test[key])}{mark}" for key, _ in CNN_COLUMNS]
    return f"| {mark}{name}{mark} | " + " | ".join(cells) + " |"


def cnn_table(root: Path) -> str:
    """The CNN's test figures, beside the best baseline's when the run trained baselines too."""
    cnn = io.read_json(root / "metrics" / "train_cnn.json")
    lines = ["| model | " + " | ".join(title for _, title in CNN_COLUMNS) + " |", "|---|" + "---:|" * len(CNN_COLUMNS),
             _model_row(f"CNN ({cnn['arch']}, {cnn['image_size']} px)", cnn["test"], "**")]
    baselines = root / "metrics" / "train_baselines.json"
    if baselines.exists():
        best = io.read_json(baselines)["best"]
        lines.append(_model_row(f"best baseline: {_pair_name(best)}", best["test"]))
    return "\n".join(lines)


def run_dirs(root: Path) -> list[Path]:
    """A marker's RUN as folders: `results/a+b` names results/a and results/b (one table compares them)."""
    root = Path(root)
    return [root.parent / name for name in root.name.split("+")] if "+" in root.name else [root]


RECIPE_COLUMNS = ("run", "px", "filters", "images", "metadata", "class weight", "sampling", "mixup", "weight avg.", "dropout", "patience", "best epoch / run", "val bal. acc.", "test bal. acc.",
                  "95% CI (lesion bootstrap)", "acc.", "macro AUC", "mel sens.", "vs best baseline (95% CI)")


def _setting(cfg: dict, key: str):
    """A train_cnn param as a results/ snapshot gives it, or TrainCnn's default where the snapshot predates it."""
    return cfg.get(key, TrainCnn.model_fields[key].default)


def recipes_table(root: Path) -> str:
    """train_cnn runs on one split side by side: what differs in their params, and what they score."""
    import yaml

    lines = ["| " + " | ".join(RECIPE_COLUMNS) + " |", "|---|---:|---|---|---|---|---|---:|---:|" + "---:|" * (len(RECIPE_COLUMNS) - 9)]
    for run in run_dirs(root):
        cfg = yaml.safe_load((run / "params.yaml").read_text())["train_cnn"]
        cnn = io.read_json(run / "metrics" / "train_cnn.json")
        test, versus = cnn["test"], cnn.get("vs_best_baseline")
        low, high = versus["difference_ci95"] if versus else (None, None)
        difference = f"{versus['difference']:+.3f} ({low:+.3f} to {high:+.3f})" if versus else "n/a"
        cropped = (run / "lesion_crop.json").exists()  # made from a skinlab.data.lesion_crop copy of the images
        arch = _setting(cfg, "arch")  # filters are the compact arch's widths; a backbone is named instead
        widths = "-".join(str(f) for f in _setting(cfg, "filters")) if arch == "compact" else arch
        cells = [run.name, str(cnn["image_size"]), widths, "lesion crop" if cropped else "whole", ", ".join(cnn["metadata"]) or "none",
                 str(_setting(cfg, "class_weight")), str(_setting(cfg, "sampling")), str(_setting(cfg, "mixup") or "off"),
                 str(_setting(cfg, "weight_average") or "off"), str(_setting(cfg, "dropout")), str(_setting(cfg, "patience")),
                 f"{cnn['best_epoch']} / {cnn['epochs_run']}",
                 _cell(cnn["val_balanced_accuracy_best"]), _cell(test["balanced_accuracy"]),
                 _cell(test["balanced_accuracy_ci95"]), _cell(test["accuracy"]), _cell(test["macro_auc_ovr"]),
                 _cell(test["melanoma_sensitivity"]), difference]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tta_table(root: Path) -> str:
    """The same trained model's test figures under each test-time augmentation (metrics: tta_effect)."""
    cnn = io.read_json(root / "metrics" / "train_cnn.json")
    lines = ["| TTA | views | bal. acc. | 95% CI (lesion bootstrap) | minus none (95% CI) | macro AUC | NLL |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    effect = cnn["tta_effect"]
    for mode in sorted(effect, key=lambda m: effect[m]["views"]):
        entry = effect[mode]
        mark = "**" if mode == cnn["tta"] else ""
        if "difference_vs_none" in entry:
            low, high = entry["difference_vs_none_ci95"]
            versus = f"{entry['difference_vs_none']:+.3f} ({low:+.3f} to {high:+.3f})"
        else:
            versus = "-"
        cells = [f"{mark}{mode}{mark}", str(entry["views"]), _cell(entry["balanced_accuracy"]),
                 _cell(entry["balanced_accuracy_ci95"]), versus, _cell(entry["macro_auc_ovr"]), _cell(entry["nll"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tuner_table(root: Path) -> str:
    """keras-tuner's trials (metrics: tuner), the best one in bold."""
    tuned = io.read_json(root / "metrics" / "train_cnn.json")["tuner"]
    if not tuned.get("trials"):
        return f"No search: `train_cnn.tuner.max_trials` is {tuned['max_trials']}."
    names = sorted({k for trial in tuned["trials"] for k in trial["hyperparameters"]})
    lines = ["| trial | " + " | ".join(names) + f" | val {tuned['objective'].removeprefix('val_')} |",
             "|---|" + "---:|" * (len(names) + 1)]
    for trial in tuned["trials"]:
        mark = "**" if trial["trial"] == tuned["best_trial"] else ""
        values = [trial["hyperparameters"].get(name) for name in names]
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in values] + [_cell(trial["value"])]
        lines.append(f"| {mark}{trial['trial']}{mark} | " + " | ".join(f"{mark}{c}{mark}" for c in cells) + " |")
    return "\n".join(lines)


def calibration_summary(root: Path) -> str:
    """One sentence: the temperature and test ECE, Brier and NLL before and after (metrics: calibration)."""
    cal = io.read_json(root / "metrics" / "train_cnn.json")["calibration"]
    test = cal["test"]
    if cal["method"] == "none":
        return f"No calibration (`calibration: none`): test ECE {test['ece_before']:.3f}, Brier {test['brier_before']:.3f}."
    fitted = (f"T = {cal['temperature']:.3f} fitted on val (val NLL {cal['val_nll_before']:.3f} -> "
              f"{cal['val_nll_after']:.3f})" if not cal["at_search_bound"] else
              "no temperature identified on val (T stays 1)")
    return (f"{fitted}; on the {test['n_images']} test images the expected calibration error ({test['n_bins']} bins) "
            f"goes {test['ece_before']:.3f} -> {test['ece_after']:.3f}, the Brier score {test['brier_before']:.3f} -> "
            f"{test['brier_after']:.3f}, the NLL {test['nll_before']:.3f} -> {test['nll_after']:.3f}."
            + _floor_clause(test))


def _floor_clause(test: dict) -> str:
    floor = test.get("ece_if_calibrated")
    if not floor:
        return ""
    return (f" A perfectly calibrated model with the same confidences would show an ECE of {floor['mean']:.3f} on "
            f"average on this many images (95th percentile {floor['p95']:.3f}): sampling alone puts the floor there.")


def versus_summary(root: Path) -> str:
    """One sentence: the CNN minus the best baseline, with the paired interval (metrics: vs_best_baseline)."""
    versus = io.read_json(root / "metrics" / "train_cnn.json")["vs_best_baseline"]
    if versus is None:
        return "No comparison: the run had no baseline predictions."
    low, high = versus["difference_ci95"]
    verdict = "excludes zero" if versus["ci_excludes_zero"] else "includes zero"
    return (f"Difference in test balanced accuracy, CNN minus {versus['baseline']}: **{versus['difference']:+.3f}, "
            f"paired lesion-bootstrap 95% interval {low:+.3f} to {high:+.3f}** ({versus['n_boot']} resamples of the "
            f"test lesions, both models scored on each): the interval {verdict}.")


def segment_table(root: Path) -> str:
    """Every segmentation method on test with lesion-bootstrap intervals, val Dice beside; the
    method chosen on val in bold (metrics: segment)."""
    seg = io.read_json(root / "metrics" / "segment.json")
    chosen = seg["chosen"]["method"]
    lines = ["| method | val Dice | test Dice (95% CI) | test Jaccard | test thr. Jaccard (95% CI) | sens. | spec. | test images |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in seg["methods"].items():
        val, test = entry["val"], entry["test"]
        mark = "**" if name == chosen else ""

        def with_ci(metric):
            low, high = test[metric]["ci95"]
            interval = "n/a" if low is None else f"{low:.3f}-{high:.3f}"
            return f"{_cell(test[metric]['mean'])} ({interval})"

        cells = [f"{mark}{name}{mark}", _cell(val["dice"]["mean"]), with_ci("dice"), _cell(test["jaccard"]["mean"]),
                 with_ci("thresholded_jaccard"), _cell(test["sensitivity"]["mean"]), _cell(test["specificity"]["mean"]),
                 str(test["n_images_scored"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def skin_tone_table(root: Path) -> str:
    """Fitzpatrick type from ITA (each colour-constancy setting) and from the palette baseline,
    against ground truth (metrics: skin_tone_classify)."""
    tone = io.read_json(root / "metrics" / "skin_tone_classify.json")
    truth = tone["ground_truth"]
    if not truth:
        return "No image of this data set has a ground-truth skin type: nothing to score against."
    used, other = tone["colour_constancy"]["used"], tone["colour_constancy"]["other"]
    lines = ["| method | exact type | within one type | images |", "|---|---:|---:|---:|"]
    for label, entry in ((f"**ITA of the healthy skin** (colour constancy: {used})", truth["ita"]),
                         (f"ITA of the healthy skin, colour constancy: {other}", truth[f"ita_{other}"]),
                         ("palette: nearest of six colours to the whole image's mean (baseline)", truth["palette"])):
        lines.append(f"| {label} | {_cell(entry['exact'])} | {_cell(entry['within_one'])} | {entry['n']} |")
    return "\n".join(lines)


def tone_distribution_table(root: Path) -> str:
    """Images per ITA band, light to dark, per split and in all (metrics: skin_tone_classify)."""
    from skinlab.skintone import BANDS

    tone = io.read_json(root / "metrics" / "skin_tone_classify.json")
    lines = ["| split | " + " | ".join(band.replace("_", " ") for band in BANDS) + " | no estimate |",
             "|---|" + "---:|" * (len(BANDS) + 1)]
    for split in ("train", "val", "test"):
        counts = tone["by_split"][split]
        lines.append(f"| {split} | " + " | ".join(str(counts[band]) for band in BANDS) + f" | {counts['no_estimate']} |")
    total = tone["n_images"]
    shares = [f"{tone['distribution']['band'][band]} ({tone['distribution']['band'][band] / total:.0%})" for band in BANDS]
    lines.append("| **all** | " + " | ".join(shares) + f" | {tone['n_too_little_skin']} |")
    return "\n".join(lines)


def tone_cast_summary(root: Path) -> str:
    """One sentence: how many estimates left skin's (-90, 90) degrees, and how far colour constancy
    moves the angle (metrics: skin_tone_classify)."""
    tone = io.read_json(root / "metrics" / "skin_tone_classify.json")
    cc, n = tone["colour_constancy"], tone["n_estimated"]
    beyond = tone["n_ita_beyond_90"]
    if not n:
        return "No image has an estimate (too little healthy skin in every one)."
    return (f"{beyond} of {n} estimated images ({beyond / n:.0%}) have an ITA beyond +-90 degrees (healthy-skin b* <= 0: "
            f"a colour cast, not a skin tone); {cc['other']} moves the angle by {cc['ita_median_shift']:+.1f} degrees "
            f"(median) and changes the band of {cc['band_changed_share']:.0%} of the images.")


KINDS = {
    **fairness_tables.KINDS,
    **embed_tables.KINDS,
    "tone_cast": tone_cast_summary,
    "skin_tone": skin_tone_table,
    "tone_distribution": tone_distribution_table,
    "segment": segment_table,
    "cnn": cnn_table,
    "tta": tta_table,
    "tuner": tuner_table,
    "calibration": calibration_summary,
    "versus": versus_summary,
    "recipes": recipes_table,
    "baselines": lambda root: baseline_table(io.read_json(root / "metrics" / "train_baselines.json")),
    "data": data_summary,
    "best": lambda root: best_summary(io.read_json(root / "metrics" / "train_baselines.json")),
    "leaders": lambda root: leaders_summary(io.read_json(root / "metrics" / "train_baselines.json")),
}


# The metrics files (of a run's metrics/) each kind reads: a snapshot needs these, and params.yaml.
KIND_FILES = {"baselines": ("train_baselines",), "data": ("download", "split", "augment"),
              "best": ("train_baselines",), "leaders": ("train_baselines",), "cnn": ("train_cnn",),
              "recipes": ("train_cnn",), "tta": ("train_cnn",), "tuner": ("train_cnn",),
              "calibration": ("train_cnn",), "versus": ("train_cnn",), "segment": ("segment",),
              "skin_tone": ("skin_tone_classify",), "tone_distribution": ("skin_tone_classify",),
              "tone_cast": ("skin_tone_classify",), **{kind: ("fairness_eval",) for kind in fairness_tables.KINDS},
              **{kind: ("embed",) for kind in embed_tables.KINDS}}


def render(kind: str, root: Path) -> str:
    """The text of one README marker: `kind` from KINDS, `root` a run's folder (`.` or results/<name>)."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind](Path(root))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", type=Path, help="metrics/train_baselines.json, or with --kind a run's folder")
    parser.add_argument("--kind", choices=sorted(KINDS), help="what to print from the run's folder")
    args = parser.parse_args(argv)
    if args.kind:
        print(render(args.kind, args.metrics))
    else:
        print(baseline_table(io.read_json(args.metrics)))


if __name__ == "__main__":
    main()

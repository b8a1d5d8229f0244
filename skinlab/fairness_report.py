"""fairness_eval's evaluation: the test predictions of each model joined to the skin tone of
each test image, grouped by ITA band and Fitzpatrick type (estimated, and true where the data
has it), scored per group by skinlab.evaluation.fairness."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import io
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES, MALIGNANT
from skinlab.evaluation.fairness import METRICS, UNKNOWN, groups_report
from skinlab.skintone import BANDS

ROMAN = ("I", "II", "III", "IV", "V", "VI")
GROUPINGS = {"ita_band": ("band", BANDS), "fitzpatrick_estimated": ("fitzpatrick", ROMAN),
             "fitzpatrick_true": ("true_fitzpatrick", ROMAN)}
PROBABILITIES = [f"p_{c}" for c in CLASSES]
TONE_COLUMNS = ("image_id", "split", "ita", "band", "fitzpatrick", "true_fitzpatrick")


def read_predictions(path: Path, made_by: str) -> pd.DataFrame:
    """A model's test_predictions.csv: image_id, lesion_id, dx and one probability column per class."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: not found (the test predictions of {made_by}; run `dvc repro {made_by}`)")
    frame = pd.read_csv(path, dtype={"image_id": str, "lesion_id": str, "dx": str}, keep_default_na=False)
    missing = [c for c in ("image_id", "lesion_id", "dx", *PROBABILITIES) if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = ~frame["dx"].isin(CLASSES)
    if unknown.any():
        row = int(np.argmax(unknown))
        raise InputError(f"{path}: row {row + 2}: dx {frame['dx'].iloc[row]!r} is not one of {list(CLASSES)}")
    try:
        proba = frame[PROBABILITIES].astype(float).to_numpy()
    except ValueError as error:
        raise InputError(f"{path}: a probability column is not numeric ({error})") from None
    bad = ~np.isfinite(proba).all(axis=1) | (np.abs(proba.sum(axis=1) - 1) > 1e-3)
    if bad.any():
        raise InputError(f"{path}: row {int(np.argmax(bad)) + 2}: probabilities are not finite or do not sum to 1")
    frame[PROBABILITIES] = proba
    return frame


def read_tones(path: Path) -> pd.DataFrame:
    """data/skin_tone/skin_tone.csv indexed by image_id; missing estimates stay NaN."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: not found (run `dvc repro skin_tone_classify`)")
    frame = pd.read_csv(path, dtype={"image_id": str, "band": str, "split": str})
    missing = [c for c in TONE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    repeated = frame["image_id"].duplicated()
    if repeated.any():
        raise InputError(f"{path}: row {int(np.argmax(repeated)) + 2}: image {frame['image_id'][repeated].iloc[0]!r} "
                         "has a second row")
    for column in ("fitzpatrick", "true_fitzpatrick"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (frame[column].notna() & ~values.isin(range(1, 7))).to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(f"{path}: row {row + 2}: {column} {str(frame[column].iloc[row])!r} of image "
                             f"{frame['image_id'].iloc[row]!r} is not a type from 1 to 6")
    unknown = frame["band"].notna() & ~frame["band"].isin(BANDS)
    if unknown.any():
        row = int(np.argmax(unknown.to_numpy()))
        raise InputError(f"{path}: row {row + 2}: band {frame['band'].iloc[row]!r} is not one of {list(BANDS)}")
    return frame.set_index("image_id")


def tones_for(images: pd.DataFrame, tones: pd.DataFrame, path: Path, what: str = "test") -> pd.DataFrame:
    """The skin-tone rows of `images` (an image_id column), in their order; an image without a row is named."""
    absent = ~images["image_id"].isin(tones.index)
    if absent.any():
        raise InputError(f"{path}: no row for {what} image {images['image_id'][absent].iloc[0]!r} "
                         f"({int(absent.sum())} missing; rerun skin_tone_classify on the same data and split)")
    return tones.loc[images["image_id"]]


def labels(tones: pd.DataFrame, grouping: str) -> np.ndarray:
    """The group of each image under a grouping; UNKNOWN where it has no value."""
    column = GROUPINGS[grouping][0]
    values = tones[column]
    if column == "band":
        return np.array([UNKNOWN if pd.isna(v) else str(v) for v in values])
    return np.array([UNKNOWN if pd.isna(v) else ROMAN[int(v) - 1] for v in values])


def available(tones: pd.DataFrame, grouping: str) -> bool:
    return bool(tones[GROUPINGS[grouping][0]].notna().any())


def arrays(predictions: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """(true class index, predicted class index = argmax, summed malignant probability, lesion id)."""
    y = np.array([CLASSES.index(dx) for dx in predictions["dx"]])
    proba = predictions[PROBABILITIES].to_numpy()
    malignant = proba[:, [CLASSES.index(c) for c in CLASSES if c in MALIGNANT]].sum(axis=1)
    return y, proba.argmax(axis=1), malignant, predictions["lesion_id"].to_numpy(dtype=str)


def model_report(predictions: pd.DataFrame, tones: pd.DataFrame, groupings, fe, seed: int) -> dict:
    """Overall figures and one groups_report per available grouping for one model."""
    y, pred, malignant, lesions = arrays(predictions)
    everyone = groups_report(y, pred, malignant, lesions, np.full(len(y), "all"), ["all"], 1, fe.bootstrap, seed)
    overall = {k: v for k, v in everyone["groups"]["all"].items() if k not in ("small", "judged")}
    by = {grouping: groups_report(y, pred, malignant, lesions, labels(tones, grouping), GROUPINGS[grouping][1] + (UNKNOWN,),
                                  fe.min_group_size, fe.bootstrap, seed, fe.min_positives)
          for grouping in groupings if available(tones, grouping)}
    return {"overall": overall, "by": by}


def ita_bins(predictions: pd.DataFrame, tones: pd.DataFrame, n_bins: int, n_boot: int, seed: int) -> list[dict]:
    """Accuracy of one model in `n_bins` equal-count bins of ITA, with lesion-bootstrap intervals:
    the rows of the accuracy-against-ITA plot (images without an ITA left out, and counted)."""
    ita = tones["ita"].to_numpy(dtype=float)
    known = np.isfinite(ita)
    if known.sum() < n_bins:
        return []
    edges = np.quantile(ita[known], np.linspace(0, 1, n_bins + 1))
    bins = np.clip(np.searchsorted(edges, ita, side="right") - 1, 0, n_bins - 1)
    names = np.array([UNKNOWN if not k else f"bin{b}" for k, b in zip(known, bins)])
    report = groups_report(*arrays(predictions), names, [f"bin{b}" for b in range(n_bins)], 1, n_boot, seed)
    rows = []
    for b in range(n_bins):
        entry = report["groups"][f"bin{b}"]
        if not entry["n"]:  # ties put no image in this bin
            continue
        inside = names == f"bin{b}"
        low, high = entry["accuracy_ci95"]
        rows.append({"ita": float(np.median(ita[inside])), "ita_low": float(ita[inside].min()),
                     "ita_high": float(ita[inside].max()), "accuracy": entry["accuracy"], "ci_low": low, "ci_high": high,
                     "n": entry["n"]})
    return rows


def estimate_vs_truth(report: dict) -> dict | None:
    """Per metric: the gap and worst group by true and by estimated Fitzpatrick type, and whether
    the estimate would tell the same story (same worst group, interval on the same side of 0)."""
    by = report["by"]
    if "fitzpatrick_true" not in by or "fitzpatrick_estimated" not in by:
        return None
    out = {}
    for name in METRICS:
        true, estimated = by["fitzpatrick_true"]["gaps"][name], by["fitzpatrick_estimated"]["gaps"][name]
        out[name] = {"gap_true": true["gap"], "gap_estimated": estimated["gap"], "worst_true": true["worst"],
                     "worst_estimated": estimated["worst"],
                     "same_worst": None if None in (true["worst"], estimated["worst"]) else true["worst"] == estimated["worst"],
                     "same_verdict": None if None in (true["gap"], estimated["gap"])
                     else true["excludes_zero"] == estimated["excludes_zero"]}
    return out


def small_group_warnings(models: dict) -> list[str]:
    """One line per (model, grouping) that has groups too small to judge."""
    lines = []
    for model, report in models.items():
        for grouping, result in report["by"].items():
            small = [f"{label} (n={result['groups'][label]['n']})" for label in result["small"]]
            if small:
                lines.append(f"{model}, {grouping}: {', '.join(small)} below min_group_size: reported, left out of the gaps")
    return lines


def summary_line(models: dict, grouping: str = "ita_band", metric: str = "balanced_accuracy") -> str:
    parts = []
    for model, report in models.items():
        if grouping not in report["by"]:
            continue
        gap = report["by"][grouping]["gaps"][metric]
        if gap["gap"] is None:
            parts.append(f"{model}: no gap ({gap['reason']})")
        else:
            low, high = gap["ci95"]
            parts.append(f"{model}: {metric} gap {gap['gap']:.3f} ({low:.3f} to {high:.3f}), best {gap['best']}, "
                         f"worst {gap['worst']}")
    return f"by {grouping}: " + "; ".join(parts)


@dataclasses.dataclass
class Inputs:
    """What fairness_eval reads: both models' test predictions, every image's skin tone, names."""

    cnn: pd.DataFrame
    baseline: pd.DataFrame
    tones: pd.DataFrame  # every image of data/skin_tone, indexed by image_id
    tones_path: Path
    cnn_metrics: dict
    names: dict
    trained_on: str

    @classmethod
    def read(cls, args) -> "Inputs":
        cnn = read_predictions(Path(args.cnn), "train_cnn")
        baseline = read_predictions(Path(args.baseline), "train_baselines")
        if sorted(cnn["image_id"]) != sorted(baseline["image_id"]):
            raise InputError(f"{args.cnn} and {args.baseline} predict different test images "
                             f"({len(cnn)} and {len(baseline)}): rerun both on the same data and split")
        baseline = baseline.set_index("image_id").loc[cnn["image_id"]].reset_index()
        cnn_metrics = _read_json(Path(args.cnn_metrics), "train_cnn")
        best = _read_json(Path(args.baseline_metrics), "train_baselines").get("best") or {}
        names = {"cnn": f"CNN {cnn_metrics.get('arch', '?')} {cnn_metrics.get('image_size', '?')} px",
                 "baseline": f"{best.get('features', '?')}+{best.get('model', '?')}"}
        names["cnn_reweighed"] = names["cnn"] + ", skin-tone reweighed"
        source = _read_json(Path(args.raw_metrics), "download").get("source", "unknown")
        tones = read_tones(Path(args.tones))
        tones_for(cnn, tones, Path(args.tones))
        return cls(cnn, baseline, tones, Path(args.tones), cnn_metrics, names, f"'{source}' data")


def _read_json(path: Path, made_by: str) -> dict:
    if not path.exists():
        raise InputError(f"{path}: not found (the metrics of {made_by}; run `dvc repro {made_by}`)")
    return io.read_json(path)


def check_grouping(tones: pd.DataFrame, grouping: str, key: str) -> None:
    """A grouping a param asks for must have values: name the key when it has none."""
    if not available(tones, grouping):
        raise InputError(f"{key} is {grouping!r}, but no image of this data set has a "
                         f"{GROUPINGS[grouping][0]} value in data/skin_tone (choose another grouping)")


def estimate_accuracy(tones: pd.DataFrame) -> dict | None:
    """Exact and within-one agreement of the estimated Fitzpatrick type with the true one, on these images."""
    both = tones[["fitzpatrick", "true_fitzpatrick"]].dropna()
    if not len(both):
        return None
    diff = (both["fitzpatrick"].astype(int) - both["true_fitzpatrick"].astype(int)).abs()
    return {"n": int(len(both)), "exact": float((diff == 0).mean()), "within_one": float((diff <= 1).mean())}


def before_after(before: dict, after: dict, grouping: str) -> dict:
    """Per metric: the gap of the CNN and of the reweighed CNN by `grouping`, and the overall value."""
    out = {}
    for name, gap in before["by"][grouping]["gaps"].items():
        later = after["by"][grouping]["gaps"][name]
        out[name] = {"gap_before": gap["gap"], "gap_before_ci95": gap["ci95"], "gap_after": later["gap"],
                     "gap_after_ci95": later["ci95"], "overall_before": before["overall"][name],
                     "overall_after": after["overall"][name]}
    return out


def evaluate(predictions: dict[str, pd.DataFrame], inputs: Inputs, fe, seed: int, mitigation: dict) -> dict:
    """metrics/fairness_eval.json: every figure of every model by every available grouping."""
    test_tones = tones_for(inputs.cnn, inputs.tones, inputs.tones_path)
    status = {g: {"available": available(test_tones, g),
                  "reason": None if available(test_tones, g) else f"no test image has a {GROUPINGS[g][0]} value"}
              for g in fe.groupings}
    use = [g for g in fe.groupings if status[g]["available"]]
    models = {}
    for name, frame in predictions.items():
        report = model_report(frame, tones_for(frame, inputs.tones, inputs.tones_path), use, fe, seed)
        models[name] = {"name": inputs.names.get(name, name), **report}
    if mitigation.get("method") == "reweigh":
        mitigation = {**mitigation, "before_after": {g: before_after(models["cnn"], models["cnn_reweighed"], g) for g in use}}
    vs_truth = {name: estimate_vs_truth(report) for name, report in models.items()}
    return {"trained_on": inputs.trained_on, "test_images": int(len(inputs.cnn)), "min_group_size": fe.min_group_size,
            "bootstrap": fe.bootstrap, "groupings": status, "models": models,
            "estimate_on_test": estimate_accuracy(test_tones),
            "estimate_vs_truth": vs_truth if any(v is not None for v in vs_truth.values()) else None,
            "mitigation": mitigation, "warnings": small_group_warnings(models)}


def headline(result: dict) -> dict:
    """The figures MLflow gets: overall metrics and every gap (the JSON holds the rest)."""
    out = {}
    for name, report in result["models"].items():
        out[name] = {"overall": {m: report["overall"][m] for m in METRICS},
                     **{g: {f"{m}_gap": r["gaps"][m]["gap"] for m in METRICS} for g, r in report["by"].items()}}
    return out

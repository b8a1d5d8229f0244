"""The skin_tone_classify stage's work: estimate every image's tone, compare with ground truth
where it exists, and say what colour constancy changes.

Images stream one at a time: each is read with its lesion mask from `segment`, measured under
both colour-constancy settings (the one in params is the estimate; the other is kept beside it
to show how far the dermoscope's light moves the angle), and matched to the palette baseline.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import healthy_skin, io, skintone
from skinlab.data.raw import InputError
from skinlab.data.schema import SPLITS

COLUMNS = ("image_id", "lesion_id", "split", "ita", "band", "fitzpatrick", "n_skin_pixels", "reason",
           "ita_other_colour_constancy", "palette_fitzpatrick", "true_fitzpatrick", "true_ita")
TYPES = (1, 2, 3, 4, 5, 6)


def options(cfg, colour_constancy: str | None = None) -> healthy_skin.SkinOptions:
    return healthy_skin.SkinOptions(
        work_size=cfg.work_size, lesion_margin=cfg.lesion_margin, hair_threshold=cfg.hair_threshold,
        highlight_value=cfg.highlight_value, highlight_saturation=cfg.highlight_saturation,
        min_skin_fraction=cfg.min_skin_fraction, colour_constancy=colour_constancy or cfg.colour_constancy,
        shades_of_gray_power=cfg.shades_of_gray_power, band_cuts=tuple(cfg.band_cuts),
        fitzpatrick_cuts=tuple(cfg.fitzpatrick_cuts))


def mask_index(segment_dir: str | Path) -> dict[str, Path]:
    segment_dir = Path(segment_dir)
    table_path = segment_dir / "index.csv"
    if not table_path.is_file():
        raise InputError(f"{table_path}: not found (run the segment stage first: dvc repro segment)")
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    return {image_id: segment_dir / mask for image_id, mask in zip(table["image_id"], table["mask"])}


def _truth(value: str, column: str, image_id: str, kind=float):
    """A ground-truth number from the split table, None when empty; an error naming the image otherwise."""
    if str(value).strip() in ("", "nan"):
        return None
    try:
        return kind(float(value))
    except ValueError:
        raise InputError(f"image {image_id}: column {column!r} is {value!r}, not a number "
                         f"(leave it empty when unknown)") from None


def rows(raw: str | Path, frames: dict[str, pd.DataFrame], masks: dict[str, Path], cfg) -> Iterable[dict]:
    """One row per image of every split (COLUMNS), read and measured one image at a time."""
    raw = Path(raw)
    other = "shades_of_gray" if cfg.colour_constancy == "none" else "none"
    used, compared = options(cfg), options(cfg, other)
    missing = [image_id for split in SPLITS for image_id in frames[split]["image_id"] if image_id not in masks]
    if missing:
        raise InputError(f"{len(missing)} image(s) have no mask in data/segment/index.csv, e.g. {', '.join(missing[:5])} "
                         f"(rerun segment on the same data/split)")
    for split in SPLITS:
        frame = frames[split]
        truth_types = frame["fitzpatrick"] if "fitzpatrick" in frame.columns else [""] * len(frame)
        truth_itas = frame["ita"] if "ita" in frame.columns else [""] * len(frame)
        for image_id, lesion_id, image_path, true_type, true_ita in zip(
                frame["image_id"], frame["lesion_id"], frame["image"], truth_types, truth_itas):
            image = io.read_image(raw / image_path)
            lesion = io.read_mask(masks[image_id]) > 0
            io.check_mask_size(lesion, image.shape, masks[image_id], raw / image_path)
            estimate = healthy_skin.estimate(image, lesion, used)
            again = healthy_skin.estimate(image, lesion, compared)
            yield {"image_id": image_id, "lesion_id": lesion_id, "split": split, "ita": estimate.ita,
                   "band": estimate.band, "fitzpatrick": estimate.fitzpatrick, "n_skin_pixels": estimate.n_skin_pixels,
                   "reason": estimate.reason, "ita_other_colour_constancy": again.ita,
                   "palette_fitzpatrick": skintone.palette_type(image),
                   "true_fitzpatrick": _truth(true_type, "fitzpatrick", image_id, int),
                   "true_ita": _truth(true_ita, "ita", image_id)}


def frame(found: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(found, columns=list(COLUMNS))
    for column in ("ita", "ita_other_colour_constancy", "true_ita"):
        table[column] = table[column].astype(float)  # NaN, not None, where there is no value
    for column in ("fitzpatrick", "palette_fitzpatrick", "true_fitzpatrick"):
        table[column] = table[column].astype("Int64")
    return table


def agreement(true: pd.Series, predicted: pd.Series) -> dict:
    """Exact and within-one-type accuracy over every image with a known type (an image without an
    estimate counts as wrong, so skipping hard images cannot raise them), the share estimated,
    and the confusion matrix of the estimated ones (rows true type I..VI)."""
    known = true.notna()
    both = known & predicted.notna()
    t, p = true[both].astype(int).to_numpy(), predicted[both].astype(int).to_numpy()
    confusion = [[int(((t == a) & (p == b)).sum()) for b in TYPES] for a in TYPES]
    n = int(known.sum())
    return {"n": n, "n_estimated": int(both.sum()), "coverage": float(both.sum() / n) if n else None,
            "exact": float(np.sum(t == p) / n) if n else None,
            "within_one": float(np.sum(np.abs(t - p) <= 1) / n) if n else None,
            "confusion": confusion, "confusion_axes": "rows: true type I..VI, columns: estimated type I..VI"}


def metrics(table: pd.DataFrame, cfg) -> dict:
    """metrics/skin_tone_classify.json: counts, the tone distribution, accuracy against ground
    truth (both methods) when there is any, and what colour constancy changes."""
    estimated = table["ita"].notna()
    other = "shades_of_gray" if cfg.colour_constancy == "none" else "none"
    result = {"n_images": len(table), "n_estimated": int(estimated.sum()),
              "n_too_little_skin": int((~estimated).sum()),
              # b* <= 0: the "skin" is not yellow at all, a colour cast (bluish dermoscope light), and
              # the angle leaves the (-90, 90) of skin: counted, as the estimate is not a tone there
              "n_ita_beyond_90": int((table["ita"].abs() >= 90).sum()),
              "distribution": {"band": {band: int((table["band"] == band).sum()) for band in skintone.BANDS},
                               "fitzpatrick": {str(t): int((table["fitzpatrick"] == t).sum()) for t in TYPES}},
              "by_split": {split: {**{band: int(((table["split"] == split) & (table["band"] == band)).sum())
                                      for band in skintone.BANDS},
                                   "no_estimate": int(((table["split"] == split) & ~estimated).sum())}
                           for split in SPLITS}}
    has_truth = table["true_fitzpatrick"].notna()
    if has_truth.any():
        truth = table[has_truth]
        error = (truth["ita"] - truth["true_ita"]).dropna()
        result["ground_truth"] = {
            "n_images": int(has_truth.sum()),
            "ita": {**agreement(truth["true_fitzpatrick"], truth["fitzpatrick"]),
                    "ita_median_abs_error": float(error.abs().median()) if len(error) else None,
                    "ita_median_error": float(error.median()) if len(error) else None},
            "palette": agreement(truth["true_fitzpatrick"], truth["palette_fitzpatrick"])}
        other_types = truth["ita_other_colour_constancy"].map(
            lambda v: None if pd.isna(v) else skintone.band_index(v, cfg.fitzpatrick_cuts) + 1).astype("Int64")
        result["ground_truth"][f"ita_{other}"] = agreement(truth["true_fitzpatrick"], other_types)
    else:
        result["ground_truth"] = None
    both = table["ita"].notna() & table["ita_other_colour_constancy"].notna()
    shift = (table.loc[both, "ita_other_colour_constancy"] - table.loc[both, "ita"])
    other_bands = table.loc[both, "ita_other_colour_constancy"].map(
        lambda v: skintone.BANDS[skintone.band_index(v, cfg.band_cuts)])
    result["colour_constancy"] = {
        "used": cfg.colour_constancy, "other": other, "n_images": int(both.sum()),
        "ita_median_shift": float(shift.median()) if len(shift) else None,
        "ita_median_abs_shift": float(shift.abs().median()) if len(shift) else None,
        "band_changed_share": float((other_bands != table.loc[both, "band"]).mean()) if len(shift) else None}
    return result


def distribution_rows(table: pd.DataFrame) -> list[dict]:
    """Bars of the tone distribution (images per band), the DVC bar_horizontal plot."""
    return [{"band": band, "images": int((table["band"] == band).sum())} for band in skintone.BANDS] + \
        [{"band": "no estimate", "images": int(table["band"].isna().sum())}]


def confusion_rows(table: pd.DataFrame) -> list[dict]:
    """{actual, predicted} per image with ground truth and an estimate (DVC's confusion template)."""
    both = table["true_fitzpatrick"].notna() & table["fitzpatrick"].notna()
    return [{"actual": f"type {int(a)}", "predicted": f"type {int(p)}"}
            for a, p in zip(table.loc[both, "true_fitzpatrick"], table.loc[both, "fitzpatrick"])]


def summary_line(result: dict) -> str:
    truth = result["ground_truth"]
    counts = ", ".join(f"{band} {n}" for band, n in result["distribution"]["band"].items())
    text = f"{result['n_estimated']} of {result['n_images']} images estimated ({counts})"
    if truth and truth["ita"]["n"]:
        text += (f"; against ground truth ITA exact {truth['ita']['exact']:.3f}, within one {truth['ita']['within_one']:.3f}"
                 f" (palette {truth['palette']['exact']:.3f} / {truth['palette']['within_one']:.3f})")
    return text

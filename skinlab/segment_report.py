"""The segment stage's work: score each method on val and test, choose one on val, write its
masks for every image, and report.

Images stream one at a time: each val or test image with a ground-truth mask is read once and
segmented by every method; each method's mask is kept on disk (not in memory) until the choice
is made, then the chosen method's masks are moved into place and the other images segmented.
Train images, and images without a ground-truth mask, are segmented but never scored.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from skinlab import DISCLAIMER, io
from skinlab.data.raw import InputError
from skinlab.data.schema import SPLITS
from skinlab.evaluation import plots
from skinlab.evaluation import segmentation as seg_metrics

if TYPE_CHECKING:  # segment_methods imports unet_pretrain, which writes its masks with write_mask below
    from skinlab.segment_methods import Method

SCORED_SPLITS = ("val", "test")  # train is never scored: the choice is made on val, reported on test
SCORE_COLUMNS = ("image_id", "lesion_id", "split", "method", *seg_metrics.METRICS)
INDEX_COLUMNS = ("image_id", "split", "mask", "method")
NOT_SCORED = ("every image is segmented with the chosen method; only val and test images with a ground-truth "
              "mask are scored (train images, and images without one, are segmented but not scored)")


@dataclasses.dataclass(frozen=True)
class Item:
    image_id: str
    lesion_id: str
    split: str
    image: Path
    mask: Path | None  # the ground truth, when the metadata names one


def items(raw: str | Path, frames: dict[str, pd.DataFrame]) -> list[Item]:
    """Every image of every split, in split then index order (paths only, no pixels)."""
    raw = Path(raw)
    found = []
    for split in SPLITS:
        frame = frames[split]
        masks = frame["mask"] if "mask" in frame.columns else [""] * len(frame)
        for image_id, lesion_id, image, mask in zip(frame["image_id"], frame["lesion_id"], frame["image"], masks):
            found.append(Item(image_id, lesion_id, split, raw / image, raw / mask if mask else None))
    return found


def check_masks(found: Iterable[Item], limit: int = 20) -> None:
    """Fail before any work when a mask file named in the metadata is not there, naming each."""
    missing = [item for item in found if item.mask is not None and not item.mask.is_file()]
    if missing:
        lines = [f"{len(missing)} mask file(s) named in the metadata not found:"]
        lines += [f"  - {item.mask}: mask file not found (image {item.image_id}, {item.split})" for item in missing[:limit]]
        if len(missing) > limit:
            lines.append(f"  ... and {len(missing) - limit} more")
        raise InputError("\n".join(lines))


def read_pair(item: Item) -> tuple[np.ndarray, np.ndarray]:
    """The image (RGB) and its ground truth (0/255); io.MaskError naming both files on a size mismatch."""
    image, truth = io.read_image(item.image), io.read_mask(item.mask)
    io.check_mask_size(truth, image.shape, item.mask, item.image)
    return image, truth


def write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(io.encode_image(np.where(mask, 255, 0).astype(np.uint8), ".png"))


def score(found: Iterable[Item], methods: dict[str, Method], candidates: Path) -> tuple[list[dict], dict[str, float]]:
    """Score rows (one per scored image and method) and seconds per method; each method's masks
    go to `candidates/<method>/<image_id>.png`."""
    rows, seconds = [], dict.fromkeys(methods, 0.0)
    for item in found:
        if item.split not in SCORED_SPLITS or item.mask is None:
            continue
        image, truth = read_pair(item)
        for name, method in methods.items():
            start = time.perf_counter()
            predicted = method(image)
            seconds[name] += time.perf_counter() - start
            write_mask(candidates / name / f"{item.image_id}.png", predicted)
            rows.append({"image_id": item.image_id, "lesion_id": item.lesion_id, "split": item.split, "method": name,
                         **seg_metrics.scores(truth, predicted)})
    return rows, seconds


def split_summary(rows: list[dict], seed: int, n_boot: int) -> dict:
    """Means with lesion-bootstrap intervals; the same keys, empty, when nothing was scored."""
    if not rows:
        empty = {name: {"mean": None, "ci95": [None, None], "n_images": 0} for name in seg_metrics.METRICS}
        return {"n_images_scored": 0, "n_lesions": 0, **empty}
    result = seg_metrics.summary(rows, [row["lesion_id"] for row in rows], seed=seed, n_boot=n_boot)
    result["n_images_scored"] = result.pop("n_images")
    return result


def summarise(rows: list[dict], methods: Iterable[str], seed: int, n_boot: int) -> dict:
    """{method: {split: split_summary}} for the scored splits."""
    return {name: {split: split_summary([r for r in rows if r["method"] == name and r["split"] == split], seed, n_boot)
                   for split in SCORED_SPLITS} for name in methods}


def choose(summaries: dict, select_on: str) -> tuple[str, str | None]:
    """The method with the best val mean of `select_on` (ties: the first listed), and "val";
    with no val ground truth, the first method listed and None. Test is never looked at."""
    names = list(summaries)
    values = [summaries[name]["val"][select_on]["mean"] for name in names]
    if all(value is None for value in values):
        return names[0], None
    best = max(range(len(names)), key=lambda i: (-np.inf if values[i] is None else values[i], -i))
    return names[best], "val"


def write_masks(found: Iterable[Item], name: str, method: Method, candidates: Path, out: Path) -> pd.DataFrame:
    """`out/masks/<image_id>.png` for every image, by the chosen method: moved from the candidates
    where scoring already made it, else segmented now, one image at a time. Returns the index."""
    rows = []
    for item in found:
        relative = f"masks/{item.image_id}.png"
        made = candidates / name / f"{item.image_id}.png"
        if made.is_file():
            (out / "masks").mkdir(parents=True, exist_ok=True)
            os.replace(made, out / relative)
        else:
            write_mask(out / relative, method(io.read_image(item.image)))
        rows.append({"image_id": item.image_id, "split": item.split, "mask": relative, "method": name})
    shutil.rmtree(candidates, ignore_errors=True)
    return pd.DataFrame(rows, columns=list(INDEX_COLUMNS))


def counts(found: list[Item]) -> dict:
    segmented = {split: sum(item.split == split for item in found) for split in SPLITS}
    without = {split: sum(item.split == split and item.mask is None for item in found) for split in SPLITS}
    scored = {split: sum(item.split == split and item.mask is not None for item in found) for split in SCORED_SPLITS}
    return {"segmented": {**segmented, "total": len(found)},
            "without_ground_truth": {**without, "total": sum(without.values())},
            "scored": scored, "note": NOT_SCORED}


def metrics(summaries: dict, chosen: str, on: str | None, select_on: str, found: list[Item], unet,
            trained_on: str) -> dict:
    """metrics/segment.json: every method on val and test, the choice, what was segmented, and the
    U-Net's training (no seconds: they vary from run to run; see `timing`, sent to MLflow)."""
    picked = {"method": chosen, "on": on, "by": select_on, "val": summaries[chosen]["val"][select_on]["mean"],
              "test": {name: summaries[chosen]["test"][name]["mean"] for name in seg_metrics.METRICS}}
    if on is None:
        picked["reason"] = "no val image has a ground-truth mask: the first method listed"
    trained = None
    if unet is not None:
        trained = {"epochs": len(unet.curve), "best_epoch": unet.best_epoch, "best_val_dice": unet.best_val_dice,
                   "train_images": unet.n_train, "val_images": unet.n_val, "pretraining": pretraining(unet)}
        if unet.members is not None:  # an ensemble: epochs counts every member's; best_val_dice is the ensemble's
            trained["members"] = unet.members
    return {"methods": summaries, "chosen": picked, "images": counts(found), "unet_training": trained,
            "trained_on": trained_on}


def pretraining(unet) -> dict | None:
    """The U-Net's pre-training as metrics/segment.json and the card show it (no curve, no seconds)."""
    if unet is None or unet.pretraining is None:
        return None
    return {key: value for key, value in unet.pretraining.items() if key not in ("curve", "seconds")}


def data_description(raw_metrics: Path, frames: dict[str, pd.DataFrame]) -> str:
    """A line naming the data source (from download's metrics) and the split sizes."""
    source = io.read_json(raw_metrics).get("source", "unknown") if Path(raw_metrics).exists() else "unknown"
    counts = ", ".join(f"{split} {len(frame)}" for split, frame in frames.items())
    return f"data source '{source}' (images: {counts})"


def timing(rows: list[dict], seconds: dict[str, float], unet=None) -> dict:
    """Flat MLflow metrics: seconds per scored image of each method (`seconds` sums them) and the
    U-Net's training seconds."""
    result = {}
    for name, spent in seconds.items():
        n = sum(row["method"] == name for row in rows)
        if n:
            result[f"seconds_per_image_{name}"] = spent / n
    if unet is not None:
        result["unet_train_seconds"] = unet.seconds
        if unet.pretraining is not None:
            result["unet_pretrain_seconds"] = unet.pretraining["seconds"]
    return result


def curve_frame(curve: list[dict]) -> pd.DataFrame:
    from skinlab.unet_train import CURVE_COLUMNS

    member = ("member",) if any("member" in row for row in curve) else ()  # an ensemble's curves, one after another
    return pd.DataFrame(curve, columns=list(member + CURVE_COLUMNS))


def card(cfg, metrics: dict, unet=None) -> dict:
    """models/segment/card.json: the chosen method, how to run it, and how it scored."""
    chosen = metrics["chosen"]["method"]
    result = {"chosen": chosen, "selected_on": metrics["chosen"]["on"], "selected_by": metrics["chosen"]["by"],
              "test": metrics["chosen"]["test"], "params": cfg.model_dump(mode="json"),
              "unet": None, "trained_on": metrics["trained_on"],
              "output": "bool mask at the image's own size (lesion = True)", "disclaimer": DISCLAIMER}
    if unet is not None:
        result["unet"] = {"file": "unet.keras", "image_size": cfg.unet.image_size, "threshold": cfg.unet.threshold,
                          "tta": cfg.unet.tta, "clean": cfg.unet.clean,
                          "input": "RGB 0..255 float32, the whole image area-resized to image_size x image_size",
                          "output": ("lesion probability per pixel (tta flips: the mean over the image and its three mirrors); "
                                     "upsample to the image's size, threshold, then (clean) fill holes and keep the "
                                     "central component"),
                          "best_epoch": unet.best_epoch, "val_dice_at_network_size": unet.best_val_dice,
                          "members": len(unet.members) if unet.members else 1,  # >1: the file averages them
                          "pretrained": pretraining(unet) or "no: trained from random weights on the train split"}
    return result


def scores_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def methods_rows(summaries: dict) -> list[dict]:
    """Rows of the bar plot: mean Dice per method and split (`bar` labels one bar)."""
    return [{"method": name, "split": split, "bar": f"{name} ({split})", "dice": summaries[name][split]["dice"]["mean"]}
            for name in summaries for split in SCORED_SPLITS if summaries[name][split]["dice"]["mean"] is not None]


def cases(rows: list[dict], method: str, k: int = 3) -> list[tuple[str, dict]]:
    """The method's best and worst test images by Dice, each once: [("best", row), ..., ("worst", row), ...]."""
    ranked = sorted((r for r in rows if r["method"] == method and r["split"] == "test"),
                    key=lambda r: (r["dice"], r["image_id"]))
    best = ranked[::-1][:k]
    worst = [r for r in ranked[:k] if r not in best]
    return [("best", r) for r in best] + [("worst", r) for r in worst]


def _pairs(picked: list[tuple[str, dict]], found: list[Item], masks: Path) -> Iterator[tuple]:
    """(label, score row, image, truth, prediction), read one case at a time."""
    by_id = {item.image_id: item for item in found}
    for label, row in picked:
        image, truth = read_pair(by_id[row["image_id"]])
        yield label, row, image, truth, io.read_mask(masks / f"{row['image_id']}.png")


def save_overlays(path: Path, rows: list[dict], method: str, found: list[Item], masks: Path, k: int = 3) -> Path:
    """The chosen method's best and worst test cases: ground truth (green) and prediction (magenta)."""
    picked = cases(rows, method, k)
    columns = max(1, min(k, len(picked)))
    fig = plots.figure(figsize=(3.0 * columns, 6.0))
    if not picked:
        fig.text(0.5, 0.5, f"{method}: no test image has a ground-truth mask, nothing to show", ha="center")
        return plots.save_png(plots.finish(fig, plots.FOOTER), path)
    axes = fig.subplots(2, columns, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    slots = {"best": 0, "worst": 0}
    for label, row, image, truth, predicted in _pairs(picked, found, masks):
        ax = axes[0 if label == "best" else 1, slots[label]]
        slots[label] += 1
        ax.imshow(image)
        for mask, colour in ((truth, "lime"), (predicted, "magenta")):
            if mask.any() and not mask.all():  # an empty or full mask has no outline
                ax.contour(mask > 0, levels=[0.5], colors=colour, linewidths=1.2)
        ax.set_title(f"{label}: {row['image_id']}\nDice {row['dice']:.3f}", fontsize=8)
    fig.suptitle(f"{method}, test split: best and worst Dice\ngreen: ground truth, magenta: {method}", fontsize=9)
    return plots.save_png(plots.finish(fig, plots.FOOTER), path)


def summary_line(summaries: dict, chosen: str, on: str | None, select_on: str) -> str:
    test = summaries[chosen]["test"]["dice"]["mean"]
    where = f"best val {select_on}" if on else "no val ground truth, first listed"
    return f"chosen {chosen} ({where}); test Dice {'n/a' if test is None else f'{test:.3f}'}"

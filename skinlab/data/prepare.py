"""The augment stage's work: preprocess and resize every split, augment and balance train only.

Output (data/augmented): <split>.csv indexes and <split>/<image_id>.png images at
base.image_size (masks beside them when known), streamed one image at a time. Val and test are
never augmented: they must look like the data the model will meet.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import io
from skinlab.data import augment, preprocess
from skinlab.data.dataset import INDEX_COLUMNS, read_index
from skinlab.data.schema import CLASSES, SPLITS
from skinlab.params import Augment

HAIR_KERNEL_AT_450PX = 17  # black-hat kernel that fits hairs in 600x450 dermoscopy


def augment_config(cfg: Augment) -> augment.AugmentConfig:
    values = cfg.transforms.model_dump()
    zoom = (values.pop("zoom_min"), values.pop("zoom_max"))
    return augment.AugmentConfig(**values, zoom=zoom)


def load_preprocessed(raw_dir: Path, row: dict, cfg: Augment, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one raw image (and mask), apply the optional preprocessing at full size, resize."""
    image = io.read_image(raw_dir / row["image"])
    mask = io.read_mask(raw_dir / row["mask"]) if row.get("mask") else None
    if cfg.preprocess.hair_removal:
        kernel = max(3, int(round(HAIR_KERNEL_AT_450PX * min(image.shape[:2]) / 450)) | 1)
        image = preprocess.remove_hair(image, kernel_size=kernel)
    if cfg.preprocess.color_constancy:
        image = preprocess.shades_of_gray(image, power=cfg.preprocess.shades_of_gray_power)
    image = preprocess.resize_square(image, size)
    if mask is not None:
        mask = preprocess.resize_mask(mask, size)
    return image, mask


def plan_split(frame: pd.DataFrame, split: str, cfg: Augment, seed: int) -> list[tuple[int, bool]]:
    """(row position, augmented?) for every output image of a split."""
    if split != "train":
        return [(i, False) for i in range(len(frame))]
    rng = np.random.default_rng([seed, 7])
    plan = augment.balance_plan(list(frame["dx"]), cfg.balance, cfg.balance_target, rng)
    n = len(frame)
    return [(index, position >= n or cfg.augment_originals) for position, index in enumerate(plan)]


def write_split(raw_dir: Path, frame: pd.DataFrame, split: str, out: Path, cfg: Augment, size: int, seed: int) -> pd.DataFrame:
    (out / split).mkdir(parents=True, exist_ok=True)
    copies = Counter()
    rows = []
    transform = augment_config(cfg)
    for position, (index, augmented) in enumerate(plan_split(frame, split, cfg, seed)):
        row = frame.iloc[index].to_dict()
        image, mask = load_preprocessed(raw_dir, row, cfg, size)
        copies[index] += 1
        image_id = row["image_id"] if copies[index] == 1 else f"{row['image_id']}__aug{copies[index] - 1}"
        if augmented:
            image, mask = augment.augment(image, mask, transform, np.random.default_rng([seed, position]))
        relative = f"{split}/{image_id}.png"
        (out / relative).write_bytes(io.encode_image(image, ".png"))
        mask_rel = ""
        if mask is not None:
            mask_rel = f"{split}/{image_id}_mask.png"
            (out / mask_rel).write_bytes(io.encode_image(mask, ".png"))
        rows.append({**{c: row.get(c, "") for c in INDEX_COLUMNS}, "image_id": image_id,
                     "source_image_id": row["image_id"], "augmented": int(augmented), "image": relative, "mask": mask_rel})
    index = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    io.write_csv(out / f"{split}.csv", index)
    return index


def prepare(raw_dir: Path, split_dir: Path, out_dir: Path, cfg: Augment, size: int, seed: int) -> dict:
    """Build out_dir atomically; return metrics (counts per split and class, before and after)."""
    metrics = {"image_size": size}
    with io.atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            frame = read_index(split_dir, split)
            index = write_split(Path(raw_dir), frame, split, tmp, cfg, size, seed)
            metrics[split] = {
                "n_source": int(len(frame)),
                "n_images": int(len(index)),
                "n_augmented": int(index["augmented"].astype(int).sum()),
                "per_class": {dx: int((index["dx"] == dx).sum()) for dx in CLASSES},
            }
    return metrics


def preview(raw_dir: Path, train: pd.DataFrame, cfg: Augment, size: int, seed: int, path: Path) -> None:
    """Per class, originals next to augmented versions of the same images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_class = cfg.preview_per_class
    transform = augment_config(cfg)
    fig, axes = plt.subplots(len(CLASSES), 2 * per_class, figsize=(2 * per_class * 1.1, len(CLASSES) * 1.2), squeeze=False)
    for r, dx in enumerate(CLASSES):
        rows = train[train["dx"] == dx].head(per_class)
        for c in range(per_class):
            for k in range(2):
                ax = axes[r, 2 * c + k]
                ax.axis("off")
                if c >= len(rows):
                    continue
                image, mask = load_preprocessed(raw_dir, rows.iloc[c].to_dict(), cfg, size)
                if k:
                    image, _ = augment.augment(image, mask, transform, np.random.default_rng([seed, r, c]))
                ax.imshow(image)
                ax.set_title(f"{dx} {'aug' if k else 'orig'}", fontsize=6)
    fig.suptitle("augment: original (left) and augmented (right), training split", fontsize=9)
    fig.text(0.5, 0.003, "Research use only - not a medical device.", ha="center", fontsize=6, color="gray")
    fig.tight_layout(rect=(0, 0.015, 1, 0.97))
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)

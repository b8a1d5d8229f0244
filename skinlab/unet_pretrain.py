"""Pre-training of the segment U-Net on unlabelled images (`segment.unet.pretrain`).

Otsu (with the stage's params) outlines the lesion of each image in the `images` folder; the
U-Net is fitted to those pseudo masks for `epochs` epochs at the pre-training's learning rate,
watched on the val images' true masks, and its best weights start the fit on the labelled
train images (at `segment.unet.learning_rate`). On ham10000-masks155 this beat the U-Net from
scratch on every fine-tuning seed (README).

No image of the labelled data is pre-trained on, even without its mask: a folder image whose
image_id, or whose lesion_id (from the folder's metadata table, when it has one), is in any
split is left out, so no val or test lesion is seen. Images Otsu finds no lesion in are left
out; an image that cannot be read stops the stage, naming the file. The pseudo masks are
written to a scratch folder (`workdir`) and stream from disk like the true ones.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from skinlab import io, segment_report, unet_train
from skinlab.data import folder
from skinlab.data.raw import InputError
from skinlab.params import SegmentUnet

log = logging.getLogger(__name__)
PARAM = "segment.unet.pretrain.images"


def unlabelled(root: str | Path, labelled_ids: Iterable[str], labelled_lesions: Iterable[str],
               limit: int = 0) -> tuple[list[tuple[str, Path]], dict]:
    """(image_id, path) of the folder's images not in the labelled data, in image_id order, and
    the counts of what was left out. Masks (`*_segmentation.*`) and other files are ignored."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: {'folder not found' if not root.exists() else 'not a folder'} ({PARAM} in params.yaml)")
    index = folder.index_files(root)
    lesion_of = _lesions(root)
    ids, lesions = set(labelled_ids), set(labelled_lesions)
    kept, same_image, same_lesion = [], 0, 0
    for image_id in sorted(index.images):
        if image_id in ids:
            same_image += 1
        elif lesion_of.get(image_id, {image_id}) & lesions:
            same_lesion += 1
        else:
            paths = index.images[image_id]
            if len(paths) > 1:
                raise InputError(f"{root}: several image files for image_id {image_id}: "
                                 f"{', '.join(str(p) for p in paths)} ({PARAM})")
            kept.append((image_id, paths[0]))
    if not kept:
        raise InputError(f"{root}: no image left to pre-train on ({len(index.images)} image files, {same_image} of "
                         f"them labelled images, {same_lesion} of labelled lesions); point {PARAM} at a folder of "
                         f"other images or set segment.unet.pretrain.epochs: 0")
    counts = {"image_files": len(index.images), "left_out_labelled_images": same_image,
              "left_out_labelled_lesions": same_lesion, "beyond_limit": max(0, len(kept) - limit) if limit else 0}
    return (kept[:limit] if limit else kept), counts


def _lesions(root: Path) -> dict[str, set[str]]:
    """image_id -> its lesion_ids in the folder's metadata table (when it has one with a lesion_id
    column): a set, so an image listed twice is left out if either row names a labelled lesion."""
    table = next((root / name for name in folder.METADATA_NAMES if (root / name).is_file()), None)
    if table is None:
        return {}
    frame = folder.read_table(table, required=("image_id",))
    if "lesion_id" not in frame.columns:
        return {}
    lesions: dict[str, set[str]] = {}
    for image_id, lesion in zip(frame["image_id"], frame["lesion_id"]):
        lesions.setdefault(image_id, set()).add(lesion or image_id)
    return lesions


def pseudo_masks(images: list[tuple[str, Path]], segment: Callable[[np.ndarray], np.ndarray],
                 out: Path) -> tuple[tuple[list[str], list[str]], int]:
    """Segment each image, write its mask to out/<image_id>.png; (image paths, mask paths) of the
    images with a non-empty mask, and how many masks were empty (those images are left out)."""
    out.mkdir(parents=True, exist_ok=True)
    paths, masks, empty = [], [], 0
    for n, (image_id, path) in enumerate(images, 1):
        if n % 1000 == 0:
            log.info("pre-training: pseudo masks of %d of %d images", n, len(images))
        mask = segment(io.read_image(path))  # io.ImageError names the file
        if not mask.any():
            empty += 1
            continue
        target = out / f"{image_id}.png"
        segment_report.write_mask(target, mask)
        paths.append(str(path))
        masks.append(str(target))
    return (paths, masks), empty


def pretrain(cfg: SegmentUnet, segment: Callable[[np.ndarray], np.ndarray], labelled, val: tuple, seed: int,
             workdir: Path, run=None) -> tuple[unet_train.UnetResult, dict]:
    """The U-Net fitted to the pseudo masks (best val epoch kept) and a summary for the metrics.

    `labelled`: the stage's items (every split); `segment`: Otsu as the stage builds it."""
    pre = cfg.pretrain
    images, counts = unlabelled(pre.images, (item.image_id for item in labelled),
                                (item.lesion_id for item in labelled), pre.limit)
    train, empty = pseudo_masks(images, segment, Path(workdir))
    if not train[0]:
        raise InputError(f"{pre.images}: Otsu found no lesion in any of the {len(images)} images ({PARAM})")
    log.info("pre-training on Otsu's masks of %d images of %s (%d left out: no lesion found)", len(train[0]),
             pre.images, empty)
    fit_cfg = cfg.model_copy(update={"epochs": pre.epochs, "patience": pre.epochs, "learning_rate": pre.learning_rate})
    result = unet_train.fit(fit_cfg, train, val, seed, run, log_prefix="unet_pretrain")
    summary = {"images": pre.images, **counts, "no_lesion_found": empty, "pretrained_on": len(train[0]),
               "epochs": len(result.curve), "best_epoch": result.best_epoch, "best_val_dice": result.best_val_dice,
               "masks": "Otsu (segment.otsu_channel, otsu_shift, work_size)"}
    return result, summary

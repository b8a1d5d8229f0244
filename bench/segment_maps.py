"""The U-Net probability maps saved by bench.segment_threshold_cv --save-probs, read back for the
benches that score them (segment_refine, segment_pooled), and the mask the stage makes of a map."""
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage

from skinlab import segment_report, segmentation, segmentation_data
from skinlab.data import dataset
from skinlab.data.schema import SPLITS


def saved(raw, split, probs: Path, script: str) -> Iterator[tuple]:
    """(item, rgb, truth, probability map) of every image with a mask, in split then index order;
    SystemExit naming the missing file, the split and the image when a map is absent."""
    found = segment_report.items(raw, {name: dataset.read_index(split, name) for name in SPLITS})
    for item in found:
        if item.mask is None:
            continue
        path = probs / f"{item.image_id}.npy"
        if not path.is_file():
            raise SystemExit(f"{script}: no probability map {path} for {item.split} image {item.image_id}")
        rgb, truth = segment_report.read_pair(item)
        yield item, rgb, truth, np.load(path)


def cleaned(mask: np.ndarray) -> np.ndarray:
    """The stage's clean-up (unet_train.Segmenter with clean=True): holes filled, the central component kept."""
    return segmentation.keep_central(ndimage.binary_fill_holes(mask)) if mask.any() else mask


def mask(prob: np.ndarray, height: int, width: int, threshold: float, clean: bool) -> np.ndarray:
    """What unet_train.Segmenter makes of a probability map: upsampled, thresholded and, with
    `clean`, cleaned up; one map serves every threshold (one forward pass, not one per threshold)."""
    found = segmentation_data.upsample_mask(prob, height, width, threshold)
    return cleaned(found) if clean else found

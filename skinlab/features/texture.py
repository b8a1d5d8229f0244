"""Texture features: pigment networks, globules and streaks show up as oriented edges and
local binary patterns."""

import cv2
import numpy as np
from skimage.feature import hog, local_binary_pattern

from skinlab.checks import check_positive_int, check_rgb

HOG_SIDE = 64  # HOG runs on a fixed 64x64 grey window so its length does not depend on S.
HOG_BLOCK = 2  # cells per block side


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(check_rgb(image), cv2.COLOR_RGB2GRAY)


def _resize(grey: np.ndarray, side: int) -> np.ndarray:
    if grey.shape == (side, side):
        return grey
    shrinking = grey.shape[0] > side or grey.shape[1] > side
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(grey, (side, side), interpolation=interpolation)


def hog_length(cells: int = 8, orientations: int = 9) -> int:
    """Length of hog_features: blocks per side squared, times cells per block, times bins."""
    blocks = cells - HOG_BLOCK + 1
    return blocks * blocks * HOG_BLOCK * HOG_BLOCK * orientations


def hog_features(image: np.ndarray, cells: int = 8, orientations: int = 9) -> np.ndarray:
    """HOG of the grey image resized to 64x64, with `cells` cells per side and 2x2-cell blocks.

    Length is hog_length(cells, orientations) (1764 with the defaults) whatever the input size.
    """
    cells = check_positive_int("cells", cells, minimum=HOG_BLOCK)
    orientations = check_positive_int("orientations", orientations)
    if HOG_SIDE % cells:
        raise ValueError(f"cells must divide {HOG_SIDE} (got {cells})")
    grey = _resize(_grey(image), HOG_SIDE)
    pixels = HOG_SIDE // cells
    features = hog(
        grey,
        orientations=orientations,
        pixels_per_cell=(pixels, pixels),
        cells_per_block=(HOG_BLOCK, HOG_BLOCK),
        block_norm="L2-Hys",
        feature_vector=True,
        channel_axis=None,
    )
    return features.astype(np.float32)


def lbp_histogram(image: np.ndarray, points: int = 8, radius: float = 1) -> np.ndarray:
    """Histogram of rotation-invariant uniform LBP codes (skimage method "uniform"), sums to 1.

    Bins 0..points count uniform patterns by their number of neighbours >= centre; bin
    points + 1 holds every non-uniform pattern. The image is edge-padded before coding and the
    padding cropped after, because skimage samples outside the image as 0, which would make
    every border pixel of a flat image look like an edge.
    """
    points = check_positive_int("points", points)
    if not radius > 0:
        raise ValueError(f"radius must be > 0 (got {radius!r})")
    grey = _grey(image)
    pad = int(np.ceil(radius)) + 1
    padded = np.pad(grey, pad, mode="edge")
    codes = local_binary_pattern(padded, points, radius, method="uniform")
    codes = codes[pad:-pad, pad:-pad].astype(np.int64).ravel()
    hist = np.bincount(codes, minlength=points + 2).astype(np.float64)
    return (hist / hist.sum()).astype(np.float32)

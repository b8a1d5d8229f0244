"""Colour features: lesion colour (brown, blue-grey, red, white) is a core dermoscopy cue."""

import cv2
import numpy as np

from skinlab.checks import check_positive_int, check_rgb

# OpenCV's uint8 HSV: hue in 0..179 (degrees / 2), saturation and value in 0..255.
_HSV_RANGES = [0, 180, 0, 256, 0, 256]


def hsv_histogram(image: np.ndarray, bins=(8, 4, 4)) -> np.ndarray:
    """Joint HSV histogram, flattened in C order (hue slowest), summing to 1.

    Normalised by the pixel count so images of any size are comparable.
    """
    image = check_rgb(image)
    if len(bins) != 3:
        raise ValueError(f"bins must have 3 entries (hue, saturation, value), got {bins!r}")
    bins = [check_positive_int(f"bins[{i}]", b) for i, b in enumerate(bins)]
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, bins, _HSV_RANGES).ravel()
    return (hist / hist.sum()).astype(np.float32)


def _moments(channels: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and skewness of each column; skewness is 0 for a flat channel."""
    mean = channels.mean(axis=0)
    centred = channels - mean
    std = np.sqrt((centred**2).mean(axis=0))
    third = (centred**3).mean(axis=0)
    flat = std < 1e-6
    skew = np.where(flat, 0.0, third / np.where(flat, 1.0, std) ** 3)
    return np.stack([mean, std, skew], axis=1).ravel()


def color_moments(image: np.ndarray) -> np.ndarray:
    """18 values: (mean, std, skewness) for H, S, V, then L, a, b, each channel scaled to [0, 1].

    Channels use OpenCV's uint8 encodings divided by their range (H / 180, others / 255), so
    Lab's a and b sit at 128/255 for a neutral grey. Hue is treated as linear, not circular:
    reds near 0 and 179 average to cyan, a known weakness of colour moments.
    """
    image = check_rgb(image)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.float64)
    hsv /= np.array([180.0, 255.0, 255.0])
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float64) / 255.0
    return np.concatenate([_moments(hsv), _moments(lab)]).astype(np.float32)

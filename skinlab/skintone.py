"""Skin tone from colour: the Individual Typology Angle (ITA) and the Fitzpatrick type it maps to.

ITA = arctan((L* - 50) / b*) * 180 / pi on CIELAB (Chardon et al., 1991). It is the usual
objective proxy for Fitzpatrick skin type in dermatology datasets, which rarely record the type.
"""

import cv2
import numpy as np

# Lower ITA bounds (degrees) of Fitzpatrick types I..V; below the last one is type VI.
# Typical boundaries: > 55 I, 41-55 II, 28-41 III, 10-28 IV, -30-10 V, < -30 VI.
ITA_LOWER_BOUNDS = ((1, 55.0), (2, 41.0), (3, 28.0), (4, 10.0), (5, -30.0))


def fitzpatrick_from_ita(ita: float) -> int:
    """Fitzpatrick type 1..6 for an ITA angle in degrees.

    A value exactly on a boundary goes to the darker type (ITA 55 is type II, 41 is III, ...),
    since each type's range is open at its lower end: type I is ITA > 55.
    """
    ita = float(ita)
    if not np.isfinite(ita):
        raise ValueError(f"ITA must be a finite number of degrees (got {ita})")
    for fitzpatrick, lower in ITA_LOWER_BOUNDS:
        if ita > lower:
            return fitzpatrick
    return 6


def lab_from_rgb(pixels_rgb_uint8: np.ndarray) -> np.ndarray:
    """CIELAB (L* 0..100, a*, b*) of RGB uint8 pixels, shape (N, 3) float32.

    OpenCV gives real L*a*b* values only for float32 input in [0, 1]; the uint8 path rescales
    them to 0..255, which would silently distort every angle computed from them.
    """
    pixels = np.asarray(pixels_rgb_uint8)
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8 RGB (got dtype {pixels.dtype})")
    if pixels.ndim < 1 or pixels.shape[-1] != 3:
        raise ValueError(f"pixels must have a last axis of 3 RGB channels (got shape {pixels.shape})")
    flat = pixels.reshape(1, -1, 3).astype(np.float32) / 255.0
    if flat.shape[1] == 0:
        raise ValueError("pixels is empty: cannot compute a skin tone from no pixels")
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def ita_from_lab(lightness: float, b_star: float) -> float:
    """ITA in degrees; atan2 keeps it defined (+-90) when b* is 0 and equals the formula for b* > 0."""
    return float(np.degrees(np.arctan2(lightness - 50.0, b_star)))


def ita_from_rgb(pixels_rgb_uint8: np.ndarray) -> float:
    """ITA (degrees) of a set of RGB uint8 pixels, any shape ending in 3.

    Computed on the mean L* and mean b* of the pixels (not the mean of per-pixel angles): the
    angle of the average colour is stable where b* is small for a few pixels, which would
    otherwise send single angles to +-90 and drag the mean.
    """
    lab = lab_from_rgb(pixels_rgb_uint8)
    return ita_from_lab(float(lab[:, 0].mean()), float(lab[:, 2].mean()))


# ---- estimating the tone of an image from its healthy skin ------------------------------------

BANDS = ("very_light", "light", "intermediate", "tan", "brown", "dark")
ITA_CUTS = tuple(lower for _, lower in ITA_LOWER_BOUNDS)  # 55, 41, 28, 10, -30: lower bounds of the first five
# The seed project's baseline: a fixed chart of six skin colours (RGB), types I..VI, matched to
# the mean RGB of the whole image (lesion, vignette and all).
PALETTE = ((246, 208, 178), (228, 180, 140), (209, 160, 124), (187, 119, 80), (166, 96, 42), (59, 31, 22))


def band_index(ita: float, cuts=ITA_CUTS) -> int:
    """0..5 (very light .. dark) for an ITA in degrees under descending lower-bound `cuts`;
    a value on a cut goes to the darker side, as in `fitzpatrick_from_ita`."""
    ita = float(ita)
    if not np.isfinite(ita):
        raise ValueError(f"ITA must be a finite number of degrees (got {ita})")
    cuts = [float(c) for c in cuts]
    if len(cuts) != len(BANDS) - 1 or any(a <= b for a, b in zip(cuts, cuts[1:])):
        raise ValueError(f"cuts must be {len(BANDS) - 1} strictly decreasing angles (got {cuts})")
    return next((i for i, lower in enumerate(cuts) if ita > lower), len(cuts))


def palette_type(image: np.ndarray, palette=PALETTE) -> int:
    """The baseline: Fitzpatrick type (1..6) of the palette colour nearest (RGB distance) to the
    mean colour of the whole image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(f"image must be a non-empty (H, W, 3) RGB array (got shape {image.shape})")
    mean = image.reshape(-1, 3).astype(np.float64).mean(axis=0)
    distances = np.linalg.norm(np.asarray(palette, np.float64) - mean, axis=1)
    return int(np.argmin(distances)) + 1

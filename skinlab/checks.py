"""Argument checks shared across the library: fail early naming the argument, since OpenCV's
own errors do not say which input was wrong."""
from __future__ import annotations

import numpy as np


def check_rgb(image, name: str = "image") -> np.ndarray:
    """An RGB uint8 array (H, W, 3) with H, W >= 1, made contiguous; else ValueError naming it."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be an RGB uint8 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must have shape (H, W, 3), got shape {image.shape}")
    return np.ascontiguousarray(image)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return int(value)

"""Input checks shared by the feature extractors."""

import numpy as np


def check_rgb(image) -> np.ndarray:
    """Fail early with the offending shape/dtype, since OpenCV's own errors do not say which."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected an RGB uint8 numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected an RGB image of dtype uint8, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return int(value)

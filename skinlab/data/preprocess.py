"""Deterministic clean-up applied identically to every split, before augmentation.

Each function takes an RGB uint8 image (H, W, 3) and returns a new one; inputs are never
modified in place. Masks are uint8 (H, W) with values 0/255.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from skinlab.checks import check_positive_int, check_rgb


def check_image(image: np.ndarray, name: str = "image") -> None:
    """Raise ValueError unless `image` is an RGB uint8 array (H, W, 3) with H, W >= 1."""
    check_rgb(image, name)


def check_mask(mask: np.ndarray, shape: tuple[int, ...] | None = None, name: str = "mask") -> None:
    """Raise ValueError unless `mask` is uint8 (H, W), matching `shape` (H, W) when given."""
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(mask).__name__}")
    if mask.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {mask.dtype}")
    if mask.ndim != 2 or mask.shape[0] < 1 or mask.shape[1] < 1:
        raise ValueError(f"{name} must have shape (H, W), got {mask.shape}")
    if shape is not None and tuple(mask.shape) != tuple(shape[:2]):
        raise ValueError(f"{name} shape {mask.shape} does not match image shape {tuple(shape[:2])}")


def remove_hair(
    image: np.ndarray, kernel_size: int = 17, threshold: int = 10, inpaint_radius: int = 3
) -> np.ndarray:
    """DullRazor-style hair removal: hairs are thin and darker than their surroundings.

    A black-hat (closing minus image) with a cross kernel wider than a hair responds to thin
    dark structures but not to the larger, smoother lesion; those pixels are then inpainted
    from their neighbours (Telea). `kernel_size` should exceed the hair width in pixels, so it
    scales with resolution (17 suits ~450-600 px dermoscopy images).
    """
    check_image(image)
    check_positive_int("kernel_size", kernel_size)
    check_positive_int("inpaint_radius", inpaint_radius)
    if not 0 <= threshold <= 255:
        raise ValueError(f"threshold must be in [0, 255] (got {threshold!r})")
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (kernel_size, kernel_size))
    blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    hair = hair_mask_from_blackhat(blackhat, threshold)
    if not hair.any():
        return image.copy()
    return cv2.inpaint(np.ascontiguousarray(image), hair, inpaint_radius, cv2.INPAINT_TELEA)


def hair_mask_from_blackhat(blackhat: np.ndarray, threshold: int) -> np.ndarray:
    """0/255 mask of pixels whose black-hat response exceeds `threshold`."""
    return np.where(blackhat > threshold, 255, 0).astype(np.uint8)


def shades_of_gray(image: np.ndarray, power: float = 6) -> np.ndarray:
    """Shades-of-Gray colour constancy (Finlayson & Trezzi, 2004).

    The illuminant is estimated per channel as the Minkowski p-norm mean of the pixels
    (p=1 is Grey-World, p=inf is max-RGB; p=6 worked best for dermoscopy in Barata et al.,
    2015). Gains make that estimate neutral grey while keeping its mean level, so images
    from different dermatoscopes/lighting end up with comparable colour casts.
    """
    check_image(image)
    p = float(power)
    if math.isnan(p) or p < 1:
        raise ValueError(f"power must be >= 1 or inf (got {power!r})")
    # uint8 has 256 levels: a per-channel histogram dotted with level**p is exact and much
    # faster than raising every pixel to the power p.
    histograms = np.stack([np.bincount(image[..., c].ravel(), minlength=256) for c in range(3)])
    levels = np.arange(256, dtype=np.float64) / 255.0
    if math.isinf(p):
        illuminant = np.array([levels[np.flatnonzero(h)[-1]] for h in histograms])
    else:
        moments = histograms @ np.power(levels, p) / histograms[0].sum()
        illuminant = np.power(moments, 1.0 / p)
    if np.any(illuminant <= 0):
        # An all-black channel carries no information about the light: leave the image alone.
        return image.copy()
    gains = illuminant.mean() / illuminant
    if np.allclose(gains, 1.0, rtol=0, atol=1e-12):
        return image.copy()
    tables = np.clip(np.rint(np.outer(np.arange(256), gains)), 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(image), tables.reshape(256, 1, 3))


def center_crop_square(array: np.ndarray) -> np.ndarray:
    """The largest centred square; dermoscopy centres the lesion, so the sides go first."""
    height, width = array.shape[:2]
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return array[top : top + side, left : left + side]


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize to (size, size) without distorting the lesion."""
    check_image(image)
    check_positive_int("size", size)
    square = center_crop_square(image)
    if square.shape[0] == size:
        return square.copy()
    square = np.ascontiguousarray(square)
    return cv2.resize(square, (int(size), int(size)), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """The mask counterpart of resize_square: nearest neighbour keeps it binary (0/255).

    INTER_NEAREST_EXACT samples at pixel centres like INTER_AREA does for the image; plain
    INTER_NEAREST floors the coordinates and shifts the mask by up to half a source pixel.
    """
    check_mask(mask)
    check_positive_int("size", size)
    square = center_crop_square(mask)
    if square.shape[0] == size:
        return square.copy()
    square = np.ascontiguousarray(square)
    return cv2.resize(square, (int(size), int(size)), interpolation=cv2.INTER_NEAREST_EXACT)

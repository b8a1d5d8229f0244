"""Raw pixels: the baseline every hand-crafted feature has to beat."""

import cv2
import numpy as np

from skinlab.checks import check_positive_int, check_rgb


def raw_pixels(image: np.ndarray, size: int = 16, color: bool = True) -> np.ndarray:
    """Downsampled pixels in [0, 1]; length size*size*3 (colour) or size*size (grey).

    INTER_AREA averages the pixels under each output pixel, so downsampling does not alias.
    """
    image = check_rgb(image)
    size = check_positive_int("size", size)
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if not color:
        small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return (small.astype(np.float32) / 255.0).ravel()

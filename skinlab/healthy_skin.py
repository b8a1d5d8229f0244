"""The healthy skin of a dermoscopy image, and its tone (ITA) measured there.

The skin is every pixel that is not lesion (the lesion mask grown by a margin, as its rim and
halo are not normal skin), not the dermoscope's dark vignette (`segmentation.vignette_mask`),
not hair (a black-hat response, as `augment` removes hairs, grown a little), and not a specular
highlight or gel bubble (bright and nearly colourless). The tone is the ITA of the median L* and
the median b* of those pixels (CIELAB by OpenCV on float RGB: `skintone.lab_from_rgb`), robust
to what the masks miss. Optionally the image's colour cast is first removed by Shades of Gray
(`preprocess.shades_of_gray`): a dermoscope's light shifts b*, and with it the angle.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from skinlab import segmentation, skintone
from skinlab.checks import check_rgb
from skinlab.data.preprocess import shades_of_gray

COLOUR_CONSTANCY = ("none", "shades_of_gray")


@dataclasses.dataclass(frozen=True)
class SkinOptions:
    work_size: int = 256  # longer side the image is measured at (never enlarged)
    lesion_margin: float = 0.05  # the lesion mask is grown by this share of the shorter side
    hair_kernel_fraction: float = 0.03  # black-hat kernel as a share of the longer side
    hair_threshold: int = 10  # black-hat response (grey levels) that counts as hair
    highlight_value: float = 0.92  # HSV value (0..1) at or above which a pale pixel is a highlight
    highlight_saturation: float = 0.12  # ... if its HSV saturation (0..1) is at most this
    min_skin_fraction: float = 0.05  # less skin than this share of the image: no estimate
    colour_constancy: str = "none"  # none | shades_of_gray
    shades_of_gray_power: float = 6.0
    band_cuts: tuple = skintone.ITA_CUTS  # lower ITA bounds of the first five bands (very light .. brown)
    fitzpatrick_cuts: tuple = skintone.ITA_CUTS  # lower ITA bounds of types I..V


@dataclasses.dataclass(frozen=True)
class ToneEstimate:
    ita: float | None
    band: str | None
    fitzpatrick: int | None
    n_skin_pixels: int
    reason: str  # "" when there is an estimate


def _shrink(image: np.ndarray, lesion: np.ndarray | None, work_size: int):
    longer = max(image.shape[:2])
    if not work_size or longer <= work_size:
        return image, lesion
    scale = work_size / longer
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if lesion is not None:
        lesion = cv2.resize(lesion.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return small, lesion


def _disc(diameter: float) -> np.ndarray:
    size = max(3, int(round(diameter)) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def hair_mask(image: np.ndarray, kernel_fraction: float, threshold: int) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    size = max(3, int(round(kernel_fraction * max(grey.shape))) | 1)
    blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_CROSS, (size, size)))
    return cv2.dilate((blackhat > threshold).astype(np.uint8), _disc(3)) > 0


def highlight_mask(image: np.ndarray, value: float, saturation: float) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    bright = (hsv[..., 2] >= value * 255) & (hsv[..., 1] <= saturation * 255)
    return cv2.dilate(bright.astype(np.uint8), _disc(3)) > 0


def skin_mask(image: np.ndarray, lesion: np.ndarray | None, options: SkinOptions = SkinOptions()) -> np.ndarray:
    """Bool mask of healthy skin at the image's size: not lesion (grown), vignette, hair or highlight."""
    image = check_rgb(image)
    keep = ~segmentation.vignette_mask(image)
    if lesion is not None:
        lesion = np.asarray(lesion).astype(bool)
        if lesion.shape != image.shape[:2]:
            raise ValueError(f"lesion mask is {lesion.shape[1]}x{lesion.shape[0]}, its image "
                             f"{image.shape[1]}x{image.shape[0]}")
        grown = cv2.dilate(lesion.astype(np.uint8), _disc(2 * options.lesion_margin * min(image.shape[:2]))) > 0
        keep &= ~grown
    keep &= ~hair_mask(image, options.hair_kernel_fraction, options.hair_threshold)
    keep &= ~highlight_mask(image, options.highlight_value, options.highlight_saturation)
    return keep


def estimate(image: np.ndarray, lesion: np.ndarray | None, options: SkinOptions = SkinOptions()) -> ToneEstimate:
    """The image's skin tone from its healthy skin, or no estimate and the reason."""
    if options.colour_constancy not in COLOUR_CONSTANCY:
        raise ValueError(f"colour_constancy must be one of {', '.join(COLOUR_CONSTANCY)} "
                         f"(got {options.colour_constancy!r})")
    image, lesion = _shrink(check_rgb(image), lesion, options.work_size)
    skin = skin_mask(image, lesion, options)
    n_skin, needed = int(skin.sum()), options.min_skin_fraction * skin.size
    if n_skin < max(1.0, needed):
        return ToneEstimate(None, None, None, n_skin,
                            f"too little healthy skin: {n_skin} of {skin.size} pixels "
                            f"({n_skin / skin.size:.1%}, needs {options.min_skin_fraction:.0%})")
    if options.colour_constancy == "shades_of_gray":
        image = shades_of_gray(image, options.shades_of_gray_power)
    lab = skintone.lab_from_rgb(image[skin])
    ita = skintone.ita_from_lab(float(np.median(lab[:, 0])), float(np.median(lab[:, 2])))
    band = skintone.BANDS[skintone.band_index(ita, options.band_cuts)]
    return ToneEstimate(ita, band, skintone.band_index(ita, options.fitzpatrick_cuts) + 1, n_skin, "")

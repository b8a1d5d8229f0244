"""Random augmentation of dermoscopy images (and their masks) and class-balancing plans.

Dermoscopy has no canonical orientation, so flips and any rotation are label-preserving;
lighting and dermatoscopes vary, so mild colour jitter, blur and resolution loss are too.

`augment` = `sample_draw` (all randomness, a fixed number of draws per call) followed by
`apply_draw` (pure). Because every call consumes the same amount of the generator whatever
the config, switching one transform off does not change what the others do to later images.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np

from skinlab.data.preprocess import check_image, check_mask

BALANCE_MODES = ("none", "oversample")

_PROBABILITIES = ("hflip", "vflip", "rot90", "blur", "downscale")
_UNIT_FRACTIONS = ("brightness", "contrast", "saturation")
_BLUR_KERNELS = (3, 5)
_DOWNSCALE_RANGE = (0.5, 0.9)
_DRAWS_PER_CALL = 14


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"AugmentConfig.{name} must be a number (got {value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"AugmentConfig.{name} must be finite (got {value!r})")
    return number


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """What `augment` may do; probabilities are per image, ranges are symmetric around identity."""

    hflip: float = 0.5  # probability
    vflip: float = 0.5
    rot90: float = 0.5  # probability of a random multiple of 90 degrees (90, 180 or 270)
    rotate_degrees: float = 30.0  # free rotation uniformly in [-x, x], reflected borders
    zoom: tuple[float, float] = (1.0, 1.25)  # scale factor; >1 crops around the centre
    brightness: float = 0.15  # additive, fraction of 255, uniform in [-x, x]
    contrast: float = 0.15  # multiplicative around the mean, uniform in [1-x, 1+x]
    hue: float = 5.0  # OpenCV hue units (0..180 scale), uniform in [-x, x]
    saturation: float = 0.15  # multiplicative in [1-x, 1+x]
    blur: float = 0.1  # probability of a Gaussian blur (kernel 3 or 5)
    downscale: float = 0.1  # probability of down-then-up scaling by a factor in [0.5, 0.9]

    def __post_init__(self) -> None:
        for name in _PROBABILITIES:
            value = _real(getattr(self, name), name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"AugmentConfig.{name} is a probability, must be in [0, 1] (got {value})"
                )
        for name in _UNIT_FRACTIONS:
            value = _real(getattr(self, name), name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"AugmentConfig.{name} must be in [0, 1] (got {value})")
        degrees = _real(self.rotate_degrees, "rotate_degrees")
        if not 0.0 <= degrees <= 180.0:
            raise ValueError(f"AugmentConfig.rotate_degrees must be in [0, 180] (got {degrees})")
        hue = _real(self.hue, "hue")
        if not 0.0 <= hue <= 90.0:
            raise ValueError(f"AugmentConfig.hue must be in [0, 90] OpenCV hue units (got {hue})")
        zoom = self.zoom
        if isinstance(zoom, (str, bytes)) or not isinstance(zoom, Sequence) or len(zoom) != 2:
            raise ValueError(f"AugmentConfig.zoom must be a pair (min, max) (got {zoom!r})")
        low, high = _real(zoom[0], "zoom"), _real(zoom[1], "zoom")
        if not 1.0 <= low <= high:
            raise ValueError(f"AugmentConfig.zoom must satisfy 1 <= min <= max (got {tuple(zoom)})")
        if high > 4.0:
            raise ValueError(f"AugmentConfig.zoom max must be <= 4 (got {high})")
        object.__setattr__(self, "zoom", (low, high))

    @classmethod
    def identity(cls) -> AugmentConfig:
        """A config under which `augment` returns its input unchanged."""
        return cls(
            hflip=0.0, vflip=0.0, rot90=0.0, rotate_degrees=0.0, zoom=(1.0, 1.0), brightness=0.0,
            contrast=0.0, hue=0.0, saturation=0.0, blur=0.0, downscale=0.0,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AugmentDraw:
    """One concrete augmentation; the identity values mean 'skip this step'."""

    hflip: bool = False
    vflip: bool = False
    rot90_k: int = 0  # quarter turns counter-clockwise, 0..3
    angle: float = 0.0  # degrees, counter-clockwise
    scale: float = 1.0  # zoom factor, >= 1
    brightness: float = 0.0  # added to every value, in 0..255 units
    contrast: float = 1.0  # factor around the image mean
    hue_shift: int = 0  # OpenCV hue units (0..180 scale)
    saturation: float = 1.0  # factor
    blur_kernel: int = 0  # 0: no blur; else odd Gaussian kernel size
    downscale: float = 1.0  # 1: no down-then-up scaling


def sample_draw(cfg: AugmentConfig, rng: np.random.Generator) -> AugmentDraw:
    """Draw one augmentation from `cfg`, always using exactly 14 uniforms from `rng`."""
    u = rng.random(_DRAWS_PER_CALL)
    low, high = cfg.zoom
    blur_kernel = _BLUR_KERNELS[int(u[11] * len(_BLUR_KERNELS))] if u[10] < cfg.blur else 0
    down_low, down_high = _DOWNSCALE_RANGE
    downscale = down_low + u[13] * (down_high - down_low) if u[12] < cfg.downscale else 1.0
    return AugmentDraw(
        hflip=bool(u[0] < cfg.hflip),
        vflip=bool(u[1] < cfg.vflip),
        rot90_k=1 + min(int(u[3] * 3), 2) if u[2] < cfg.rot90 else 0,
        angle=float((2.0 * u[4] - 1.0) * cfg.rotate_degrees),
        scale=float(low + u[5] * (high - low)),
        brightness=float((2.0 * u[6] - 1.0) * cfg.brightness * 255.0),
        contrast=float(1.0 + (2.0 * u[7] - 1.0) * cfg.contrast),
        hue_shift=int(round((2.0 * u[8] - 1.0) * cfg.hue)),
        saturation=float(1.0 + (2.0 * u[9] - 1.0) * cfg.saturation),
        blur_kernel=blur_kernel,
        downscale=float(downscale),
    )


def augment(
    image: np.ndarray, mask: np.ndarray | None, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Randomly augment an RGB uint8 image and, identically for geometry, its 0/255 mask.

    Photometric changes touch only the image. Shapes and dtypes are preserved; on
    non-square images a drawn 90/270-degree turn becomes 180 degrees so the shape holds.
    """
    check_image(image)
    if mask is not None:
        check_mask(mask, image.shape)
    return apply_draw(image, mask, sample_draw(cfg, rng))


def apply_draw(
    image: np.ndarray, mask: np.ndarray | None, draw: AugmentDraw
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply one concrete augmentation: geometry to image and mask, then photometry to the image."""
    check_image(image)
    if mask is not None:
        check_mask(mask, image.shape)
    out_image, out_mask = _geometric(image, mask, draw)
    out_image = _photometric(out_image, draw)
    # Never hand back a view of the input: the caller may write into the result.
    out_image = _fresh(out_image, image)
    out_mask = None if mask is None else _fresh(out_mask, mask)
    return out_image, out_mask


def _fresh(result: np.ndarray, source: np.ndarray) -> np.ndarray:
    if np.shares_memory(result, source) or not result.flags.c_contiguous:
        return np.array(result, order="C", copy=True)
    return result


def _geometric(
    image: np.ndarray, mask: np.ndarray | None, draw: AugmentDraw
) -> tuple[np.ndarray, np.ndarray | None]:
    if draw.hflip:
        image, mask = np.fliplr(image), None if mask is None else np.fliplr(mask)
    if draw.vflip:
        image, mask = np.flipud(image), None if mask is None else np.flipud(mask)
    k = draw.rot90_k % 4
    if k % 2 == 1 and image.shape[0] != image.shape[1]:
        k = 2
    if k:
        image, mask = np.rot90(image, k), None if mask is None else np.rot90(mask, k)
    if draw.angle != 0.0 or draw.scale != 1.0:
        image, mask = _rotate_zoom(image, mask, draw.angle, draw.scale)
    return image, mask


def _rotate_zoom(
    image: np.ndarray, mask: np.ndarray | None, angle: float, scale: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """One affine warp about the centre: a zoom > 1 equals a centre crop resized back,
    and doing both in one warp interpolates once instead of twice."""
    height, width = image.shape[:2]
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    size = (width, height)
    image = cv2.warpAffine(
        np.ascontiguousarray(image), matrix, size,
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101,
    )  # fmt: skip
    if mask is not None:
        mask = cv2.warpAffine(
            np.ascontiguousarray(mask), matrix, size,
            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
    return image, mask


def _photometric(image: np.ndarray, draw: AugmentDraw) -> np.ndarray:
    if draw.brightness != 0.0 or draw.contrast != 1.0:
        image = brightness_contrast(image, draw.brightness, draw.contrast)
    if draw.hue_shift != 0 or draw.saturation != 1.0:
        image = hue_saturation(image, draw.hue_shift, draw.saturation)
    if draw.blur_kernel:
        kernel = (draw.blur_kernel, draw.blur_kernel)
        image = cv2.GaussianBlur(np.ascontiguousarray(image), kernel, 0)
    if draw.downscale != 1.0:
        image = down_up_scale(image, draw.downscale)
    return image


def brightness_contrast(image: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """Scale around the image mean by `contrast`, then add `brightness` (0..255 units)."""
    mean = float(np.mean(cv2.mean(np.ascontiguousarray(image))[:3]))
    levels = np.arange(256, dtype=np.float64)
    table = np.clip(np.rint((levels - mean) * contrast + mean + brightness), 0, 255)
    return cv2.LUT(np.ascontiguousarray(image), table.astype(np.uint8))


def hue_saturation(image: np.ndarray, hue_shift: int, saturation: float) -> np.ndarray:
    """Rotate the hue by `hue_shift` OpenCV units (wrapping at 180) and scale saturation."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    levels = np.arange(256)
    tables = np.empty((256, 1, 3), np.uint8)
    tables[:, 0, 0] = (levels + int(hue_shift)) % 180
    tables[:, 0, 1] = np.clip(np.rint(levels * float(saturation)), 0, 255)
    tables[:, 0, 2] = levels
    return cv2.cvtColor(cv2.LUT(hsv, tables), cv2.COLOR_HSV2RGB)


def down_up_scale(image: np.ndarray, factor: float) -> np.ndarray:
    """Lose detail as a lower-resolution camera would: shrink by `factor`, then enlarge back."""
    height, width = image.shape[:2]
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    reduced = cv2.resize(np.ascontiguousarray(image), small, interpolation=cv2.INTER_AREA)
    return cv2.resize(reduced, (width, height), interpolation=cv2.INTER_LINEAR)


def balance_plan(
    labels: Sequence[str], mode: str, target: int | str | None, rng: np.random.Generator
) -> list[int]:
    """Source indices to write: every index once, then (mode 'oversample') extra copies of
    minority-class images until each class has `target` images.

    `target` is 'max' (the majority class count), an int, or None (= 'max'); classes already
    at or above the target are not reduced. Extras cycle through a fresh random permutation of
    the class's images, so no image is repeated k+1 times before every image was repeated k
    times. Extras are grouped by class in sorted label order.
    """
    indices = list(range(len(labels)))
    if mode == "none":
        return indices
    if mode != "oversample":
        raise ValueError(f"unknown balance mode {mode!r}; expected one of {BALANCE_MODES}")
    counts = Counter(labels)
    if not counts:
        return indices
    goal = _balance_target(target, counts)
    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    plan = indices
    for label in sorted(by_class):
        members = np.asarray(by_class[label])
        missing = goal - len(members)
        while missing > 0:
            chunk = rng.permutation(members)[:missing]
            plan.extend(int(i) for i in chunk)
            missing -= len(chunk)
    return plan


def _balance_target(target: int | str | None, counts: Counter) -> int:
    if target is None or target == "max":
        return max(counts.values())
    if isinstance(target, str):
        raise ValueError(f"unknown balance target {target!r}; expected 'max' or an integer >= 1")
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 1:
        raise ValueError(f"balance target must be 'max' or an integer >= 1 (got {target!r})")
    return int(target)

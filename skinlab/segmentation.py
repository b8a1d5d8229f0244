"""Classical lesion segmentation of dermoscopy images: Otsu, k-means and GrabCut.

Each method takes an RGB uint8 image and returns a bool mask at the image's size. All three
share the same steps, so they differ only in how they split lesion from skin:

1. ``prepare``: shrink to ``work_size``, remove hairs (``preprocess.remove_hair``), blur.
2. ``vignette_mask``: the dark dermoscope corners, which every method leaves out.
3. ``correct_shading``: divide out uneven light.
4. the method's own split, lesion = the darker side.
5. ``postprocess``: drop vignette, thin marks (rulers, hair left-overs) and specks, fill holes,
   keep the component nearest the centre (weighted by size), smooth.

Sizes are fractions of the working image, so defaults hold at any resolution. The keywords
of ``prepare``, ``vignette_mask``, ``correct_shading`` and ``postprocess`` can be passed to
any method; an unknown keyword is a ValueError naming it.
"""

from __future__ import annotations

import inspect

import cv2
import numpy as np
from scipy import ndimage

from skinlab.checks import check_positive_int, check_rgb
from skinlab.data.preprocess import remove_hair

METHODS = ("otsu", "kmeans", "grabcut")
CHANNELS = {"red": 0, "green": 1, "blue": 2}
# HAM10000's masks take in the lesion's pale rim: the Otsu threshold moves this share of the
# way to the skin's mean (chosen on every 5th image of ham10000-masks155, 31 of 155).
OTSU_SHIFT = 0.4
# Rings of the vignette's radial profile, in units of the inscribed ellipse's radius.
RING_WIDTH, N_RINGS = 0.02, 72
# Class means closer than this (grey levels) mean one region, taken to be a frame-filling lesion.
MIN_CONTRAST = 8.0


def prepare(
    image: np.ndarray,
    *,
    work_size: int = 256,
    hair_kernel_fraction: float = 0.03,
    hair_threshold: int = 10,
    blur_fraction: float = 0.005,
) -> np.ndarray:
    """The image every method splits: hairs would otherwise be segmented as lesion.

    ``work_size``: longer side after shrinking (0 keeps the size; never enlarged).
    ``hair_kernel_fraction``: black-hat kernel as a share of the longer side (must exceed a
    hair's width). ``hair_threshold``: black-hat response that counts as hair.
    ``blur_fraction``: Gaussian sigma as a share of the shorter side (0: no blur).
    """
    image = check_rgb(image)
    longer = max(image.shape[:2])
    if work_size and longer > work_size:
        scale = work_size / longer
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    kernel = _odd(hair_kernel_fraction * max(image.shape[:2]), minimum=3)
    image = remove_hair(image, kernel_size=kernel, threshold=hair_threshold)
    sigma = blur_fraction * min(image.shape[:2])
    if sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    return image


def vignette_mask(
    image: np.ndarray,
    *,
    vignette_level: float = 0.4,
    radial_level: float = 0.75,
    radial_start: float = 0.8,
    vignette_margin_fraction: float = 0.03,
) -> np.ndarray:
    """The dermoscope's dark vignette: bool mask of pixels to leave out of the lesion.

    Radius r is 1 on the largest inscribed ellipse. Vignette is (a) pixels darker than
    ``vignette_level`` times the 95th percentile of grey (the skin) that lie outside the
    ellipse or in a dark region touching an image corner and lying mostly outside it, and
    (b) the outer rings, beyond ``radial_start``, whose mean grey stays below ``radial_level``
    times the brightest ring within r <= 1 all the way out (a soft, centred vignette). A dark
    lesion filling the frame lies mostly inside the ellipse and has no darker rings around
    it, so it is not vignette. The result is grown by ``vignette_margin_fraction`` of the
    shorter side to take in the vignette's soft inner edge.
    """
    grey = cv2.cvtColor(check_rgb(image), cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    y, x = np.mgrid[:height, :width]
    radius = np.hypot((x + 0.5) / (width / 2) - 1, (y + 0.5) / (height / 2) - 1)
    outside = radius > 1
    dark = grey < vignette_level * np.percentile(grey, 95)
    result = dark & outside
    count, labels = cv2.connectedComponents(dark.astype(np.uint8), connectivity=8)
    for label in {labels[0, 0], labels[0, -1], labels[-1, 0], labels[-1, -1]} - {0}:
        region = labels == label
        if (region & outside).sum() * 2 >= region.sum():
            result |= region
    rings = np.minimum((radius / RING_WIDTH).astype(np.int64), N_RINGS - 1)
    counts = np.bincount(rings.ravel(), minlength=N_RINGS)
    sums = np.bincount(rings.ravel(), grey.ravel().astype(np.float64), minlength=N_RINGS)
    profile = sums / np.maximum(counts, 1)
    starts = np.arange(N_RINGS) * RING_WIDTH
    bright = profile[(starts < 1) & (counts > 0)].max()
    dim = (profile < radial_level * bright) | (counts == 0)
    if dim[-1] and not dim.all():
        first = N_RINGS - int(np.argmin(dim[::-1]))  # start of the dim run that reaches the corners
        if starts[first] >= radial_start:
            result |= rings >= first
    if not result.any():
        return result
    return _morph(result, cv2.MORPH_DILATE, 2 * vignette_margin_fraction * min(height, width))


def correct_shading(
    image: np.ndarray, exclude: np.ndarray, *, shading: bool = True, shading_max_gain: float = 1.4
) -> np.ndarray:
    """Divide out slow shading (uneven light, soft vignette) that would join skin to the lesion.

    Per channel, a quadratic surface is fitted to the skin (the brighter side of Otsu's split
    of the blue channel, vignette left out) and the channel divided by it, keeping the skin's
    mean. Gains are clipped to [1 / ``shading_max_gain``, ``shading_max_gain``] so a fit to a
    rim of skin cannot blow up the centre; with skin under 20 % of the field (a lesion filling
    the frame) nothing is done. ``shading=False`` leaves the image as it is.
    """
    if not shading:
        return image
    blue = np.ascontiguousarray(image[..., 2])
    threshold, _ = _otsu_threshold(blue[~exclude])
    skin = (blue > threshold) & ~exclude
    if skin.sum() < max(60, 0.2 * (~exclude).sum()):
        return image
    height, width = skin.shape
    y, x = np.mgrid[:height, :width]
    y, x = y / height - 0.5, x / width - 0.5
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)
    coef, *_ = np.linalg.lstsq(terms[skin], image[skin].astype(np.float64), rcond=None)
    surface = np.maximum(terms @ coef, 1.0)
    gain = np.clip(surface[skin].mean(axis=0) / surface, 1 / shading_max_gain, shading_max_gain)
    return np.clip(np.rint(image * gain), 0, 255).astype(np.uint8)


def postprocess(
    mask: np.ndarray,
    exclude: np.ndarray | None = None,
    *,
    open_fraction: float = 0.02,
    close_fraction: float = 0.04,
    ruler_width_fraction: float = 0.05,
    ruler_elongation: float = 4.0,
    centre_sigma: float = 0.6,
    frame_fraction: float = 0.5,
) -> np.ndarray:
    """One clean lesion from a raw split (bool mask, same size).

    ``exclude`` (e.g. the vignette) is removed first and after smoothing. Opening with a
    disc of ``open_fraction`` of the shorter side removes specks and thin lines; regions
    thinner than ``ruler_width_fraction`` of it and ``ruler_elongation`` times longer than
    thick (ruler marks) go too. Holes are filled; of the components, the one with the
    largest area * exp(-(d / (centre_sigma * half diagonal))^2), d its centroid's distance
    from the centre, is kept, unless one covers ``frame_fraction`` of the image (a lesion
    filling the frame), which is then kept. Closing with ``close_fraction`` smooths it.
    """
    mask = np.asarray(mask) != 0
    exclude = np.zeros_like(mask) if exclude is None else np.asarray(exclude) != 0
    if exclude.shape != mask.shape:
        raise ValueError(f"exclude shape {exclude.shape} does not match mask shape {mask.shape}")
    side = min(mask.shape)
    mask = _morph(mask & ~exclude, cv2.MORPH_OPEN, open_fraction * side)
    mask = drop_thin(mask, ruler_width_fraction * side, ruler_elongation)
    mask = keep_central(ndimage.binary_fill_holes(mask), centre_sigma, frame_fraction)
    mask = _morph(mask, cv2.MORPH_CLOSE, close_fraction * side) & ~exclude
    return keep_central(ndimage.binary_fill_holes(mask), centre_sigma, frame_fraction)


def drop_thin(mask: np.ndarray, max_width: float, min_elongation: float) -> np.ndarray:
    """Remove regions thinner than ``max_width`` px and ``min_elongation`` times longer than thick."""
    mask8 = mask.astype(np.uint8)
    contours, _ = cv2.findContours(mask8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        length = max(cv2.minAreaRect(contour)[1])
        width = cv2.contourArea(contour) / length if length else 0.0
        if width < max_width and length >= min_elongation * max(width, 1.0):
            cv2.drawContours(mask8, [contour], -1, 0, thickness=-1)
    return mask8 > 0


def keep_central(mask: np.ndarray, centre_sigma: float = 0.6, frame_fraction: float = 0.5) -> np.ndarray:
    """The component that best trades size against distance from the centre (see postprocess)."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    height, width = mask.shape
    if areas.max() >= frame_fraction * height * width:
        best = int(np.argmax(areas))
    else:
        half_diagonal = 0.5 * np.hypot(height, width)
        distance = np.hypot(centroids[1:, 0] - (width - 1) / 2, centroids[1:, 1] - (height - 1) / 2)
        best = int(np.argmax(areas * np.exp(-((distance / (centre_sigma * half_diagonal)) ** 2))))
    return labels == best + 1


# --- methods ---------------------------------------------------------------------------


def otsu(
    image: np.ndarray,
    channel: str = "blue",
    threshold_shift: float = OTSU_SHIFT,
    min_contrast: float = MIN_CONTRAST,
    **options,
) -> np.ndarray:
    """Otsu's threshold on one channel (vignette left out); the lesion is the darker side.

    ``channel``: red, green, blue (lesions absorb blue most, so it shows them best), grey, or
    auto (the one of red, green, blue whose split has the largest between-class variance).
    ``threshold_shift``: share of the way from Otsu's threshold to the brighter class's mean
    that the threshold moves (0: plain Otsu). If the two classes' means differ by less than
    ``min_contrast`` grey levels, there is one region, and the whole field is lesion.
    """
    if channel not in (*CHANNELS, "grey", "auto"):
        raise ValueError(f"channel must be one of {', '.join((*CHANNELS, 'grey', 'auto'))} (got {channel!r})")
    def split(small, exclude):
        return _otsu_split(small, exclude, channel, threshold_shift, min_contrast)

    return _run(image, options, split)


def kmeans(
    image: np.ndarray, k: int = 3, lesion_clusters: int = 2, min_contrast: float = MIN_CONTRAST, **options
) -> np.ndarray:
    """k-means on CIE Lab colour (vignette left out); the lesion is the darkest clusters.

    ``lesion_clusters`` of the ``k`` clusters, by lowest L, are lesion: with k=3, 2 takes in
    the lesion's lighter rim, which HAM10000's masks include (k=2, 1: the plain split).
    Clusters start from lightness quantiles (KMEANS_USE_INITIAL_LABELS, one attempt), so no
    random draw is made and the result is deterministic. If the cluster lightnesses span less
    than ``min_contrast``, the whole field is lesion.
    """
    check_positive_int("k", k, minimum=2)
    check_positive_int("lesion_clusters", lesion_clusters)
    if lesion_clusters >= k:
        raise ValueError(f"lesion_clusters must be below k (got {lesion_clusters} of {k})")
    def split(small, exclude):
        return _kmeans_split(small, exclude, k, lesion_clusters, min_contrast)

    return _run(image, options, split)


def grabcut(
    image: np.ndarray,
    init: str = "otsu",
    iterations: int = 3,
    band_fraction: float = 0.1,
    margin_fraction: float = 0.1,
    seed: int = 0,
    min_contrast: float = MIN_CONTRAST,
    **options,
) -> np.ndarray:
    """GrabCut (colour GMMs + graph cut), started from the cleaned Otsu mask or a rectangle.

    ``init="otsu"``: the Otsu lesion (blue channel, default shift, ``min_contrast``) is
    probable lesion, its core (eroded by ``band_fraction`` of the shorter side) sure lesion, a
    band of that width around it probable skin, the rest sure skin. ``init="rect"`` (also used
    when Otsu finds nothing): the centre rectangle inside a ``margin_fraction`` margin is
    probable lesion. Vignette is always sure skin. ``seed`` fixes OpenCV's RNG, which
    GrabCut's GMM initialisation draws from.
    """
    if init not in ("otsu", "rect"):
        raise ValueError(f"init must be otsu or rect (got {init!r})")
    check_positive_int("iterations", iterations)
    post = _route(options)[3]

    def split(small, exclude):
        start = None
        if init == "otsu":
            start = postprocess(_otsu_split(small, exclude, "blue", OTSU_SHIFT, min_contrast), exclude, **post)
        return _grabcut_split(small, exclude, start, iterations, band_fraction, margin_fraction, seed)

    return _run(image, options, split)


def segment(image: np.ndarray, method: str, **params) -> np.ndarray:
    """The bool lesion mask of ``image`` by the named method (one of METHODS)."""
    if method not in METHODS:
        raise ValueError(f"unknown segmentation method {method!r}; valid names: {', '.join(METHODS)}")
    return {"otsu": otsu, "kmeans": kmeans, "grabcut": grabcut}[method](image, **params)


# --- helpers ---------------------------------------------------------------------------


def _run(image, options, split) -> np.ndarray:
    image = check_rgb(image)
    prep, vignette, shading, post = _route(options)
    small = prepare(image, **prep)
    exclude = vignette_mask(small, **vignette)
    small = correct_shading(small, exclude, **shading)
    mask = postprocess(split(small, exclude), exclude, **post)
    if mask.shape == image.shape[:2]:
        return mask
    size = (image.shape[1], image.shape[0])
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.5


def _route(options: dict) -> tuple[dict, dict, dict, dict]:
    """Split keyword options among the shared steps' functions; unknown keys fail."""
    routed = []
    for fn in (prepare, vignette_mask, correct_shading, postprocess):
        names = {p.name for p in inspect.signature(fn).parameters.values() if p.kind == p.KEYWORD_ONLY}
        routed.append({k: v for k, v in options.items() if k in names})
    unknown = set(options) - set().union(*routed)
    if unknown:
        raise ValueError(f"unknown segmentation option(s): {', '.join(sorted(unknown))}")
    return routed[0], routed[1], routed[2], routed[3]


def _otsu_threshold(values: np.ndarray) -> tuple[float, float]:
    """Otsu's threshold of uint8 values and the between-class variance of its split."""
    if values.size == 0:
        return 0.0, 0.0
    threshold, _ = cv2.threshold(values.reshape(1, -1), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    low = values <= threshold
    share = low.mean()
    if share in (0.0, 1.0):
        return float(threshold), 0.0
    gap = values[low].mean() - values[~low].mean()
    return float(threshold), float(share * (1 - share) * gap**2)


def _otsu_split(small, exclude, channel: str, shift: float, min_contrast: float) -> np.ndarray:
    if channel == "grey":
        plane = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    elif channel == "auto":
        planes = [np.ascontiguousarray(small[..., i]) for i in range(3)]
        plane = max(planes, key=lambda p: _otsu_threshold(p[~exclude])[1])
    else:
        plane = np.ascontiguousarray(small[..., CHANNELS[channel]])
    values = plane[~exclude]
    if not values.size:
        return np.zeros(plane.shape, bool)
    threshold, _ = _otsu_threshold(values)
    low = values <= threshold
    if low.all() or not low.any() or values[~low].mean() - values[low].mean() < min_contrast:
        return ~exclude  # one region: the lesion fills the field
    threshold += shift * (values[~low].mean() - threshold)
    return (plane <= threshold) & ~exclude


def _kmeans_split(small, exclude, k: int, lesion_clusters: int, min_contrast: float) -> np.ndarray:
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)[~exclude].astype(np.float32)
    if len(lab) < k:
        return np.zeros(exclude.shape, bool)
    ranks = np.argsort(np.argsort(lab[:, 0], kind="stable"), kind="stable")
    labels = (ranks * k // len(lab)).astype(np.int32).reshape(-1, 1)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, labels, centres = cv2.kmeans(lab, k, labels, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    if np.ptp(centres[:, 0]) < min_contrast:
        return ~exclude  # one region: the lesion fills the field
    mask = np.zeros(exclude.shape, bool)
    mask[~exclude] = np.isin(labels.ravel(), np.argsort(centres[:, 0])[:lesion_clusters])
    return mask


def _grabcut_split(small, exclude, start, iterations, band_fraction, margin_fraction, seed) -> np.ndarray:
    height, width = exclude.shape
    if start is not None and start.any():
        band = band_fraction * min(height, width)
        grown = _morph(start, cv2.MORPH_DILATE, band)
        core = _morph(start, cv2.MORPH_ERODE, band)
        marks = np.full(exclude.shape, cv2.GC_BGD, np.uint8)
        marks[grown] = cv2.GC_PR_BGD
        marks[start] = cv2.GC_PR_FGD
        marks[core] = cv2.GC_FGD
    else:
        start = np.zeros(exclude.shape, bool)
        dy, dx = round(margin_fraction * height), round(margin_fraction * width)
        marks = np.full(exclude.shape, cv2.GC_BGD, np.uint8)
        marks[dy : height - dy, dx : width - dx] = cv2.GC_PR_FGD
    marks[exclude] = cv2.GC_BGD
    sure = (marks == cv2.GC_BGD) | (marks == cv2.GC_FGD)
    if sure.all() or not np.isin(marks, (cv2.GC_FGD, cv2.GC_PR_FGD)).any() or not np.isin(
        marks, (cv2.GC_BGD, cv2.GC_PR_BGD)
    ).any():
        return start  # nothing for GrabCut to decide, or one side has no pixels to model
    cv2.setRNGSeed(int(seed))
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(small, marks, None, background, foreground, int(iterations), cv2.GC_INIT_WITH_MASK)
    return (marks == cv2.GC_FGD) | (marks == cv2.GC_PR_FGD)


def _morph(mask: np.ndarray, op: int, diameter: float) -> np.ndarray:
    size = _odd(diameter, minimum=1)
    if size <= 1:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), op, kernel) > 0


def _odd(value: float, minimum: int) -> int:
    size = max(minimum, int(round(value)))
    return size if size % 2 else size + 1

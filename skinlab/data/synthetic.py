"""Synthetic dermoscopy: the offline default data source, with labels, masks and skin tone known.

Each lesion gets a class (HAM10000 prevalences, with a floor for the rare classes), a skin tone
(mostly light as in HAM10000, with a share of dark skin large enough to evaluate) and one drawing
(synthetic_draw.py). Each of its 1..n images photographs that drawing with its own pose, zoom and
lighting, then adds the dermoscope's artefacts: a dark circular vignette, hairs, an uneven
illumination gradient, gel bubbles and JPEG compression.

Everything is drawn from generators seeded by (seed, lesion index), so the same config gives
byte-identical output, and a larger `n_lesions` appends lesions without changing earlier ones.
"""

import dataclasses
import numbers
from collections.abc import Iterator

import cv2
import numpy as np

from skinlab.data.schema import CLASSES, HAM10000_COUNTS
from skinlab.data.synthetic_draw import draw_lesion, smooth_noise
from skinlab.skintone import fitzpatrick_from_ita, ita_from_rgb, lab_from_rgb

# Purposes of the random streams; every stream is seeded by [seed, purpose, a, b] (fixed length,
# so two purposes never share a seed).
_STREAM_ORDER, _STREAM_DARK, _STREAM_LESION, _STREAM_DRAW, _STREAM_IMAGE = 1, 2, 3, 4, 5

# ITA ranges (degrees) painted for each Fitzpatrick type: inside the type's boundaries with a
# margin, so that lighting and compression rarely push the measured tone into the next type.
_ITA_RANGES = {1: (57.0, 68.0), 2: (43.5, 53.0), 3: (30.5, 38.5), 4: (13.0, 25.0), 5: (-26.0, 6.0), 6: (-55.0, -34.0)}
# HAM10000 is almost all light skin, mostly types II-III; dark lesions split between V and VI.
_LIGHT_TYPE_WEIGHTS = {1: 0.12, 2: 0.45, 3: 0.33, 4: 0.10}
_DARK_TYPE_WEIGHTS = {5: 0.6, 6: 0.4}

# HAM10000 localization vocabulary, with the body sites each class favours.
_SITES_DEFAULT = {
    "back": 0.22, "lower extremity": 0.20, "trunk": 0.14, "upper extremity": 0.11, "abdomen": 0.10,
    "face": 0.07, "chest": 0.04, "foot": 0.03, "unknown": 0.02, "neck": 0.02, "scalp": 0.015,
    "hand": 0.01, "ear": 0.01, "genital": 0.005, "acral": 0.005,
}
_SITES = {
    "akiec": {"face": 0.35, "upper extremity": 0.2, "hand": 0.08, "scalp": 0.08, "back": 0.1,
              "lower extremity": 0.1, "neck": 0.05, "chest": 0.04},
    "bcc": {"face": 0.25, "back": 0.3, "trunk": 0.1, "chest": 0.1, "upper extremity": 0.1,
            "lower extremity": 0.08, "neck": 0.04, "scalp": 0.03},
    "df": {"lower extremity": 0.7, "upper extremity": 0.15, "trunk": 0.1, "back": 0.05},
    "vasc": {"trunk": 0.3, "lower extremity": 0.25, "abdomen": 0.15, "back": 0.15, "face": 0.1,
             "upper extremity": 0.05},
}
# Mean age at diagnosis per class (years), roughly as in HAM10000.
_MEAN_AGE = {"akiec": 67, "bcc": 66, "bkl": 63, "df": 52, "mel": 60, "nv": 46, "vasc": 50}
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    n_lesions: int = 500
    min_lesions_per_class: int = 12  # rare classes still get enough lesions to evaluate
    min_images_per_lesion: int = 1
    max_images_per_lesion: int = 4
    width: int = 256
    height: int = 192
    dark_skin_fraction: float = 0.25  # share of lesions on Fitzpatrick V-VI
    jpeg_quality_min: int = 70
    jpeg_quality_max: int = 95
    seed: int = 42

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            wanted = numbers.Real if field.type in (float, "float") else numbers.Integral
            if isinstance(value, bool) or not isinstance(value, wanted):
                kind = "a number" if wanted is numbers.Real else "an integer"
                raise ValueError(f"SyntheticConfig.{field.name} must be {kind} (got {value!r})")
        checks = [
            ("n_lesions", self.n_lesions >= 1, ">= 1"),
            ("min_lesions_per_class", self.min_lesions_per_class >= 0, ">= 0"),
            ("n_lesions", self.n_lesions >= len(CLASSES) * self.min_lesions_per_class,
             f">= {len(CLASSES)} * min_lesions_per_class = {len(CLASSES) * self.min_lesions_per_class}"),
            ("min_images_per_lesion", self.min_images_per_lesion >= 1, ">= 1"),
            ("max_images_per_lesion", self.max_images_per_lesion >= self.min_images_per_lesion,
             f">= min_images_per_lesion ({self.min_images_per_lesion})"),
            ("width", self.width >= 32, ">= 32"),
            ("height", self.height >= 32, ">= 32"),
            ("dark_skin_fraction", 0.0 <= self.dark_skin_fraction <= 1.0, "in [0, 1]"),
            ("jpeg_quality_min", 1 <= self.jpeg_quality_min <= 100, "in [1, 100]"),
            ("jpeg_quality_max", self.jpeg_quality_min <= self.jpeg_quality_max <= 100,
             f"in [jpeg_quality_min ({self.jpeg_quality_min}), 100]"),
            ("seed", self.seed >= 0, ">= 0"),
        ]
        for key, ok, rule in checks:
            if not ok:
                raise ValueError(f"SyntheticConfig.{key} must be {rule} (got {getattr(self, key)!r})")


@dataclasses.dataclass(frozen=True)
class SyntheticImage:
    image_id: str
    jpeg: bytes  # decodes to RGB H x W x 3 (see decode_jpeg)
    mask: np.ndarray  # uint8 H x W, 0 or 255
    record: dict  # HAM10000 columns plus fitzpatrick and ita


@dataclasses.dataclass(frozen=True)
class LesionPlan:
    """What is decided about a lesion before drawing it: cheap, and the same for every image."""

    index: int
    lesion_id: str
    dx: str
    n_images: int
    first_image_index: int
    fitzpatrick: int
    ita: float
    skin_rgb: tuple[float, float, float]  # 0..1
    age: int
    sex: str
    localization: str

    def image_ids(self) -> list[str]:
        return [f"SYN_{self.first_image_index + k:07d}" for k in range(self.n_images)]

    def record(self, image_id: str) -> dict:
        return {"lesion_id": self.lesion_id, "image_id": image_id, "dx": self.dx, "dx_type": "synthetic",
                "age": self.age, "sex": self.sex, "localization": self.localization,
                "fitzpatrick": self.fitzpatrick, "ita": self.ita}


def _rng(seed: int, purpose: int, a: int = 0, b: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, purpose, a, b])


def class_sequence(cfg: SyntheticConfig) -> list[str]:
    """The class of each lesion, in order.

    The first 7 * min_lesions_per_class lesions are a shuffled block with the floor of every
    class; each later lesion goes to the class with the highest HAM10000 share per lesion already
    given (Sainte-Lague's divisor method), which keeps the counts proportional above the floor
    and never changes earlier lesions when n_lesions grows.
    """
    floor = cfg.min_lesions_per_class
    block = [dx for dx in CLASSES for _ in range(floor)]
    order = _rng(cfg.seed, _STREAM_ORDER).permutation(len(block))
    sequence = [block[i] for i in order][: cfg.n_lesions]
    total = sum(HAM10000_COUNTS.values())
    shares = np.array([HAM10000_COUNTS[dx] / total for dx in CLASSES])
    counts = np.full(len(CLASSES), floor, np.float64)
    while len(sequence) < cfg.n_lesions:
        winner = int(np.argmax(shares / (counts + 0.5)))
        counts[winner] += 1
        sequence.append(CLASSES[winner])
    return sequence


def _dark_flags(cfg: SyntheticConfig, sequence: list[str]) -> list[bool]:
    """Whether each lesion is on dark skin: within each class the k-th lesion is dark when a
    golden-ratio sequence falls under the fraction, so every class gets its share (+-1)."""
    offsets = {dx: _rng(cfg.seed, _STREAM_DARK, i).random() for i, dx in enumerate(CLASSES)}
    seen = dict.fromkeys(CLASSES, 0)
    flags = []
    for dx in sequence:
        flags.append(((offsets[dx] + seen[dx] * _GOLDEN) % 1.0) < cfg.dark_skin_fraction)
        seen[dx] += 1
    return flags


def skin_colour(fitzpatrick: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """An RGB skin colour (0..1) of the given Fitzpatrick type, and its ITA measured on uint8.

    The colour is built in CIELAB: an ITA inside the type's range and a skin-like b* fix L*,
    a* is a skin-like redness; the recorded ITA is re-measured on the quantised colour, so it is
    the tone actually painted.
    """
    low, high = _ITA_RANGES[fitzpatrick]
    ita = rng.uniform(low, high)
    b_star = rng.uniform(11.0, 17.0) if fitzpatrick <= 4 else rng.uniform(13.0, 20.0)
    lightness = 50.0 + b_star * np.tan(np.radians(ita))
    a_star = rng.uniform(7.0, 15.0)
    lab = np.array([[[lightness, a_star, b_star]]], np.float32)
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).reshape(3), 0.0, 1.0)
    rgb = np.round(rgb * 255.0) / 255.0
    return rgb.astype(np.float32), ita_from_rgb(np.round(rgb * 255.0).astype(np.uint8))


def _choice(rng: np.random.Generator, weights: dict):
    keys = list(weights)
    p = np.array([weights[k] for k in keys], np.float64)
    return keys[rng.choice(len(keys), p=p / p.sum())]


def lesion_plan(cfg: SyntheticConfig) -> list[LesionPlan]:
    """Per-lesion class, skin tone, number of images and metadata; cheap and deterministic."""
    sequence = class_sequence(cfg)
    dark = _dark_flags(cfg, sequence)
    plans = []
    next_image = 0
    for index, (dx, is_dark) in enumerate(zip(sequence, dark)):
        rng = _rng(cfg.seed, _STREAM_LESION, index)
        fitzpatrick = _choice(rng, _DARK_TYPE_WEIGHTS if is_dark else _LIGHT_TYPE_WEIGHTS)
        rgb, ita = skin_colour(fitzpatrick, rng)
        ita = round(ita, 3)
        n_images = int(rng.integers(cfg.min_images_per_lesion, cfg.max_images_per_lesion + 1))
        age = int(np.clip(5 * round(rng.normal(_MEAN_AGE[dx], 14) / 5), 5, 85))
        sex = "male" if rng.random() < (0.6 if dx in ("mel", "bcc", "akiec") else 0.52) else "female"
        localization = _choice(rng, _SITES.get(dx, _SITES_DEFAULT))
        plans.append(LesionPlan(index, f"SYNL_{index:07d}", dx, n_images, next_image,
                                fitzpatrick_from_ita(ita), ita, tuple(float(c) for c in rgb), age, sex,
                                localization))
        next_image += n_images
    return plans


def lesion_contrast(skin_rgb) -> float:
    """Share of a lesion's colour change kept on this skin: 1 on light skin, about 0.5 on the darkest.

    Melanin in the surrounding skin absorbs much of what makes a lesion stand out on light skin,
    so lesions on dark skin look flatter in photographs.
    """
    lightness = float(lab_from_rgb(np.round(np.asarray(skin_rgb) * 255).astype(np.uint8))[0, 0])
    return 0.45 + 0.55 * float(np.clip((lightness - 25.0) / 45.0, 0.0, 1.0))


@dataclasses.dataclass(frozen=True)
class _PreparedLesion:
    """A template ready to photograph: per-pixel skin factor (RGB) and coverage, stacked (S, S, 4)."""

    layers: np.ndarray
    extent: float


def _prepare(plan: LesionPlan, cfg: SyntheticConfig) -> _PreparedLesion:
    """Draws the lesion and folds its coverage and the skin-dependent contrast into one factor,
    so that each photograph needs a single warp and a single multiplication for the lesion."""
    size = min(cfg.width, cfg.height)
    template = draw_lesion(plan.dx, _rng(cfg.seed, _STREAM_DRAW, plan.index), size)
    weight = template.coverage * np.float32(lesion_contrast(plan.skin_rgb))
    planes = [1.0 + weight * (plane - 1.0) for plane in template.transmission]
    return _PreparedLesion(cv2.merge(planes + [template.coverage]), template.extent)


def _pose(lesion: _PreparedLesion, cfg: SyntheticConfig,
          rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Affine matrix placing the template (random rotation, zoom and shift, lesion kept in frame)
    and the box (x0, y0, x1, y1) of the frame the lesion can cover."""
    half_w, half_h, margin = cfg.width / 2.0, cfg.height / 2.0, 3.0
    fit = (min(half_w, half_h) - margin) / lesion.extent
    zoom = min(rng.uniform(0.85, 1.2), fit)
    reach = lesion.extent * zoom
    x = (cfg.width - 1) / 2.0 + rng.uniform(-1, 1) * min(half_w - margin - reach, 0.12 * cfg.width)
    y = (cfg.height - 1) / 2.0 + rng.uniform(-1, 1) * min(half_h - margin - reach, 0.12 * cfg.height)
    centre = (lesion.layers.shape[0] - 1) / 2.0
    matrix = cv2.getRotationMatrix2D((centre, centre), rng.uniform(0.0, 360.0), zoom)
    matrix[:, 2] += (x - centre, y - centre)
    box = (max(int(x - reach) - 2, 0), max(int(y - reach) - 2, 0),
           min(int(x + reach) + 3, cfg.width), min(int(y + reach) + 3, cfg.height))
    return matrix, box


def _low_frequency_light(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Everything smooth that multiplies the image: the skin's mottling, exposure, an uneven
    gradient and the dark circular vignette (one factor, H x W), plus the skin's redness.

    Both are computed on a coarse grid and enlarged: they are smooth, and it is 10x cheaper.
    Mottling and redness average out to no change, so the skin keeps its recorded tone.
    """
    h, w = shape
    low_w = max(w // 4, min(w, 64))
    low_h = max(2, round(h * low_w / w))
    fields = smooth_noise(rng, (low_h, low_w), 6, channels=2)
    scale = w / low_w  # full-size pixels per coarse pixel
    ys = (np.arange(low_h, dtype=np.float32)[:, None] + 0.5) * np.float32(scale) - h / 2.0
    xs = (np.arange(low_w, dtype=np.float32)[None, :] + 0.5) * np.float32(scale) - w / 2.0
    gx, gy = float(rng.normal(0.0, 0.08)), float(rng.normal(0.0, 0.08))
    light = rng.uniform(0.96, 1.04) * (1.0 + (gx / w) * xs + (gy / h) * ys)
    radius = rng.uniform(0.72, 1.0) * float(np.hypot(w, h)) / 2.0
    cx, cy = float(rng.normal(0.0, 0.03 * w)), float(rng.normal(0.0, 0.03 * w))
    vignette = np.clip((radius - np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)) * (1.0 / (0.06 * w)), 0.0, 1.0)
    vignette = 0.04 + 0.96 * vignette * vignette * (3.0 - 2.0 * vignette)
    shading = (1.0 + 0.035 * fields[..., 0]) * light * vignette
    redness = 0.015 * fields[..., 1]
    return (cv2.resize(shading, (w, h), interpolation=cv2.INTER_LINEAR),
            cv2.resize(redness, (w, h), interpolation=cv2.INTER_LINEAR))


def _hair_shadow(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray | None:
    """Hairs: dark, slightly curved strokes crossing the field, over lesion and skin.

    Returned as the share of light each pixel loses (H x W, or None without hairs): hairs are
    nearly black, so darkening by that share looks the same as painting them and costs one
    multiplication shared with the lighting.
    """
    n_hairs = int(rng.poisson(rng.choice([0.0, 2.0, 6.0], p=[0.35, 0.4, 0.25])))
    if n_hairs == 0:
        return None
    h, w = shape
    unit = min(h, w) / 192.0
    layer = np.zeros(shape, np.float32)
    t = np.linspace(0.0, 1.0, 12)[:, None]
    for _ in range(n_hairs):
        start = rng.uniform((0, 0), (w, h))
        angle = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.3, 1.0) * w
        end = start + length * np.array([np.cos(angle), np.sin(angle)])
        bend = (start + end) / 2 + rng.normal(0, 0.15 * length, 2)
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t ** 2 * end
        thickness = max(1, round(rng.uniform(0.8, 2.2) * unit))
        cv2.polylines(layer, [np.round(curve).astype(np.int32)], False, 1.0, thickness, cv2.LINE_AA)
    return np.minimum(layer, 1.0) * np.float32(rng.uniform(0.75, 0.92))


def _add_bubbles(planes: list[np.ndarray], rng: np.random.Generator) -> None:
    """Gel bubbles: small pale discs with a bright rim and a specular dot, blended in place
    within each bubble's box only."""
    n_bubbles = int(rng.integers(1, 5)) if rng.random() < 0.45 else 0
    h, w = planes[0].shape
    unit = min(h, w) / 192.0
    for _ in range(n_bubbles):
        radius = max(2, round(rng.uniform(2.5, 10.0) * unit))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        x0, y0 = max(cx - radius - 2, 0), max(cy - radius - 2, 0)
        x1, y1 = min(cx + radius + 3, w), min(cy + radius + 3, h)
        fill = np.zeros((y1 - y0, x1 - x0), np.float32)
        rim = np.zeros_like(fill)
        centre = (cx - x0, cy - y0)
        cv2.circle(fill, centre, radius, 0.25, -1, cv2.LINE_AA)
        cv2.circle(rim, centre, radius, 0.7, max(1, round(unit)), cv2.LINE_AA)
        cv2.circle(rim, (centre[0] - radius // 3, centre[1] - radius // 3), max(1, radius // 4), 0.7, -1, cv2.LINE_AA)
        rim = np.minimum(rim, 0.7)
        for plane in planes:
            box = plane[y0:y1, x0:x1]
            box += fill * (1.0 - box)
            box += rim * (0.97 - box)


def _grain(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Sensor grain: uniform noise of a random strength (std 0.006..0.018 of full scale).

    Uniform bytes cost a tenth of Gaussian draws, and after JPEG no one can tell them apart.
    """
    std = rng.uniform(0.006, 0.018)
    noise = np.frombuffer(rng.bytes(shape[0] * shape[1]), np.uint8).reshape(shape).astype(np.float32)
    return (noise - 127.5) * np.float32(std * np.sqrt(12.0) / 256.0)


def _photograph(lesion: _PreparedLesion, skin_rgb, cfg: SyntheticConfig,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One dermoscopic image of a lesion: RGB uint8 (H, W, 3) and its mask (0/255, H x W).

    Works on one plane per channel (numpy broadcasts (H, W) against (H, W, 3) slowly) and warps
    the lesion into its box only: outside it the skin is left as it is.
    """
    shape = (cfg.height, cfg.width)
    matrix, (x0, y0, x1, y1) = _pose(lesion, cfg, rng)
    matrix[:, 2] -= (x0, y0)
    layers = cv2.warpAffine(lesion.layers, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(1, 1, 1, 0))
    mask = np.zeros(shape, np.uint8)
    mask[y0:y1, x0:x1] = (layers[..., 3] > 0.5).astype(np.uint8) * np.uint8(255)
    tint = np.asarray(skin_rgb) * (1.0 + rng.normal(0.0, 0.01, 3))  # skin colour under this white balance
    planes = [np.full(shape, tint[c], np.float32) for c in range(3)]
    for c, plane in enumerate(planes):
        plane[y0:y1, x0:x1] *= layers[..., c]
    shading, redness = _low_frequency_light(rng, shape)
    planes[0] *= 1.0 + redness
    planes[1] *= 1.0 - redness
    _add_bubbles(planes, rng)
    hairs = _hair_shadow(rng, shape)
    if hairs is not None:
        shading *= 1.0 - hairs
    shading += _grain(rng, shape)
    image = cv2.merge([cv2.convertScaleAbs(plane * shading, alpha=255.0) for plane in planes])
    if rng.random() < 0.3:  # slightly out of focus
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.0))
    return image, mask


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {rgb.shape}")
    return buffer.tobytes()


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """RGB uint8 (H, W, 3) from JPEG bytes."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("could not decode JPEG bytes")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def generate(cfg: SyntheticConfig) -> Iterator[SyntheticImage]:
    """Yields the images lazily, lesion by lesion, in lesion_plan order."""
    for plan in lesion_plan(cfg):
        lesion = _prepare(plan, cfg)
        for k, image_id in enumerate(plan.image_ids()):
            rng = _rng(cfg.seed, _STREAM_IMAGE, plan.index, k)
            rgb, mask = _photograph(lesion, plan.skin_rgb, cfg, rng)
            quality = int(rng.integers(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1))
            yield SyntheticImage(image_id, encode_jpeg(rgb, quality), mask, plan.record(image_id))

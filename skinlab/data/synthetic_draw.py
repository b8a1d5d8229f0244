"""Lesion templates for the synthetic source: one class-specific drawing per lesion.

A template is the lesion as a dermoscope sees it on a reference light skin, in its own square
canvas: a per-pixel transmission (an RGB factor the skin colour is multiplied by) and a soft
coverage. synthetic.py photographs the same template several times with a different pose, zoom
and lighting, so the images of one lesion share their structures as real repeat shots do.

The classes follow the dermoscopic descriptions (nv: symmetric, uniform brown, regular network;
mel: asymmetric, multicoloured, blue-grey veil; ...), but every class sometimes borrows a look
from a neighbour (a dysplastic naevus, a pigmented BCC, a featureless melanoma), so that no
classifier of these images reaches 100%.
"""

import dataclasses

import cv2
import numpy as np

# Colour of the reference light skin the palette below was chosen against (RGB in 0..1).
SKIN_REF = np.array([0.87, 0.70, 0.60], np.float32)

# Dermoscopic colours as they look on SKIN_REF (RGB in 0..1).
PALETTE = {
    "tan": (0.82, 0.63, 0.42),
    "light_brown": (0.70, 0.50, 0.36),
    "brown": (0.53, 0.34, 0.22),
    "dark_brown": (0.34, 0.21, 0.14),
    "black": (0.13, 0.10, 0.10),
    "blue_grey": (0.45, 0.50, 0.60),
    "red": (0.80, 0.28, 0.33),
    "pink": (0.93, 0.60, 0.66),
    "purple": (0.50, 0.22, 0.42),
    "dark_red": (0.50, 0.10, 0.14),
    "white": (0.97, 0.95, 0.93),
}

# Template sizes are tuned for a 192-pixel canvas and scale with it.
REFERENCE_CANVAS = 192
_OUTLINE_SAMPLES = 256


@dataclasses.dataclass(frozen=True)
class LesionTemplate:
    """A drawn lesion, centred in its canvas: transmission (3, S, S), one plane per RGB channel
    (planes keep every per-pixel operation on contiguous memory), and coverage (S, S), float32."""

    transmission: np.ndarray
    coverage: np.ndarray
    extent: float  # distance (template pixels) from the centre to the farthest visible pixel


@dataclasses.dataclass
class _Canvas:
    """Working state of one drawing: the lesion geometry and the transmission painted so far."""

    size: int
    unit: float  # pixels per reference pixel (size / REFERENCE_CANVAS)
    radius: float
    elongation: float
    thetas: np.ndarray
    radii: np.ndarray
    rho: np.ndarray  # distance from the centre relative to the border: 1 on the border
    coverage: np.ndarray
    trans: np.ndarray

    def point(self, rho: float, theta: float) -> tuple[float, float]:
        """Canvas coordinates of a point at relative radius rho and angle theta inside the lesion."""
        r = rho * float(np.interp(theta, self.thetas, self.radii, period=2 * np.pi))
        centre = (self.size - 1) / 2.0
        return centre + r * np.cos(theta) * self.elongation, centre + r * np.sin(theta) / self.elongation


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise, about unit variance, with `cells` bumps across the larger side.

    Bicubic up to a quarter of the size, then bilinear: as smooth to the eye as bicubic all the
    way, at a tenth of the cost.
    """
    h, w = shape
    grid_h = max(2, round(cells * h / max(h, w)))
    grid_w = max(2, round(cells * w / max(h, w)))
    size = (grid_h, grid_w) if channels == 1 else (grid_h, grid_w, channels)
    small = rng.standard_normal(size).astype(np.float32)
    quarter = (max(grid_w, w // 4), max(grid_h, h // 4))
    return cv2.resize(cv2.resize(small, quarter, interpolation=cv2.INTER_CUBIC), (w, h),
                      interpolation=cv2.INTER_LINEAR)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) * (1.0 / (edge1 - edge0)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rgb(rng: np.random.Generator, name: str, jitter: float = 0.05) -> np.ndarray:
    """A palette colour with a little random variation, as no two lesions share an exact shade."""
    base = np.array(PALETTE[name], np.float32)
    scale = 1.0 + rng.normal(0.0, jitter) + rng.normal(0.0, jitter / 2, 3)
    return np.clip(base * scale.astype(np.float32), 0.02, 1.0)


def _between(rng: np.random.Generator, a: str, b: str, jitter: float = 0.05) -> np.ndarray:
    """A random shade between two palette colours."""
    t = rng.uniform(0.0, 1.0)
    return (1.0 - t) * _rgb(rng, a, jitter) + t * _rgb(rng, b, jitter)


def _trans(rgb: np.ndarray) -> np.ndarray:
    return (np.asarray(rgb, np.float32) / SKIN_REF).astype(np.float32)


def _mix(cv: _Canvas, rgb: np.ndarray, weight: np.ndarray) -> None:
    """Paints colour `rgb` over the lesion with a per-pixel weight in 0..1."""
    weight = weight.astype(np.float32, copy=False)
    for plane, target in zip(cv.trans, _trans(rgb)):
        plane += weight * (target - plane)


def _outline(rng, asymmetry: float, irregularity: float) -> tuple[np.ndarray, np.ndarray]:
    """Border radius (relative to 1) against angle: low harmonics make the lesion asymmetric,
    high ones make its border irregular."""
    thetas = np.linspace(-np.pi, np.pi, _OUTLINE_SAMPLES, endpoint=False)
    radii = np.ones_like(thetas)
    for k in range(1, 4):
        radii += asymmetry * rng.normal(0.0, 1.0) / k * np.cos(k * thetas + rng.uniform(0, 2 * np.pi))
    for k in range(4, 16):
        radii += irregularity * rng.normal(0.0, 1.0) / np.sqrt(k) * np.cos(k * thetas + rng.uniform(0, 2 * np.pi))
    return thetas, np.clip(radii, 0.45, 1.6)


def _new_canvas(rng, size: int, radius_frac: float, asymmetry: float, irregularity: float,
                elongation: float, softness: float) -> _Canvas:
    """The lesion geometry: a star-shaped outline, a relative radius map and a soft coverage."""
    thetas, radii = _outline(rng, asymmetry, irregularity)
    # Shrink a lesion whose elongated, soft-edged outline would leave the canvas.
    stretch = np.hypot(np.cos(thetas) * elongation, np.sin(thetas) / elongation)
    reach = float((radii * stretch).max()) * (1.0 + 1.5 * softness)
    radius = min(radius_frac, 0.47 / reach) * size
    radii = radii * radius
    centre = (size - 1) / 2.0
    axis = np.arange(size, dtype=np.float32) - np.float32(centre)
    xs = axis[None, :] * np.float32(1.0 / elongation)
    ys = axis[:, None] * np.float32(elongation)
    # Border radius looked up by angle (nearest of the outline samples: they are dense enough).
    step = _OUTLINE_SAMPLES / (2 * np.pi)
    index = ((np.arctan2(ys, xs) + np.float32(np.pi)) * np.float32(step)).astype(np.int32) % _OUTLINE_SAMPLES
    rho = np.sqrt(xs * xs + ys * ys) / radii.astype(np.float32)[index]
    # Softness varies along the border: real edges are sharp in places and fade in others.
    inverse_soft = np.exp(-0.35 * smooth_noise(rng, (size, size), 4)) * np.float32(1.0 / softness)
    coverage = np.clip((1.0 - rho) * inverse_soft + 0.5, 0.0, 1.0)
    trans = np.ones((3, size, size), np.float32)
    return _Canvas(size, size / REFERENCE_CANVAS, radius, elongation, thetas, radii, rho, coverage, trans)


def _paint_base(cv: _Canvas, rng, centre_rgb, edge_rgb, mottle: float) -> None:
    """Base pigment: a radial blend from centre to edge with low-frequency mottling."""
    t = np.minimum(cv.rho, 1.0)
    shade = 1.0 + mottle * smooth_noise(rng, (cv.size, cv.size), 6) + 0.03 * smooth_noise(rng, (cv.size, cv.size), 24)
    for plane, centre, edge in zip(cv.trans, _trans(centre_rgb), _trans(edge_rgb)):
        plane[...] = (centre + (edge - centre) * t) * shade


def _add_network(cv: _Canvas, rng, rgb, cell: float, jitter: float, strength: float,
                 patchiness: float = 0.0, where: np.ndarray | None = None) -> None:
    """Pigment network: a honeycomb of dark lines (three plane waves) whose cells are distorted
    by `jitter` (regular network ~0.1, atypical ~0.6) and whose lines fade in patches."""
    size = cv.size
    cell = cell * cv.unit
    axis = np.arange(size, dtype=np.float32)
    xs = axis[None, :] + jitter * cell * smooth_noise(rng, (size, size), 12)
    ys = axis[:, None] + jitter * cell * smooth_noise(rng, (size, size), 12)
    k = 4 * np.pi / (np.sqrt(3.0) * cell)
    phase = rng.uniform(0, np.pi / 3)
    waves = np.zeros((size, size), np.float32)
    for i in range(3):
        angle = phase + i * 2 * np.pi / 3
        waves += np.cos(xs * np.float32(k * np.cos(angle)) + ys * np.float32(k * np.sin(angle)))
    width = rng.uniform(-0.4, 0.3)  # line thickness: thin to broad
    lines = _smoothstep(width + 0.6, width - 0.6, waves)
    weight = lines * _smoothstep(1.05, 0.6, cv.rho)  # fading towards the periphery
    weight *= np.float32(strength)
    patchiness = max(patchiness, 0.25)
    weight *= np.clip(1.0 - patchiness + patchiness * smooth_noise(rng, (size, size), 5), 0.0, 1.0)
    if where is not None:
        weight *= where
    _mix(cv, rgb, weight)


def _add_blotches(cv: _Canvas, rng, rgb, count: int, size_range: tuple[float, float], strength: float,
                  rho_range: tuple[float, float] = (0.0, 0.7), blur: float = 0.25) -> None:
    """Structureless areas of one colour (dark blotch, veil, red area, white patch)."""
    layer = np.zeros((cv.size, cv.size), np.float32)
    for _ in range(count):
        x, y = cv.point(rng.uniform(*rho_range), rng.uniform(-np.pi, np.pi))
        axes = (max(1, round(rng.uniform(*size_range) * cv.radius)), max(1, round(rng.uniform(*size_range) * cv.radius)))
        cv2.ellipse(layer, (round(x), round(y)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    layer = cv2.GaussianBlur(layer, (0, 0), max(0.5, blur * cv.radius * np.mean(size_range)))
    _mix(cv, rgb, strength * layer * _smoothstep(1.1, 0.8, cv.rho))


def _add_dots(cv: _Canvas, rng, rgb, count: int, radius_range: tuple[float, float],
              rho_range: tuple[float, float] = (0.0, 0.85), strength: float = 1.0) -> None:
    """Dots and globules (milia-like cysts, black dots, brown globules): small round spots."""
    layer = np.zeros((cv.size, cv.size), np.float32)
    for _ in range(count):
        x, y = cv.point(rng.uniform(*rho_range), rng.uniform(-np.pi, np.pi))
        radius = max(1, round(rng.uniform(*radius_range) * cv.unit))
        cv2.circle(layer, (round(x), round(y)), radius, 1.0, -1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.6 * cv.unit + 0.3)
    _mix(cv, rgb, strength * np.minimum(layer, 1.0))


def _branch_polylines(rng, start, angle: float, length: float, depth: int) -> list[np.ndarray]:
    """A branching tree of wiggly segments, as arborizing vessels grow: thick trunk, thin twigs."""
    segments = []
    stack = [(np.array(start, np.float64), angle, length, depth)]
    while stack:
        point, heading, seg_len, level = stack.pop()
        points = [point.copy()]
        for _ in range(6):
            heading += rng.normal(0.0, 0.35)
            point = point + seg_len / 6 * np.array([np.cos(heading), np.sin(heading)])
            points.append(point.copy())
        segments.append((np.array(points), level))
        if level > 0:
            for side in (-1, 1):
                if rng.random() < 0.8:
                    stack.append((point, heading + side * rng.uniform(0.4, 1.0), seg_len * 0.65, level - 1))
    return segments


def _add_vessels(cv: _Canvas, rng, rgb, trees: int, strength: float) -> None:
    """Arborizing vessels: sharp red branching lines, thinning towards their tips."""
    layer = np.zeros((cv.size, cv.size), np.float32)
    for _ in range(trees):
        start = cv.point(rng.uniform(0.2, 0.8), rng.uniform(-np.pi, np.pi))
        segments = _branch_polylines(rng, start, rng.uniform(-np.pi, np.pi), cv.radius * rng.uniform(0.5, 0.8), 3)
        for points, level in segments:
            thickness = max(1, round((0.8 + 0.6 * level) * cv.unit))
            cv2.polylines(layer, [np.round(points).astype(np.int32)], False, 1.0, thickness, cv2.LINE_AA)
    _mix(cv, rgb, strength * np.minimum(layer, 1.0) * _smoothstep(1.0, 0.85, cv.rho))


def _add_scale(cv: _Canvas, rng, strength: float) -> None:
    """Scaly white surface: patchy white flakes with a fine, rough texture."""
    size = cv.size
    patches = _smoothstep(0.0, 1.2, smooth_noise(rng, (size, size), 7))
    flakes = np.clip(0.5 + 0.6 * smooth_noise(rng, (size, size), 40), 0.0, 1.0)
    _mix(cv, _rgb(rng, "white", 0.03), strength * patches * flakes * _smoothstep(1.0, 0.7, cv.rho))


def _add_lacunae(cv: _Canvas, rng, count: int, colours: list[str]) -> None:
    """Red-to-purple round lacunae packed in the lesion, separated by paler septa."""
    interleaved = cv2.merge(list(cv.trans))
    for _ in range(count):
        x, y = cv.point(np.sqrt(rng.uniform(0.0, 0.75)), rng.uniform(-np.pi, np.pi))
        radius = max(1, round(rng.uniform(0.1, 0.24) * cv.radius))
        colour = _trans(_rgb(rng, colours[rng.integers(len(colours))], 0.06))
        cv2.circle(interleaved, (round(x), round(y)), radius, tuple(float(c) for c in colour), -1, cv2.LINE_AA)
    interleaved = cv2.GaussianBlur(interleaved, (0, 0), 0.5 * cv.unit + 0.2)
    cv.trans = np.ascontiguousarray(interleaved.transpose(2, 0, 1))


def _draw_nv(cv: _Canvas, rng) -> None:
    shade = _between(rng, "brown", "dark_brown") if rng.random() < 0.8 else _between(rng, "light_brown", "brown")
    _paint_base(cv, rng, shade * rng.uniform(0.8, 0.95), shade * rng.uniform(1.0, 1.15), rng.uniform(0.03, 0.07))
    _add_network(cv, rng, _rgb(rng, "dark_brown"), rng.uniform(7, 11), rng.uniform(0.08, 0.25), rng.uniform(0.3, 0.6))
    if rng.random() < 0.3:
        _add_dots(cv, rng, _rgb(rng, "brown"), int(rng.integers(5, 20)), (1.5, 3.5), (0.0, 0.6), 0.7)
    if rng.random() < 0.15:  # dysplastic naevus: an eccentric dark area, as in melanoma
        _add_blotches(cv, rng, _rgb(rng, "dark_brown"), 1, (0.25, 0.45), rng.uniform(0.5, 0.8), (0.2, 0.6))


def _draw_mel(cv: _Canvas, rng) -> None:
    base = _between(rng, "light_brown", "dark_brown")
    _paint_base(cv, rng, base * rng.uniform(0.7, 1.2), base * rng.uniform(0.8, 1.3), rng.uniform(0.08, 0.18))
    if rng.random() < 0.7:  # atypical network: distorted, thick, fading in patches
        _add_network(cv, rng, _rgb(rng, "dark_brown"), rng.uniform(7, 14), rng.uniform(0.4, 0.9),
                     rng.uniform(0.35, 0.7), patchiness=0.6)
    for _ in range(int(rng.integers(1, 4))):
        colour = "black" if rng.random() < 0.4 else "dark_brown"
        _add_blotches(cv, rng, _rgb(rng, colour), 1, (0.15, 0.4), rng.uniform(0.5, 0.9), (0.2, 0.8))
    if rng.random() < 0.7:  # blue-grey veil
        _add_blotches(cv, rng, _rgb(rng, "blue_grey"), 1, (0.3, 0.6), rng.uniform(0.4, 0.8), (0.0, 0.5), 0.4)
    if rng.random() < 0.35:
        _add_blotches(cv, rng, _rgb(rng, "red"), 1, (0.15, 0.35), rng.uniform(0.3, 0.6), (0.3, 0.8))
    if rng.random() < 0.25:  # regression: whitish scar-like area
        _add_blotches(cv, rng, _rgb(rng, "white"), 1, (0.12, 0.3), rng.uniform(0.3, 0.6), (0.2, 0.7))
    if rng.random() < 0.5:  # irregular dots and globules at the periphery
        _add_dots(cv, rng, _rgb(rng, "black"), int(rng.integers(4, 15)), (1.0, 3.5), (0.6, 1.0), 0.8)


def _draw_bkl(cv: _Canvas, rng) -> None:
    shade = _between(rng, "tan", "light_brown") if rng.random() < 0.85 else _between(rng, "light_brown", "brown")
    _paint_base(cv, rng, shade, shade * rng.uniform(0.9, 1.05), rng.uniform(0.05, 0.12))
    if rng.random() < 0.5:  # waxy sheen
        _add_blotches(cv, rng, _rgb(rng, "tan") * 1.1, int(rng.integers(1, 4)), (0.1, 0.3), rng.uniform(0.2, 0.4))
    _add_dots(cv, rng, _rgb(rng, "white"), int(rng.integers(5, 20)), (1.5, 3.5), (0.0, 0.85), rng.uniform(0.7, 0.95))
    if rng.random() < 0.4:  # comedo-like openings
        _add_dots(cv, rng, _rgb(rng, "dark_brown"), int(rng.integers(3, 10)), (1.0, 2.5), (0.0, 0.85), 0.7)
    if rng.random() < 0.2:  # a faint network, as in solar lentigo
        _add_network(cv, rng, _rgb(rng, "brown"), rng.uniform(8, 12), 0.3, rng.uniform(0.2, 0.4))


def _draw_bcc(cv: _Canvas, rng) -> None:
    if rng.random() < 0.8:
        base = _between(rng, "pink", "white", 0.04) * rng.uniform(0.85, 1.0)
    else:  # pigmented BCC
        base = _between(rng, "light_brown", "blue_grey")
    _paint_base(cv, rng, base, base * rng.uniform(1.0, 1.08), rng.uniform(0.04, 0.1))
    if rng.random() < 0.75:  # blue-grey ovoid nests
        _add_blotches(cv, rng, _rgb(rng, "blue_grey") * rng.uniform(0.7, 1.0), int(rng.integers(1, 6)),
                      (0.08, 0.2), rng.uniform(0.5, 0.9), (0.1, 0.8), 0.15)
    _add_vessels(cv, rng, _between(rng, "red", "dark_red"), int(rng.integers(1, 4)), rng.uniform(0.6, 0.95))
    if rng.random() < 0.2:  # ulceration
        _add_blotches(cv, rng, _between(rng, "dark_red", "dark_brown"), 1, (0.1, 0.25), rng.uniform(0.6, 0.9))


def _draw_akiec(cv: _Canvas, rng) -> None:
    if rng.random() < 0.8:
        base = _between(rng, "pink", "red") * np.array([1.0, 0.9, 0.9], np.float32)
    else:  # pigmented actinic keratosis
        base = _between(rng, "tan", "light_brown")
    _paint_base(cv, rng, base, base * rng.uniform(1.0, 1.1), rng.uniform(0.06, 0.14))
    _add_scale(cv, rng, rng.uniform(0.3, 0.8))
    if rng.random() < 0.5:  # dotted and glomerular vessels
        _add_dots(cv, rng, _rgb(rng, "red") * 0.8, int(rng.integers(8, 30)), (0.8, 1.8), (0.0, 0.9), 0.7)
    if rng.random() < 0.3:  # follicular openings in a red pseudonetwork
        _add_dots(cv, rng, _rgb(rng, "white"), int(rng.integers(5, 15)), (1.0, 2.0), (0.0, 0.8), 0.6)


def _draw_df(cv: _Canvas, rng) -> None:
    edge = _between(rng, "pink", "light_brown") if rng.random() < 0.7 else _between(rng, "light_brown", "brown")
    _paint_base(cv, rng, edge * 1.1, edge, rng.uniform(0.04, 0.1))
    periphery = _smoothstep(0.3, 0.6, cv.rho)
    _add_network(cv, rng, _rgb(rng, "brown"), rng.uniform(4, 6.5), rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.6),
                 where=periphery)
    _add_blotches(cv, rng, _rgb(rng, "white"), 1, (0.35, 0.6), rng.uniform(0.6, 0.9), (0.0, 0.15), 0.35)


def _draw_vasc(cv: _Canvas, rng) -> None:
    base = _between(rng, "pink", "red")
    _paint_base(cv, rng, base, base * 1.05, rng.uniform(0.03, 0.08))
    colours = ["red", "dark_red", "purple"] if rng.random() < 0.75 else ["dark_red", "purple", "black"]
    _add_lacunae(cv, rng, int(rng.integers(8, 30)), colours)


_DRAWERS = {"akiec": _draw_akiec, "bcc": _draw_bcc, "bkl": _draw_bkl, "df": _draw_df,
            "mel": _draw_mel, "nv": _draw_nv, "vasc": _draw_vasc}

# Shape per class: radius (fraction of the canvas), asymmetry, border irregularity, elongation
# and edge softness (fraction of the radius), each a (low, high) range drawn uniformly.
_SHAPES = {
    "akiec": ((0.28, 0.40), (0.04, 0.14), (0.02, 0.06), (1.0, 1.35), (0.15, 0.3)),
    "bcc": ((0.26, 0.38), (0.04, 0.14), (0.02, 0.05), (1.0, 1.3), (0.08, 0.2)),
    "bkl": ((0.28, 0.40), (0.04, 0.12), (0.01, 0.04), (1.0, 1.4), (0.02, 0.06)),
    "df": ((0.18, 0.28), (0.01, 0.05), (0.01, 0.03), (1.0, 1.2), (0.2, 0.35)),
    "mel": ((0.30, 0.42), (0.08, 0.22), (0.03, 0.09), (1.0, 1.5), (0.04, 0.2)),
    "nv": ((0.24, 0.38), (0.02, 0.08), (0.005, 0.025), (1.0, 1.25), (0.06, 0.15)),
    "vasc": ((0.20, 0.32), (0.02, 0.08), (0.01, 0.03), (1.0, 1.2), (0.04, 0.1)),
}


# Share of lesions drawn entirely in the style of a look-alike class, as the lesions that only
# histopathology tells apart (a naevus-like melanoma, a lentigo-like BCC): an accuracy ceiling.
MIMIC_RATE = 0.08
LOOKALIKES = {
    "akiec": ("bcc", "bkl"), "bcc": ("akiec", "mel"), "bkl": ("nv", "mel", "akiec"), "df": ("nv", "bkl"),
    "mel": ("nv", "bkl"), "nv": ("mel", "bkl", "df"), "vasc": ("mel", "bcc"),
}


def draw_lesion(dx: str, rng: np.random.Generator, size: int) -> LesionTemplate:
    """Draws one lesion of class `dx` in a size x size canvas."""
    if dx not in _DRAWERS:
        raise ValueError(f"unknown diagnosis {dx!r}; expected one of {sorted(_DRAWERS)}")
    look = dx
    if rng.random() < MIMIC_RATE:
        look = LOOKALIKES[dx][int(rng.integers(len(LOOKALIKES[dx])))]
    radius, asymmetry, irregularity, elongation, softness = (rng.uniform(*r) for r in _SHAPES[look])
    cv = _new_canvas(rng, size, radius, asymmetry, irregularity, elongation, softness)
    _DRAWERS[look](cv, rng)
    trans = np.clip(cv.trans, 0.05, 1.6).astype(np.float32)
    ys, xs = np.nonzero(cv.coverage > 0.002)  # photographs leave the skin as it is beyond this
    centre = (size - 1) / 2.0
    extent = float(np.sqrt(((xs - centre) ** 2 + (ys - centre) ** 2).max())) if xs.size else 1.0
    return LesionTemplate(trans, cv.coverage.astype(np.float32), extent)

"""Throughput of skinlab.data.augment and the preprocessing functions, on synthetic images.

Run from the repository root:  python -m bench.bench_augment  [--sizes 64 256] [--seconds 1]
Figures depend on the machine and on OpenCV's thread count (set with --threads).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cv2
import numpy as np

from skinlab.data.augment import AugmentConfig, augment
from skinlab.data.preprocess import remove_hair, resize_square, shades_of_gray


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per figure")
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads")
    return parser.parse_args(argv)


def synthetic_lesion(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    image = np.empty((size, size, 3), np.uint8)
    image[...] = (205, 160, 140)
    noise = cv2.GaussianBlur(rng.normal(0, 6, image.shape).astype(np.float32), (0, 0), 1.0)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    centre, radius = (size // 2, size // 2), size // 4
    cv2.circle(image, centre, radius, (110, 70, 55), thickness=-1)
    cv2.circle(mask, centre, radius, 255, thickness=-1)
    cv2.line(image, (0, size // 3), (size - 1, size // 2), (40, 30, 25), max(1, size // 128))
    return image, mask


def rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second, after one warm-up call, over at least `seconds` and 5 calls."""
    call()
    count, start = 0, time.perf_counter()
    while True:
        call()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= 5:
            return count / elapsed


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cv2.setNumThreads(args.threads)
    rng = np.random.default_rng(0)
    cfg = AugmentConfig()
    print(f"opencv {cv2.__version__}, {args.threads} OpenCV thread(s), default AugmentConfig")
    print(f"{'size':>5}  {'operation':<26} {'per second':>11}")
    for size in args.sizes:
        image, mask = synthetic_lesion(size, rng)
        big = cv2.resize(image, (size * 3 // 2, size), interpolation=cv2.INTER_LINEAR)
        figures = {
            "augment (image + mask)": lambda: augment(image, mask, cfg, rng),
            "augment (image only)": lambda: augment(image, None, cfg, rng),
            "remove_hair": lambda: remove_hair(image),
            "shades_of_gray": lambda: shades_of_gray(image),
            "resize_square (from 1.5x)": lambda: resize_square(big, size),
        }
        for name, call in figures.items():
            print(f"{size:>5}  {name:<26} {rate(call, args.seconds):>11,.0f}")


if __name__ == "__main__":
    main()

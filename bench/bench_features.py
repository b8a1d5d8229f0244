"""Throughput of each feature set on random-ish lesion-like images; prints figures, asserts nothing.

Run from the repository root:  python -m bench.bench_features [--n 300] [--size 64]
"""

import argparse
import os
import time

import cv2
import numpy as np

from skinlab.features import FEATURE_SETS, FeatureExtractor


def lesion_like(rng: np.random.Generator, size: int) -> np.ndarray:
    """Skin-toned background, a darker blotch and smoothed noise: texture for every extractor."""
    image = np.empty((size, size, 3), np.float32)
    image[:] = rng.uniform([170, 120, 100], [230, 180, 150])
    y, x = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.3, 0.7, 2) * size
    r = rng.uniform(0.15, 0.35) * size
    blotch = ((y - cy) ** 2 + (x - cx) ** 2) < r**2
    image[blotch] *= rng.uniform(0.35, 0.7)
    noise = cv2.GaussianBlur(rng.normal(0, 25, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="images to transform per feature set")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--fit-n", type=int, default=200, help="images used to fit the sift_bow vocabulary")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    images = [lesion_like(rng, args.size) for _ in range(args.n)]
    load = os.getloadavg()[0]
    print(f"{args.n} images of {args.size}x{args.size}, opencv {cv2.__version__}, 1 process, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{'feature set':<14}{'dim':>6}{'images/s':>12}{'fit s':>8}")
    for name in FEATURE_SETS:
        extractor = FeatureExtractor(name)
        start = time.perf_counter()
        extractor.fit(images[: args.fit_n])
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        matrix = extractor.transform(images)
        rate = len(images) / (time.perf_counter() - start)
        assert matrix.shape == (args.n, extractor.dim)
        fit = f"{fit_s:8.2f}" if extractor.needs_fit else f"{'-':>8}"
        print(f"{name:<14}{extractor.dim:>6}{rate:>12.0f}{fit}")


if __name__ == "__main__":
    main()

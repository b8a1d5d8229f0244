"""Speed of the synthetic source: images per second at 256x192 on one OpenCV thread.

Usage: python -m bench.bench_synthetic [N] [--threads T] [--width W --height H]
"""

import argparse
import time

import cv2

from skinlab.data.synthetic import SyntheticConfig, generate


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_images", nargs="?", type=int, default=500, help="images to generate (default 500)")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1: one core)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.n_images < 1:
        raise SystemExit(f"n_images must be >= 1 (got {args.n_images})")
    cv2.setNumThreads(args.threads)
    # Enough lesions for N images whatever the number of images per lesion.
    cfg = SyntheticConfig(n_lesions=max(args.n_images, 7 * 12), width=args.width, height=args.height,
                          seed=args.seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    count = 0
    n_bytes = 0
    for image in generate(cfg):
        count += 1
        n_bytes += len(image.jpeg)
        if count == args.n_images:
            break
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    # Wall time counts waiting for a busy machine; CPU time is what one idle core would take.
    print(f"synthetic: {count} images at {cfg.width}x{cfg.height} in {elapsed:.2f} s wall, {cpu:.2f} s CPU "
          f"= {count / elapsed:.0f} images/s wall, {count / cpu:.0f} images/s per CPU second "
          f"({args.threads} OpenCV thread(s), mean JPEG {n_bytes / count / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()

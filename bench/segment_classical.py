"""Dice, Jaccard and ISIC thresholded Jaccard of each classical segmentation method on real
images with masks; prints figures, asserts nothing.

Run from the repository root:
    python -m bench.segment_classical [--data ../shared/data/ham10000-masks155] [--limit N]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from skinlab import io, segmentation
from skinlab.evaluation import segmentation as metrics

DEFAULT_DATA = Path("../shared/data/ham10000-masks155")


def pairs(root: Path, limit: int | None, every: int = 1, skip_every: int = 0) -> list[tuple[str, str, Path, Path]]:
    """(image_id, lesion_id, image path, mask path) of every image that has a mask."""
    table = pd.read_csv(root / "metadata.csv")
    found = []
    for row in table.itertuples():
        mask = root / "masks" / f"{row.image_id}_segmentation.png"
        images = [root / "images" / f"{row.image_id}{ext}" for ext in (".jpg", ".png", ".bmp")]
        image = next((p for p in images if p.is_file()), None)
        if image is not None and mask.is_file():
            found.append((row.image_id, getattr(row, "lesion_id", row.image_id), image, mask))
    if skip_every:
        found = [item for i, item in enumerate(found) if i % skip_every]
    found = found[::every]
    return found[:limit] if limit else found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with metadata.csv, images/, masks/")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--every", type=int, default=1, help="use every N-th image (a subset for tuning)")
    parser.add_argument("--skip-every", type=int, default=0,
                        help="leave out every N-th image (the defaults were tuned on --every 5: use 5 for the rest)")
    parser.add_argument("--methods", nargs="+", default=list(segmentation.METHODS), choices=segmentation.METHODS)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    if not (args.data / "metadata.csv").is_file():
        sys.exit(f"{args.data}: no metadata.csv there; point --data at a folder with metadata.csv, "
                 "images/ and masks/ (e.g. ham10000-masks155 from the shared data)")
    items = pairs(args.data, args.limit, args.every, args.skip_every)
    if not items:
        sys.exit(f"{args.data}: no image has a mask in masks/<image_id>_segmentation.png")
    loaded = [(io.read_image(image), io.read_mask(mask)) for _, _, image, mask in items]
    lesions = [lesion for _, lesion, _, _ in items]
    print(f"{len(items)} images ({len(set(lesions))} lesions) from {args.data}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'method':<9}{'dice':>22}{'jaccard':>22}{'thr. jaccard':>22}{'s/image':>9}")
    for name in args.methods:
        start = time.perf_counter()
        rows = [metrics.scores(truth, segmentation.segment(image, name)) for image, truth in loaded]
        seconds = (time.perf_counter() - start) / len(loaded)
        result = metrics.summary(rows, lesions, seed=0, n_boot=args.n_boot)
        cells = "".join(_cell(result[m]) for m in ("dice", "jaccard", "thresholded_jaccard"))
        print(f"{name:<9}{cells}{seconds:>9.3f}")


def _cell(entry: dict) -> str:
    low, high = entry["ci95"]
    return f"{entry['mean']:>8.3f} [{low:.3f}, {high:.3f}]"


if __name__ == "__main__":
    main()

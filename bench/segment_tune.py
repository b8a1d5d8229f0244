"""Choose the classical methods' thresholds (segment.otsu_channel, otsu_shift, kmeans_k,
kmeans_lesion_clusters) on the train and val images of a split, never test: prints the mean Dice
of each setting and the best one, to copy into params.yaml. Asserts nothing.

Run from the repository root, after download and split (or `dvc repro split`):
    python -m bench.segment_tune [--raw data/raw] [--split data/split] [--work-size 256]
"""

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from skinlab import segment_report, segmentation
from skinlab.data import dataset
from skinlab.data.schema import SPLITS
from skinlab.evaluation.segmentation import dice

TUNED_ON = ("train", "val")
SHIFTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
CHANNELS = ("blue", "grey", "auto")
KMEANS = ((2, 1), (3, 1), (3, 2), (4, 2), (4, 3))


def settings():
    for channel, shift in itertools.product(CHANNELS, SHIFTS):
        yield "otsu", f"otsu_channel {channel}, otsu_shift {shift}", {"channel": channel, "threshold_shift": shift}
    for k, lesion in KMEANS:
        yield "kmeans", f"kmeans_k {k}, kmeans_lesion_clusters {lesion}", {"k": k, "lesion_clusters": lesion}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=Path("data/raw"))
    parser.add_argument("--split", type=Path, default=Path("data/split"))
    parser.add_argument("--work-size", type=int, default=256, help="segment.work_size to tune at")
    args = parser.parse_args(argv)
    found = segment_report.items(args.raw, {split: dataset.read_index(args.split, split) for split in SPLITS})
    chosen = [item for item in found if item.split in TUNED_ON and item.mask is not None]
    if not chosen:
        sys.exit(f"{args.split}: no train or val image has a ground-truth mask: nothing to tune on")
    print(f"{len(chosen)} train+val images with masks (test left out), work_size {args.work_size}")
    best: dict[str, tuple[float, str]] = {}
    for method, label, options in settings():
        fn = getattr(segmentation, method)
        scores = []
        for item in chosen:  # one image at a time: memory does not grow with the data
            image, truth = segment_report.read_pair(item)
            scores.append(dice(truth, fn(image, work_size=args.work_size, **options)))
        mean = float(np.mean(scores))
        print(f"{method:<7} {label:<45} mean Dice {mean:.4f}")
        if mean > best.get(method, (-1.0, ""))[0]:
            best[method] = (mean, label)
    for method, (mean, label) in best.items():
        print(f"best {method}: {label} (train+val mean Dice {mean:.4f})")


if __name__ == "__main__":
    main()

"""Choose segment.unet.tta, clean and threshold on val: scores one trained U-Net
(models/segment/unet.keras, or the --model of a segment run) with each combination on the val
and test images that have masks, at the threshold of params.yaml or at each of --thresholds.
Asserts nothing; the choice is the best val row (test is printed to see whether val's verdict
holds, never to choose).

Run from the repository root, after the segment stage:
    python -m bench.segment_unet_options [--model models/segment/unet.keras] [--params params.yaml]
                                         [--raw data/raw] [--split data/split]
                                         [--thresholds 0.4 0.5 0.6]
"""

import argparse
import itertools
from pathlib import Path

import numpy as np

from skinlab import params, segment_report, unet_train
from skinlab.data import dataset
from skinlab.data.schema import SPLITS
from skinlab.evaluation import segmentation as seg_metrics

SCORED = ("val", "test")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/segment/unet.keras"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--raw", type=Path, default=Path("data/raw"))
    parser.add_argument("--split", type=Path, default=Path("data/split"))
    parser.add_argument("--thresholds", type=float, nargs="+", default=None,
                        help="probabilities to threshold at (default: segment.unet.threshold of --params)")
    args = parser.parse_args(argv)
    thresholds = args.thresholds or [params.load(args.params).segment.unet.threshold]
    found = segment_report.items(args.raw, {split: dataset.read_index(args.split, split) for split in SPLITS})
    options = list(itertools.product(thresholds, unet_train.TTA_MODES, (False, True)))
    base = unet_train.load(args.model)
    segmenters = {option: unet_train.Segmenter(base.model, *option) for option in options}
    scores = {(split, option): [] for split in SCORED for option in options}
    for item in found:
        if item.split in SCORED and item.mask is not None:
            rgb, truth = segment_report.read_pair(item)
            for option, segment in segmenters.items():
                row = seg_metrics.scores(truth, segment(rgb))
                scores[item.split, option].append((row["dice"], row["thresholded_jaccard"]))
    if not scores["val", options[0]]:
        raise SystemExit(f"segment_unet_options: no val image of {args.split} has a ground-truth mask: "
                         f"nothing to choose on (the U-Net needs masks; see the data README)")
    print(f"{args.model}: mean Dice / thresholded Jaccard")
    print(f"{'thresh.':8s} {'tta':6s} {'clean':6s} " + " ".join(f"{split + ' (n=' + str(len(scores[split, options[0]])) + ')':>20s}"
                                            for split in SCORED))
    for option in options:
        cells = [f"{np.mean(scores[s, option], axis=0)[0]:.4f} / {np.mean(scores[s, option], axis=0)[1]:.4f}"
                 if scores[s, option] else "n/a" for s in SCORED]
        print(f"{option[0]:<8g} {option[1]:6s} {str(option[2]).lower():6s} " + " ".join(f"{c:>20s}" for c in cells))
    best = max(options, key=lambda option: np.mean(scores["val", option], axis=0)[0])  # the first on a tie
    print(f"best on val Dice: threshold {best[0]:g}, tta {best[1]}, clean {str(best[2]).lower()}")


if __name__ == "__main__":
    main()

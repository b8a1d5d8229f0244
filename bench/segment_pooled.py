"""The U-Net against Otsu on every image with a mask, not only the 39 of test.

Test alone (39 images) cannot tell the two apart. The train images can join it when each is
segmented by a U-Net that did not train on it: the out-of-fold probability maps of
bench.segment_threshold_cv --save-probs (val and test by the U-Net fitted on all of train).
Each map is thresholded at the params' segment.unet.threshold and cleaned up as the stage does;
Otsu runs with the params' settings. Per split and pooled: mean Dice and thresholded Jaccard of
both, the mean paired difference (U-Net minus Otsu) with a lesion-bootstrap 95% interval, and how
many images each wins. Caveats: the fold U-Nets learnt from 74 or 75 images, not 93; Otsu's channel
and shift and the U-Net's threshold were chosen on train+val, and val stopped every U-Net's training,
so both are a little optimistic there. The maps carry the tta of the run that saved them (float16,
so scores agree with the stage's to about 1e-4, not to the last digit).

Asserts nothing. Run from the repository root, after bench.segment_threshold_cv --save-probs:
    python -m bench.segment_pooled --params results/ham10000-masks155-pretrain-t06/params.yaml \
        --raw /tmp/hm/raw --split /tmp/hm/split --probs /tmp/thr2/probs --out /tmp/pooled
It writes <out>/scores.csv (per image) and prints the table.
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench import segment_maps
from skinlab import params, segment_methods
from skinlab.data.schema import SPLITS
from skinlab.evaluation import segmentation as seg_metrics

METRICS = ("dice", "thresholded_jaccard")


def paired_interval(frame: pd.DataFrame, column: str, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Mean of `column` (a per-image difference) and its 95% interval, lesions resampled with replacement."""
    by_lesion = frame.groupby("lesion_id")[column].agg(["sum", "count"])
    sums, counts = by_lesion["sum"].to_numpy(), by_lesion["count"].to_numpy()
    draws = np.random.default_rng(seed).integers(0, len(sums), size=(n_boot, len(sums)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(sums.sum() / counts.sum()), float(low), float(high)


def table(frame: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    groups = [(split, frame[frame.split == split]) for split in SPLITS] + [("all", frame)]
    rows = []
    for name, part in groups:
        row = {"split": name, "images": len(part)}
        for metric in METRICS:
            diff = part.assign(diff=part[f"unet_{metric}"] - part[f"otsu_{metric}"])
            mean, low, high = paired_interval(diff, "diff", n_boot, seed)
            row.update({f"unet {metric}": part[f"unet_{metric}"].mean(), f"otsu {metric}": part[f"otsu_{metric}"].mean(),
                        f"{metric} diff (95% CI)": f"{mean:+.4f} ({low:+.4f} to {high:+.4f})"})
        row["U-Net better / worse (Dice)"] = f"{(part.unet_dice > part.otsu_dice).sum()} / {(part.unet_dice < part.otsu_dice).sum()}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("split").round(4)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--probs", required=True, type=Path, help="folder of <image_id>.npy probability maps")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args(argv)
    cfg = params.load(args.params)
    ucfg = cfg.segment.unet
    otsu = segment_methods.build("otsu", cfg.segment, cfg.base.seed)
    rows = []
    for item, rgb, truth, prob in segment_maps.saved(args.raw, args.split, args.probs, "segment_pooled"):
        unet = segment_maps.mask(prob, rgb.shape[0], rgb.shape[1], ucfg.threshold, ucfg.clean)
        row = {"image_id": item.image_id, "lesion_id": item.lesion_id, "split": item.split}
        for name, mask in (("unet", unet), ("otsu", otsu(rgb))):
            scores = seg_metrics.scores(truth, mask)
            row.update({f"{name}_{metric}": scores[metric] for metric in METRICS})
        rows.append(row)
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "scores.csv", index=False)
    print(f"U-Net (threshold {ucfg.threshold:g}, clean {ucfg.clean}, the saved maps' tta; train images out of fold) "
          f"against Otsu ({cfg.segment.otsu_channel}, shift {cfg.segment.otsu_shift:g}, work size {cfg.segment.work_size})")
    print(table(frame, args.n_boot, cfg.base.seed).T.to_string())


if __name__ == "__main__":
    main()

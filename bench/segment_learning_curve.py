"""How much would more masks help the U-Net? A learning curve out of fold, without test.

The U-Net's fine-tuning learns from the 93 train masks of ham10000-masks155; the HAM10000
release has masks for all 10,015 images (`download.source: ham10000`, online only). This
measures the slope: the train images are dealt by lesion into --folds folds (as
bench.segment_threshold_cv does); for each fold and each --fractions share, a U-Net is
fine-tuned as the stage does (from --pretrained, early stopping on val) on that share of the
other folds' lesions (a seeded order, so the shares are nested), and segments the held-out fold
(the params' threshold, tta and clean-up). Share 0 is the pre-trained network without
fine-tuning. Per share: masks used, mean Dice and thresholded Jaccard over the 93 out-of-fold
images, and the paired difference from the largest share with a lesion-bootstrap 95% interval.
Test is not read. Asserts nothing. Run from the repository root:
    python -m bench.segment_learning_curve --params results/ham10000-masks155-pretrain-t06/params.yaml \
        --raw /tmp/hm/raw --split /tmp/hm/split --pretrained /tmp/pre4/pretrained.weights.h5 --out /tmp/curve
It writes <out>/scores.csv (per image and share) and <out>/summary.json.
"""
import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.segment_pooled import paired_interval
from bench.segment_pretrain import load_pretrained
from bench.segment_threshold_cv import folds, score
from skinlab import params, segment_methods, segment_report, unet_train
from skinlab.data import dataset
from skinlab.data.schema import SPLITS

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
log = logging.getLogger("segment_learning_curve")


def share_of(items: list, fraction: float, seed: int) -> list:
    """The items of the first ceil(fraction x lesions) lesions in a seeded order: nested across fractions."""
    lesions = sorted({item.lesion_id for item in items})
    order = [lesions[j] for j in np.random.default_rng(seed).permutation(len(lesions))]
    kept = set(order[:math.ceil(fraction * len(lesions))])
    return [item for item in items if item.lesion_id in kept]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--pretrained", required=True, type=Path, help="weights file of the pre-trained U-Net")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    args = ap.parse_args(argv)
    if any(not 0.0 <= f <= 1.0 for f in args.fractions):
        raise SystemExit(f"segment_learning_curve: --fractions must lie in 0..1 (got {args.fractions})")
    cfg = params.load(args.params)
    seed, ucfg = cfg.base.seed, cfg.segment.unet
    found = segment_report.items(args.raw, {split: dataset.read_index(args.split, split) for split in SPLITS})
    train = [i for i in found if i.split == "train" and i.mask is not None]
    try:
        fold_of = folds(train, args.folds, seed)
    except ValueError as error:
        raise SystemExit(f"segment_learning_curve: {error} in {args.split}") from None
    pretrained = load_pretrained(ucfg, args.pretrained)
    start = pretrained.get_weights()
    val = segment_methods.pairs(found, "val")
    rows, fits = [], []
    for k in range(args.folds):
        held = [i for i in train if fold_of[i.image_id] == k]
        rest = [i for i in train if fold_of[i.image_id] != k]
        for fraction in sorted(set(args.fractions)):
            if fraction == 0.0:
                model, fit = pretrained, {"masks": 0, "best_epoch": 0, "seconds": 0.0}
            else:
                used = share_of(rest, fraction, seed)
                result = unet_train.fit_members(ucfg, ([str(i.image) for i in used], [str(i.mask) for i in used]),
                                                val, seed, initial_weights=start)
                model = result.model
                fit = {"masks": len(used), "best_epoch": result.best_epoch, "seconds": result.seconds}
            fits.append({"fold": k, "fraction": fraction, **fit})
            log.info("fold %d, share %g: %s", k, fraction, fit)
            rows += [dict(row, fraction=fraction) for row in score(model, held, [ucfg.threshold], ucfg, f"fold{k}")]
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "scores.csv", index=False)
    fit_frame = pd.DataFrame(fits)
    top = max(args.fractions)
    best = frame[frame.fraction == top].set_index("image_id")
    lines = []
    for fraction, part in frame.groupby("fraction"):
        part = part.reset_index(drop=True)
        part["diff"] = part.dice.to_numpy() - best.loc[part.image_id, "dice"].to_numpy()
        mean, low, high = paired_interval(part, "diff", 2000, seed)
        masks = fit_frame[fit_frame.fraction == fraction].masks.mean()
        lines.append({"share": fraction, "masks (mean)": masks, "Dice": part.dice.mean(),
                      "thr. Jaccard": part.thresholded_jaccard.mean(),
                      f"Dice minus share {top:g} (95% CI)": f"{mean:+.4f} ({low:+.4f} to {high:+.4f})"})
    text = pd.DataFrame(lines).set_index("share").round(4).to_string()
    print(f"{len(best)} out-of-fold train images, threshold {ucfg.threshold:g}, tta {ucfg.tta}, clean {ucfg.clean}")
    print(text)
    (args.out / "summary.json").write_text(json.dumps({"fits": fits, "table": text}, indent=1, default=float))


if __name__ == "__main__":
    main()

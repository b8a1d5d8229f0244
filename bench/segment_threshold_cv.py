"""Choose segment.unet.threshold without test: out-of-fold predictions of the train images.

Val alone cannot choose the U-Net's threshold on ham10000-masks155 (23 images, flat from 0.3 to
0.6: results/ham10000-masks155-pretrain/unet_options.txt), and test has been looked at, so this
rule was fixed, and committed, before it was run:

1. The train images with a mask are dealt into --folds folds by lesion (a lesion's images stay
   together), the lesions in a seeded shuffle (base.seed), lesion k to fold k mod --folds.
2. For each fold, a U-Net is fitted as the stage fits it (segment.unet of --params, seed
   base.seed, early stopping on val), from the weights of --pretrained when given, on the other
   folds; it predicts the held-out fold. The val images are predicted by the U-Net fitted on all
   of train (the stage's network: same params, seed and start).
3. Every threshold of --thresholds is scored with the params' tta and clean-up: mean Dice over the
   pooled out-of-fold train and val images. The chosen threshold has the highest mean; means equal
   to 4 decimals go to the threshold nearest the params' one.
4. Test is segmented by the full U-Net at every threshold and printed beside, never used.

Asserts nothing. Run from the repository root (data and pre-trained weights as in the README's
ham10000-masks155 section; the weights from bench.segment_pretrain --out /tmp/pre4):
    python -m bench.segment_threshold_cv --params results/ham10000-masks155-pretrain/params.yaml \
        --raw /tmp/hm/raw --split /tmp/hm/split --pretrained /tmp/pre4/pretrained.weights.h5 --out /tmp/thr
It writes <out>/scores.csv (per image, threshold and source: fold k or full), <out>/summary.json
and <out>/unet.keras (the U-Net fitted on all of train); with --save-probs also <out>/probs/<image_id>.npy,
each image's probability map (out of fold for train, the full U-Net's for val and test; float16).
"""
import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from bench import segment_maps
from bench.segment_pretrain import load_pretrained
from skinlab import params, segment_methods, segment_report, unet_train
from skinlab.data import dataset
from skinlab.data.schema import SPLITS
from skinlab.evaluation import segmentation as seg_metrics

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
log = logging.getLogger("segment_threshold_cv")


def folds(items: list, k: int, seed: int) -> dict[str, int]:
    """image_id -> fold (0..k-1): lesions in a seeded shuffle, lesion i to fold i mod k."""
    lesions = sorted({item.lesion_id for item in items})
    if not 2 <= k <= len(lesions):
        raise ValueError(f"--folds {k}: need 2 to {len(lesions)} (the lesions of the train images with a mask)")
    order = np.random.default_rng(seed).permutation(len(lesions))
    fold_of = {lesions[j]: i % k for i, j in enumerate(order)}
    return {item.image_id: fold_of[item.lesion_id] for item in items}


def choose(means: dict[float, float], default: float) -> float:
    """The threshold of the highest mean (rounded to 4 decimals); ties to the one nearest `default`."""
    best = max(round(value, 4) for value in means.values())
    return min((t for t, value in means.items() if round(value, 4) == best), key=lambda t: (abs(t - default), t))


def score(model, items: list, thresholds: list[float], ucfg, source: str, probs: Path | None = None) -> list[dict]:
    """Dice and thresholded Jaccard of each item at each threshold (the params' tta and clean-up);
    with `probs`, each item's probability map (network size, float16) is saved there as <image_id>.npy.
    One forward pass an image: every threshold is applied to the same map, as the Segmenter would."""
    segmenter = unet_train.Segmenter(model, ucfg.threshold, ucfg.tta, ucfg.clean)
    rows = []
    for item in items:
        rgb, truth = segment_report.read_pair(item)
        prob = segmenter.probability(rgb)
        if probs is not None:
            probs.mkdir(parents=True, exist_ok=True)
            np.save(probs / f"{item.image_id}.npy", prob.astype(np.float16))
        for t in thresholds:
            row = seg_metrics.scores(truth, segment_maps.mask(prob, rgb.shape[0], rgb.shape[1], t, ucfg.clean))
            rows.append({"image_id": item.image_id, "lesion_id": item.lesion_id, "split": item.split, "source": source,
                         "threshold": t, "dice": row["dice"], "thresholded_jaccard": row["thresholded_jaccard"]})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--pretrained", type=Path, default=None, help="weights file of the pre-trained U-Net")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    ap.add_argument("--save-probs", action="store_true",
                    help="also save every image's probability map (out of fold for train) in <out>/probs/, "
                         "for bench.segment_refine")
    args = ap.parse_args(argv)
    cfg = params.load(args.params)
    seed, ucfg = cfg.base.seed, cfg.segment.unet
    found = segment_report.items(args.raw, {split: dataset.read_index(args.split, split) for split in SPLITS})
    by_split = {split: [i for i in found if i.split == split and i.mask is not None] for split in SPLITS}
    start = None if args.pretrained is None else load_pretrained(ucfg, args.pretrained).get_weights()
    val = segment_methods.pairs(found, "val")
    try:
        fold_of = folds(by_split["train"], args.folds, seed)
    except ValueError as error:
        raise SystemExit(f"segment_threshold_cv: {error} in {args.split}") from None
    rows, fits = [], {}
    probs = args.out / "probs" if args.save_probs else None
    for k in range(args.folds):
        fit_on = [i for i in by_split["train"] if fold_of[i.image_id] != k]
        held = [i for i in by_split["train"] if fold_of[i.image_id] == k]
        result = unet_train.fit_members(ucfg, ([str(i.image) for i in fit_on], [str(i.mask) for i in fit_on]),
                                        val, seed, initial_weights=start)
        fits[f"fold{k}"] = {"train": len(fit_on), "held_out": len(held), "best_epoch": result.best_epoch,
                            "best_val_dice": result.best_val_dice, "seconds": result.seconds}
        log.info("fold %d: fitted on %d, holds out %d; %s", k, len(fit_on), len(held), fits[f"fold{k}"])
        rows += score(result.model, held, args.thresholds, ucfg, f"fold{k}", probs)
    full = unet_train.fit_members(ucfg, segment_methods.pairs(found, "train"), val, seed, initial_weights=start)
    fits["full"] = {"train": len(by_split["train"]), "best_epoch": full.best_epoch, "best_val_dice": full.best_val_dice,
                    "seconds": full.seconds}
    rows += score(full.model, by_split["val"] + by_split["test"], args.thresholds, ucfg, "full", probs)
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    full.model.save(args.out / "unet.keras")  # the stage's network, for bench.segment_unet_options or --pseudo-from
    frame.to_csv(args.out / "scores.csv", index=False)
    pooled = frame[frame.split.isin(["train", "val"])]
    means = pooled.groupby("threshold")["dice"].mean().to_dict()
    chosen = choose(means, ucfg.threshold)
    mean = frame.groupby(["threshold", "split"])[["dice", "thresholded_jaccard"]].mean().unstack("split")
    table = pd.DataFrame({"train Dice (out of fold)": mean["dice"]["train"], "val Dice": mean["dice"]["val"],
                          "train+val Dice": pd.Series(means), "test Dice": mean["dice"]["test"],
                          "train+val thr. Jaccard": pooled.groupby("threshold")["thresholded_jaccard"].mean(),
                          "test thr. Jaccard": mean["thresholded_jaccard"]["test"]}).round(4)
    table.index.name = "threshold"
    text = table.to_string()
    print(text)
    print(f"chosen on out-of-fold train + val Dice: threshold {chosen:g} (params' {ucfg.threshold:g}); "
          f"test printed, not used")
    (args.out / "summary.json").write_text(json.dumps({
        "rule": "max mean Dice over out-of-fold train and val images; ties (4 decimals) to the params' threshold",
        "chosen": chosen, "pooled_dice": means, "fits": fits, "table": text,
        "images": {split: len(by_split[split]) for split in SPLITS}}, indent=1, default=float))


if __name__ == "__main__":
    main()

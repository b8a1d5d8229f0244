"""Does an edge-aware refinement of the U-Net's probability map help, judged without test?

The U-Net sees a 128 px square squeezed from a 600x450 image, so its outline is drawn on a grid
about 4 px of the image wide and bilinearly upsampled; Otsu draws it at 256 px on the pixels'
own colour. A guided filter (He, Sun and Tang, 2010) upsamples the probability along the
image's own edges. This rule was fixed, and committed, before it was run:

1. Probability maps come from bench.segment_threshold_cv --save-probs: out of fold for the train
   images, the U-Net fitted on all of train for val and test.
2. Every variant (plain bilinear upsampling, as the stage does; or the guided filter with each
   guide, radius and eps below) is thresholded at each --thresholds and cleaned up as the stage
   does (fill holes, keep the central component), then scored by Dice against the mask.
3. The chosen variant has the highest mean Dice over the pooled out-of-fold train and val images;
   means equal to 4 decimals go to plain, then to the smaller radius, then to the larger eps, and
   among those to the threshold nearest the params' (then the lower). (This sentence was made
   exact after the run, from "to plain at the params' threshold, then to the smaller radius"; no
   tie occurred.)
4. Test is scored for every variant and printed beside, never used to choose.
Then (a report, not part of the choice) the chosen variant is compared with plain at each threshold.

Asserts nothing. Run from the repository root, after bench.segment_threshold_cv --save-probs:
    python -m bench.segment_refine --params results/ham10000-masks155-pretrain/params.yaml \
        --raw /tmp/hm/raw --split /tmp/hm/split --probs /tmp/thr2/probs --out /tmp/refine
It writes <out>/scores.csv (per image and variant) and <out>/summary.json.
"""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from bench import segment_maps
from bench.segment_pooled import paired_interval
from skinlab import params
from skinlab.evaluation import segmentation as seg_metrics

RADII = (0.005, 0.01, 0.02, 0.04)  # box radius as a share of the image's longer side
EPSILONS = (1e-3, 1e-2)  # regularisation, guide scaled to 0..1
GUIDES = ("grey", "blue")


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter: `source` smoothed where `guide` is flat, kept sharp at its edges."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(values):
        return cv2.boxFilter(values, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(source)
    var_i = box(guide * guide) - mean_i * mean_i
    a = (box(guide * source) - mean_i * mean_p) / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def upsampled(prob: np.ndarray, height: int, width: int) -> np.ndarray:
    """The stage's upsampling (segmentation_data.upsample_mask) before its threshold."""
    return cv2.resize(prob.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def guide_of(rgb: np.ndarray, name: str) -> np.ndarray:
    plane = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if name == "grey" else rgb[..., 2]
    return plane.astype(np.float32) / 255.0


def variants(rgb: np.ndarray, prob: np.ndarray) -> dict[str, np.ndarray]:
    """name -> full-size probability map, for plain and every guided setting."""
    height, width = rgb.shape[:2]
    base = upsampled(prob, height, width)
    out = {"plain": base}
    for guide_name in GUIDES:
        guide = guide_of(rgb, guide_name)
        for share in RADII:
            radius = max(1, round(share * max(height, width)))
            for eps in EPSILONS:
                out[f"guided {guide_name} r{share:g} eps{eps:g}"] = guided_filter(guide, base, radius, eps)
    return out


def choose(means: dict[tuple[str, float], float], default_threshold: float) -> tuple[str, float]:
    """(variant, threshold) of the highest mean to 4 decimals; ties to plain, then to the smaller radius,
    then the larger eps, then the threshold nearest the params' (then the lower)."""
    best = max(round(value, 4) for value in means.values())
    tied = [key for key, value in means.items() if round(value, 4) == best]

    def order(key):
        name, threshold = key
        if name == "plain":
            return (0, 0.0, 0.0, abs(threshold - default_threshold), threshold)
        radius = float(name.split(" r")[1].split(" ")[0])
        eps = float(name.split("eps")[1])
        return (1, radius, -eps, abs(threshold - default_threshold), threshold)

    return min(tied, key=order)


def against_plain(frame: pd.DataFrame, chosen: tuple[str, float], thresholds: list[float], seed: int) -> str:
    """The chosen variant minus plain at each threshold: mean Dice with a lesion-bootstrap 95% interval
    and the images each way, on the pooled train+val images and on test."""
    pick = frame[(frame.variant == chosen[0]) & (frame.threshold == chosen[1])].set_index("image_id")
    lines = [f"{chosen[0]} at {chosen[1]:g} minus plain, Dice (lesion-bootstrap 95% interval; images better / worse):"]
    for threshold in thresholds:
        plain = frame[(frame.variant == "plain") & (frame.threshold == threshold)].set_index("image_id")
        for name, splits in (("train+val", ["train", "val"]), ("test", ["test"])):
            part = pick[pick.split.isin(splits)].reset_index()
            part["diff"] = part.dice.to_numpy() - plain.loc[part.image_id, "dice"].to_numpy()
            mean, low, high = paired_interval(part, "diff", 2000, seed)
            lines.append(f"  plain at {threshold:g}, {name}: {mean:+.5f} ({low:+.5f} to {high:+.5f}; "
                         f"{(part['diff'] > 0).sum()} / {(part['diff'] < 0).sum()})")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--probs", required=True, type=Path, help="folder of <image_id>.npy probability maps")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.4, 0.5, 0.6])
    args = ap.parse_args(argv)
    cfg = params.load(args.params)
    rows = []
    for item, rgb, truth, saved_prob in segment_maps.saved(args.raw, args.split, args.probs, "segment_refine"):
        for name, prob in variants(rgb, saved_prob).items():
            for threshold in args.thresholds:
                row = seg_metrics.scores(truth, segment_maps.cleaned(prob >= threshold))
                rows.append({"image_id": item.image_id, "lesion_id": item.lesion_id, "split": item.split,
                             "variant": name, "threshold": threshold, "dice": row["dice"],
                             "thresholded_jaccard": row["thresholded_jaccard"]})
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "scores.csv", index=False)
    pooled = frame[frame.split.isin(["train", "val"])]
    means = pooled.groupby(["variant", "threshold"])["dice"].mean().to_dict()
    chosen = choose(means, cfg.segment.unet.threshold)
    mean = frame.groupby(["variant", "threshold", "split"])[["dice", "thresholded_jaccard"]].mean().unstack("split")
    table = pd.DataFrame({"train+val Dice": pd.Series(means),
                          "train+val thr. Jaccard": pooled.groupby(["variant", "threshold"])["thresholded_jaccard"].mean(),
                          "test Dice": mean["dice"]["test"], "test thr. Jaccard": mean["thresholded_jaccard"]["test"]})
    text = table.sort_values("train+val Dice", ascending=False).round(4).to_string()
    print(text)
    print(f"chosen on out-of-fold train + val Dice: {chosen[0]} at threshold {chosen[1]:g}; test printed, not used")
    print(against_plain(frame, chosen, args.thresholds, cfg.base.seed))
    (args.out / "summary.json").write_text(json.dumps({
        "rule": "max mean Dice over out-of-fold train and val images; ties (4 decimals) to plain, then the smaller "
                "radius, then the larger eps, then the threshold nearest the params' (then the lower)",
        "chosen": list(chosen),
        "pooled_dice": {f"{k[0]} @ {k[1]:g}": v for k, v in means.items()}, "table": text}, indent=1, default=float))


if __name__ == "__main__":
    main()

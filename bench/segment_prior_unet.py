"""A U-Net that sees Otsu's mask: can a network that starts from the classical outline and
learns, from the true masks, where to move it beat Otsu? An experiment for issue 11; asserts nothing.

Why: pre-trained on Otsu's masks of 5,858 unlabelled images, the stage's U-Net copies its
teacher, and fine-tuning on 0 to 74 true masks does not move it (learning_curve.txt): it ends
level with Otsu. Here the network gets Otsu's mask (the stage's blue channel, shift and work
size) as a fourth input channel beside RGB, so the true masks only have to teach the
corrections. It starts from the pre-trained U-Net (--pretrained): every layer copied, the first
convolution's weights for the new channel zero, so before fine-tuning it is exactly that
network. Fine-tuning, early stopping on val Dice, the threshold, flips and clean-up are the
params' (`segment.unet`); geometry is drawn once for image, true mask and Otsu's mask together.

Rule, committed (6daa496) before the full run and not changed since; no test image is scored
until the out-of-fold table is made (Otsu's masks of every image, test included, are made first):
1. Out of fold on train: the 93 train images dealt by lesion into 5 folds (as
   bench.segment_threshold_cv and bench.segment_learning_curve deal them); for each fold the
   prior U-Net is fine-tuned on the other folds' masks and segments the held-out fold. Its
   out-of-fold Dice is compared, image by image, with Otsu's and with the plain U-Net's of
   bench.segment_learning_curve (share 1, the same folds, fits and seed; --plain-scores),
   lesion-bootstrap 95% intervals.
2. It "beats Otsu out of fold" only if its out-of-fold train Dice minus Otsu's has a 95%
   interval above zero. Only then would it be worth a stage option.
3. Either way one more prior U-Net is fine-tuned on all 93 train masks (val for early
   stopping) and scored on val and test beside Otsu, reported as it falls.
Added after the first full run, reporting only (the run repeated itself): "all" pools the
out-of-fold train rows with val and test (155 images), and the five largest losses to Otsu.
The threshold is the params' (0.6 for the t06 params); 0.5 is reported beside it, not chosen.

Run from the repository root (data as in the README's ham10000-masks155 section):
    python -m bench.segment_prior_unet --params results/ham10000-masks155-pretrain-t06/params.yaml \\
        --raw /tmp/hm/raw --split /tmp/hm/split --pretrained /tmp/pre4/pretrained.weights.h5 \\
        --plain-scores results/ham10000-masks155-pretrain/learning_curve_scores.csv --out /tmp/prior
It writes <out>/otsu/<image_id>.png (Otsu's masks, reused), <out>/scores.csv (per image, source
and threshold) and <out>/summary.json (fits, tables).
"""
import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from bench import segment_maps
from bench.segment_pooled import paired_interval
from bench.segment_pretrain import load_pretrained
from bench.segment_threshold_cv import folds
from skinlab import io, params, segment_methods, segment_report, segmentation_data, unet_train
from skinlab.data import dataset, tfdata
from skinlab.data.schema import SPLITS
from skinlab.evaluation import segmentation as seg_metrics
from skinlab.models import unet as unet_model

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
log = logging.getLogger("segment_prior_unet")
REPORTED_THRESHOLDS = (0.5, 0.6)  # beside the params' threshold, which alone is compared


def otsu_masks(found: list, cfg, seed: int, out: Path) -> dict[str, str]:
    """image_id -> path of Otsu's mask (the stage's Otsu) of every image with a true mask; reused when present."""
    otsu = segment_methods.build("otsu", cfg.segment, seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for item in found:
        path = out / f"{item.image_id}.png"
        if not path.is_file():
            segment_report.write_mask(path, otsu(io.read_image(item.image)))
        paths[item.image_id] = str(path)
    return paths


def check(ucfg) -> None:
    """SystemExit unless the U-Net is one the 4-channel copy reproduces: plain encoder, no dropout, one member."""
    if ucfg.encoder != "plain" or ucfg.dropout or ucfg.members != 1:
        raise SystemExit(f"segment_prior_unet: needs segment.unet encoder plain, dropout 0 and members 1 "
                         f"(got {ucfg.encoder}, {ucfg.dropout}, {ucfg.members})")


def build(ucfg, pretrained: Path):
    """The params' plain U-Net with a 4-channel input (RGB 0..255, Otsu's mask 0 or 255), every
    layer from the pre-trained 3-channel one; the new channel's first-convolution weights zero."""
    import keras
    from keras import layers

    check(ucfg)
    source = load_pretrained(ucfg, pretrained)
    image = keras.Input((ucfg.image_size, ucfg.image_size, 4), name="image_prior")
    skips, x = unet_model._plain_encoder(image, ucfg.base_filters, ucfg.depth)
    for level in reversed(range(ucfg.depth)):
        width = ucfg.base_filters * 2**level
        x = layers.Conv2DTranspose(width, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = unet_model._double_conv(x, width, f"dec{level}")
    model = keras.Model(image, layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(x))
    for layer in model.layers:
        weights = source.get_layer(layer.name).get_weights() if layer.weights else []
        if layer.name == "enc0_conv1":
            kernel = weights[0]
            weights = [np.concatenate([kernel, np.zeros(kernel.shape[:2] + (1, kernel.shape[3]), kernel.dtype)], axis=2)]
        if weights:
            layer.set_weights(weights)
    return model


def _stream(items: list, prior: dict[str, str], size: int, batch: int, seed: int, augment):
    """(image with Otsu's channel, true mask) batches; with `augment`, endless and augmented (one
    geometry for all three: augment_pair drawn twice with the same seed), else once in order."""
    import tensorflow as tf

    columns = tuple(np.array(c, dtype=str) for c in zip(*[(str(i.image), str(i.mask), prior[i.image_id]) for i in items]))
    ds = tf.data.Dataset.from_tensor_slices(columns)

    def joined(image, truth, otsu):
        return tf.concat([image, otsu * 255.0], axis=-1), truth

    def plain(image_path, mask_path, otsu_path):
        image, truth = segmentation_data.load_pair(image_path, mask_path, size)
        return joined(image, truth, segmentation_data.load_pair(image_path, otsu_path, size)[1])

    if augment is None:
        return ds.map(plain, deterministic=True).batch(batch)

    def element(paths, draw):
        image, truth = segmentation_data.load_pair(paths[0], paths[1], size)
        otsu = segmentation_data.load_pair(paths[0], paths[2], size)[1]
        image_a, truth_a = segmentation_data.augment_pair(image, truth, draw, augment)
        return joined(image_a, truth_a, segmentation_data.augment_pair(image, otsu, draw, augment)[1])

    ds = ds.shuffle(len(items), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed).batch(2)))
    return ds.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch).prefetch(2)


def fit(ucfg, train: list, val: list, prior: dict, pretrained: Path, seed: int):
    """Fine-tune as unet_train.fit does (cosine-decayed Adam, Dice + cross-entropy, best val epoch)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build(ucfg, pretrained)
    steps = tfdata.steps_per_epoch(len(train), ucfg.batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(ucfg.learning_rate,
                                                                                        ucfg.epochs * steps)),
                  loss=segmentation_data.dice_bce_loss)
    curve: list[dict] = []
    monitor = unet_train._monitor(_stream(val, prior, ucfg.image_size, ucfg.batch_size, seed, None), ucfg, curve,
                                  prefix="prior_unet")
    model.fit(_stream(train, prior, ucfg.image_size, ucfg.batch_size, seed, ucfg.augment), epochs=ucfg.epochs,
              steps_per_epoch=steps, callbacks=[monitor], verbose=0)
    if monitor.best_weights is None:
        raise SystemExit("segment_prior_unet: every val Dice was NaN; no epoch to keep")
    model.set_weights(monitor.best_weights)
    return model, {"best_epoch": monitor.best_epoch, "epochs": len(curve), "best_val_dice": monitor.best_value}


def probability(model, rgb: np.ndarray, otsu: np.ndarray, size: int, flips: bool) -> np.ndarray:
    """The (size, size) lesion probability, resized as the training stream resizes; flips averaged."""
    import tensorflow as tf

    image = tf.image.resize(tf.cast(rgb[None], tf.float32), (size, size), method="area")
    prior = tf.image.resize(tf.cast(otsu[None, ..., None], tf.float32), (size, size), method="area")
    x = tf.concat([image, tf.cast(prior >= segmentation_data.MASK_THRESHOLD, tf.float32) * 255.0], axis=-1)
    if not flips:
        return np.asarray(model(x, training=False))[0, ..., 0]
    views = tf.concat([x, x[:, :, ::-1], x[:, ::-1], x[:, ::-1, ::-1]], axis=0)
    p = np.asarray(model(views, training=False))[..., 0]
    return (p[0] + p[1, :, ::-1] + p[2, ::-1] + p[3, ::-1, ::-1]) / 4.0


def score(model, items: list, prior: dict, ucfg, source: str) -> list[dict]:
    """Per image and threshold: the prior U-Net's Dice and thresholded Jaccard, and Otsu's."""
    import cv2

    rows = []
    for item in items:
        rgb, truth = segment_report.read_pair(item)
        otsu = cv2.imread(prior[item.image_id], cv2.IMREAD_GRAYSCALE) > 127
        prob = probability(model, rgb, otsu, ucfg.image_size, ucfg.tta == "flips")
        base = {"image_id": item.image_id, "lesion_id": item.lesion_id, "split": item.split, "source": source}
        found = seg_metrics.scores(truth, otsu)
        rows.append({**base, "method": "otsu", "threshold": np.nan, "dice": found["dice"],
                     "thresholded_jaccard": found["thresholded_jaccard"]})
        for t in sorted({*REPORTED_THRESHOLDS, ucfg.threshold}):
            found = seg_metrics.scores(truth, segment_maps.mask(prob, *rgb.shape[:2], t, ucfg.clean))
            rows.append({**base, "method": "prior_unet", "threshold": t, "dice": found["dice"],
                         "thresholded_jaccard": found["thresholded_jaccard"]})
    return rows


def plain_rows(path: Path, threshold: float) -> pd.DataFrame:
    """The plain U-Net's rows of bench.segment_learning_curve's scores (its largest share); SystemExit
    naming the file when they were scored at another threshold than the params'."""
    plain = pd.read_csv(path)
    plain = plain[plain.fraction == plain.fraction.max()]
    if not plain.threshold.eq(threshold).all():
        found = ", ".join(f"{t:g}" for t in sorted(plain.threshold.unique()))
        raise SystemExit(f"segment_prior_unet: {path} was scored at threshold {found}, not the params' {threshold:g}")
    return plain


def compare(frame: pd.DataFrame, other: pd.DataFrame, name: str, seed: int) -> dict:
    """Mean Dice of the prior U-Net (params' threshold rows of `frame`) minus `other`'s, paired by image."""
    if frame.image_id.duplicated().any() or other.image_id.duplicated().any():
        raise ValueError(f"compare with {name}: an image_id appears twice (one threshold per image expected)")
    merged = frame.merge(other[["image_id", "dice"]], on="image_id", suffixes=("", "_other"))
    if len(merged) != len(frame):
        raise ValueError(f"compare with {name}: {len(frame) - len(merged)} of {len(frame)} images have no {name} score")
    merged["diff"] = merged.dice - merged.dice_other
    mean, low, high = paired_interval(merged, "diff", 2000, seed)
    return {"against": name, "images": len(merged), "prior_unet": merged.dice.mean(), name: merged.dice_other.mean(),
            "diff": mean, "low": low, "high": high, "better": int((merged["diff"] > 0).sum())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--pretrained", required=True, type=Path, help="weights file of the pre-trained U-Net")
    ap.add_argument("--plain-scores", required=True, type=Path,
                    help="bench.segment_learning_curve's scores (its share-1 rows are the plain U-Net)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    cfg = params.load(args.params)
    seed, ucfg = cfg.base.seed, cfg.segment.unet
    check(ucfg)
    plain = plain_rows(args.plain_scores, ucfg.threshold)
    found = [i for i in segment_report.items(args.raw, {s: dataset.read_index(args.split, s) for s in SPLITS})
             if i.mask is not None]
    prior = otsu_masks(found, cfg, seed, args.out / "otsu")
    train = [i for i in found if i.split == "train"]
    val = [i for i in found if i.split == "val"]
    fold_of = folds(train, args.folds, seed)
    rows, fits = [], []
    for k in range(args.folds):
        model, fit_info = fit(ucfg, [i for i in train if fold_of[i.image_id] != k], val, prior, args.pretrained, seed)
        fits.append({"fold": k, **fit_info})
        log.info("fold %d: %s", k, fit_info)
        rows += score(model, [i for i in train if fold_of[i.image_id] == k], prior, ucfg, f"fold{k}")
    frame = pd.DataFrame(rows)
    oof = frame[(frame.method == "prior_unet") & (frame.threshold == ucfg.threshold)]
    tables = {"out_of_fold": [compare(oof, frame[frame.method == "otsu"], "otsu", seed),
                              compare(oof, plain, "plain_unet", seed)]}
    beats = tables["out_of_fold"][0]["low"] > 0
    print(pd.DataFrame(tables["out_of_fold"]).round(4).to_string(index=False))
    print(f"rule 2: beats Otsu out of fold: {beats}")
    model, fit_info = fit(ucfg, train, val, prior, args.pretrained, seed)
    fits.append({"fold": "all train", **fit_info})
    held = score(model, [i for i in found if i.split in ("val", "test")], prior, ucfg, "all train")
    frame = pd.concat([frame, pd.DataFrame(held)], ignore_index=True)
    for split in ("val", "test", "all"):
        part = frame if split == "all" else frame[frame.split == split]
        mine = part[(part.method == "prior_unet") & (part.threshold == ucfg.threshold)]
        tables[split] = [compare(mine, part[part.method == "otsu"], "otsu", seed)]
        print(split, pd.DataFrame(tables[split]).round(4).to_string(index=False))
    mine = frame[(frame.method == "prior_unet") & (frame.threshold == ucfg.threshold)].set_index("image_id")
    loss = (mine.dice - frame[frame.method == "otsu"].set_index("image_id").dice).sort_values()
    print("largest losses to Otsu (Dice):", ", ".join(f"{i} ({mine.split[i]}) {d:+.3f}" for i, d in loss.head(5).items()))
    print(frame.groupby(["split", "method", "threshold"], dropna=False)[["dice", "thresholded_jaccard"]].mean()
          .round(4).to_string())
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "scores.csv", index=False)
    (args.out / "summary.json").write_text(json.dumps({"fits": fits, "tables": tables, "beats_otsu_out_of_fold": bool(beats)},
                                                      indent=1, default=float))


if __name__ == "__main__":
    main()

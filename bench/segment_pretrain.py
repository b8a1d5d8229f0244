"""Pre-train the segment U-Net on Otsu's masks of unlabelled images, then fine-tune it on the
labelled train split; score it beside a U-Net trained from scratch and beside Otsu on val and
test. An experiment for the U-Net-versus-Otsu question of ham10000-masks155; asserts nothing.

The pre-training is the stage's own (`segment.unet.pretrain`, skinlab/unet_pretrain.py): every
unlabelled image whose image_id or lesion_id is in the labelled set (any split) is left out, so no
val or test lesion is seen, even without its mask; Otsu outlines the rest with the params' channel,
shift and work size, and the U-Net of --params is fitted to those masks for --pretrain-epochs
epochs at --pretrain-lr (monitored on val's true masks). Then the same network is fitted as the
stage fits it, once per --finetune-lr (the peak learning rate of the fine-tuning; default the
params' one), each time from the pre-trained weights, at --finetune-size px if given (the
pre-training's size otherwise), each an average of --members fits when that is above 1
(`segment.unet.members`). The pre-trained network itself is scored too
(`unet_pretrained_only`); the variant to keep is the one with the best val Dice. --no-scratch
skips the U-Net from scratch. --pseudo-from MODEL makes the pseudo masks with a saved U-Net (at the
params' threshold, tta and clean-up) instead of Otsu: self-training, the student pre-trained from
random weights on the teacher's masks, then fine-tuned like the rest.

Run from the repository root (data as in the README's ham10000-masks155 section):
    python -m bench.segment_pretrain --params results/ham10000-masks155/params.yaml \
        --raw /tmp/hm/raw --split /tmp/hm/split --unlabelled ../shared/data/ham10000-224 \
        --out /tmp/pre --pretrain-epochs 2
It writes <out>/pseudo/masks (Otsu's masks), <out>/pretrained.weights.h5 with
<out>/pretrained.json (the pre-trained network and its curve: both are reused by a later run with
the same --out; delete them after changing the U-Net's params or --pretrain-epochs),
<out>/candidates/<method>/ (each method's val and test masks, as segment does), <out>/scores.csv
(per image and method), <out>/finetuned_lr<lr>.keras (each fine-tuned network) and
<out>/summary.json (curves, seconds, the mean table).
"""
import argparse
import json
import logging
from pathlib import Path

from skinlab import params, segment_methods, segment_report, unet_pretrain, unet_train
from skinlab.data import dataset
from skinlab.data.schema import SPLITS
from skinlab.models import unet as unet_model
from skinlab.params import SegmentUnet

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
log = logging.getLogger("segment_pretrain")


def load_pretrained(ucfg: SegmentUnet, weights: Path):
    """The U-Net of `ucfg` holding a saved pre-training's weights (<out>/pretrained.weights.h5)."""
    model = unet_model.build_unet(ucfg.image_size, ucfg.base_filters, ucfg.depth, ucfg.dropout, ucfg.encoder,
                                  ucfg.weights)
    model.load_weights(weights)
    return model


def pretrain(ucfg: SegmentUnet, otsu, found, val, seed: int, out: Path):
    """The pre-trained network and a summary; the stage's own pre-training
    (unet_pretrain.pretrain, with ucfg.pretrain), reused from <out> when saved there."""
    weights, info = out / "pretrained.weights.h5", out / "pretrained.json"
    if weights.exists() and info.exists():
        model = load_pretrained(ucfg, weights)
        log.info("pre-trained network reused from %s (delete it to pre-train again)", weights)
        return model, {**json.loads(info.read_text()), "reused": True}
    result, summary = unet_pretrain.pretrain(ucfg, otsu, found, val, seed, out / "pseudo" / "masks")
    log.info("pre-train: %s, %.0f s", result.curve, result.seconds)
    result.model.save_weights(weights)
    meta = {**summary, "curve": result.curve, "seconds": result.seconds}
    info.write_text(json.dumps(meta, indent=1, default=float))
    return result.model, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--unlabelled", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--pretrain-epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--pretrain-lr", type=float, default=None,
                    help="peak learning rate of the pre-training (default: segment.unet.pretrain.learning_rate)")
    ap.add_argument("--finetune-lr", type=float, nargs="+", default=None,
                    help="peak learning rates of the fine-tuning, one fit each (default: segment.unet.learning_rate)")
    ap.add_argument("--finetune-size", type=int, default=None,
                    help="input size of the fine-tuned network (default: segment.unet.image_size, the pre-training's); "
                         "the plain U-Net is fully convolutional, so the pre-trained weights fit any valid size")
    ap.add_argument("--no-scratch", action="store_true", help="skip the U-Net from scratch")
    ap.add_argument("--members", type=int, default=None,
                    help="fine-tunings per learning rate, seeds --finetune-seed + 0, 1, ..., averaged into one network "
                         "(segment.unet.members; default the params' one)")
    ap.add_argument("--pseudo-from", type=Path, default=None,
                    help="a saved U-Net (e.g. bench.segment_threshold_cv's <out>/unet.keras) that makes the pseudo "
                         "masks instead of Otsu")
    ap.add_argument("--finetune-seed", type=int, default=None,
                    help="seed of the fine-tunings and of the U-Net from scratch (default base.seed; the "
                         "pre-training always uses base.seed)")
    args = ap.parse_args(argv)
    cfg = params.load(args.params)
    seed, ucfg = cfg.base.seed, cfg.segment.unet
    frames = {split: dataset.read_index(args.split, split) for split in SPLITS}
    found = segment_report.items(args.raw, frames)
    train, val = segment_methods.pairs(found, "train"), segment_methods.pairs(found, "val")
    pre = ucfg.pretrain.model_copy(update={"images": str(args.unlabelled), "epochs": args.pretrain_epochs,
                                           "limit": args.limit,
                                           "learning_rate": args.pretrain_lr or ucfg.pretrain.learning_rate})
    labeler = (segment_methods.build("otsu", cfg.segment, seed) if args.pseudo_from is None
               else unet_train.load(args.pseudo_from, ucfg.threshold, ucfg.tta, ucfg.clean))
    pre_model, pre_info = pretrain(ucfg.model_copy(update={"pretrain": pre}), labeler, found, val, seed, args.out)
    if args.pseudo_from is not None:
        pre_info["masks"] = f"the U-Net {args.pseudo_from} (threshold {ucfg.threshold:g}, tta {ucfg.tta}, clean {ucfg.clean})"
    pre_weights = pre_model.get_weights()
    tuned = {}
    size = args.finetune_size or ucfg.image_size
    fseed = seed if args.finetune_seed is None else args.finetune_seed
    members = args.members or ucfg.members
    for lr in args.finetune_lr or [ucfg.learning_rate]:
        tuned[lr] = unet_train.fit_members(SegmentUnet.model_validate({
            **ucfg.model_dump(), "learning_rate": lr, "image_size": size, "members": members}),
            train, val, fseed, initial_weights=pre_weights)
        log.info("fine-tune at lr %g: best epoch %s, val Dice %.4f, %.0f s", lr, tuned[lr].best_epoch or "(members)",
                 tuned[lr].best_val_dice, tuned[lr].seconds)
    for lr, fit in tuned.items():  # for bench.segment_unet_options (thresholds) or --pseudo-from
        fit.model.save(args.out / f"finetuned_lr{lr:g}.keras")
    scratch = None if args.no_scratch else unet_train.fit(ucfg, train, val, fseed)
    if scratch is not None:
        log.info("scratch: best epoch %d, val Dice %.4f, %.0f s", scratch.best_epoch, scratch.best_val_dice, scratch.seconds)

    def segmenter(model):  # as the stage runs its U-Net
        return unet_train.Segmenter(model, ucfg.threshold, ucfg.tta, ucfg.clean)

    suffix = (f"_{size}px" if size != ucfg.image_size else "") + (f"_x{members}" if members > 1 else "")
    methods = {
        "otsu": segment_methods.build("otsu", cfg.segment, seed),
        **({} if scratch is None else {"unet_scratch": segmenter(scratch.model)}),
        "unet_pretrained_only": segmenter(pre_model),
        **{f"unet_pretrained_lr{lr:g}{suffix}": segmenter(fit.model) for lr, fit in tuned.items()},
    }
    rows, _ = segment_report.score(found, methods, args.out / "candidates")  # val and test images with a mask
    frame = segment_report.scores_frame(rows)
    frame.to_csv(args.out / "scores.csv", index=False)
    summary = frame.groupby(["split", "method"])[["dice", "jaccard", "thresholded_jaccard"]].mean().round(4)
    text = summary.to_string()
    log.info("\n%s", text)
    (args.out / "summary.json").write_text(json.dumps({
        "pseudo_images": pre_info.get("pretrained_on"),  # absent from a run saved before the bench used the library
        "pretrain": pre_info,
        "finetune": {f"{lr:g}": {"best_epoch": fit.best_epoch, "best_val_dice": fit.best_val_dice, "seconds": fit.seconds,
                                 "members": fit.members, "curve": fit.curve} for lr, fit in tuned.items()},
        "finetune_size": size, "finetune_seed": fseed,
        "scratch": None if scratch is None else {"best_epoch": scratch.best_epoch, "best_val_dice": scratch.best_val_dice,
                                                 "seconds": scratch.seconds, "curve": scratch.curve},
        "summary": text}, indent=1, default=float))


if __name__ == "__main__":
    main()

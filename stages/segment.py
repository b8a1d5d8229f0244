"""segment: data/raw + data/split -> data/segment (masks of every image), models/segment (the
chosen method: its card, and the U-Net when trained), metrics/segment.json, plots/segment/.

When segment.methods lists unet, a U-Net is first trained on the train images that have a
ground-truth mask and stopped early on the val Dice (pre-trained before that on Otsu's masks of
the unlabelled images of segment.unet.pretrain.images when its epochs are above 0). Every method
then segments and scores each val and test image that has a ground-truth mask; the method best on
val by segment.select_on (never test) writes the masks of every image.
"""
from __future__ import annotations

import sys
from pathlib import Path

from skinlab import cli, io, params, seeding, segment_methods, segment_report, tracking
from skinlab.data import dataset
from skinlab.data.schema import SPLITS
from skinlab.models import unet as unet_model


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--raw-metrics", default="metrics/download.json")
    parser.add_argument("--out", default="data/segment")
    parser.add_argument("--model", default="models/segment")
    parser.add_argument("--metrics", default="metrics/segment.json")
    parser.add_argument("--plots", default="plots/segment")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        run_stage(args)
    except unet_model.WeightsUnavailable as error:
        print(f"segment: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def run_stage(args) -> None:
    with cli.stage("segment") as log:
        cfg = params.load(args.params)
        sc, seed = cfg.segment, cfg.base.seed
        seeding.set_all(seed)
        with tracking.stage_run("segment", {"base": cfg.base, "segment": sc}) as run:
            frames = {split: dataset.read_index(args.split, split) for split in SPLITS}
            found = segment_report.items(args.raw, frames)
            segment_report.check_masks(found)
            trained_on = segment_report.data_description(Path(args.raw_metrics), frames)
            out, plots, model_dir = Path(args.out), Path(args.plots), Path(args.model)
            with io.atomic_dir(model_dir) as model_tmp:
                methods, unet, skipped = segment_methods.build_all(sc, seed, found, run)
                if skipped:
                    log.warning(skipped)
                if unet is not None:
                    unet.model.save(model_tmp / "unet.keras")
                io.write_csv(plots / "unet_training.csv", segment_report.curve_frame(unet.curve if unet else []))
                pre_curve = unet.pretraining["curve"] if unet and unet.pretraining else []
                io.write_csv(plots / "unet_pretraining.csv", segment_report.curve_frame(pre_curve))
                with io.atomic_dir(out) as tmp:
                    rows, seconds = segment_report.score(found, methods, tmp / "candidates")
                    summaries = segment_report.summarise(rows, list(methods), seed, sc.bootstrap)
                    chosen, on = segment_report.choose(summaries, sc.select_on)
                    index = segment_report.write_masks(found, chosen, methods[chosen], tmp / "candidates", tmp)
                    io.write_csv(tmp / "index.csv", index)
                metrics = segment_report.metrics(summaries, chosen, on, sc.select_on, found, unet, trained_on)
                if skipped:
                    metrics["unet_training"] = {"skipped": skipped}
                io.write_json(model_tmp / "card.json", segment_report.card(sc, metrics, unet))
            io.write_csv(plots / "scores.csv", segment_report.scores_frame(rows))
            io.write_json(plots / "methods.json", segment_report.methods_rows(summaries))
            segment_report.save_overlays(plots / "overlays.png", rows, chosen, found, out / "masks")
            io.write_json(args.metrics, metrics)
            timing = segment_report.timing(rows, seconds, unet)
            run.log_metrics({"chosen": metrics["chosen"], "methods": summaries, "images": metrics["images"], **timing})
            log.info("seconds: %s", ", ".join(f"{key} {value:.3f}" for key, value in timing.items()))
            run.log_artifact(plots / "overlays.png")
            log.info(segment_report.summary_line(summaries, chosen, on, sc.select_on))


if __name__ == "__main__":
    main()

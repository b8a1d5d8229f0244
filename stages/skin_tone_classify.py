"""skin_tone_classify: data/raw + data/split + data/segment -> data/skin_tone/skin_tone.csv,
metrics/skin_tone_classify.json, plots/skin_tone_classify/.

The skin tone of every image as the Individual Typology Angle of its healthy skin (outside the
grown lesion mask of `segment`, without vignette, hairs and highlights), mapped to six ITA bands
and to Fitzpatrick types by the cut points in params; beside it the palette baseline (nearest of
six chart colours to the whole image's mean) and the ITA under the other colour-constancy
setting. Where the data has a skin type (synthetic; a `fitzpatrick` column in folder data) both
methods are scored against it.
"""
from __future__ import annotations

from pathlib import Path

from skinlab import cli, io, params, skin_tone_report, tracking
from skinlab.data import dataset
from skinlab.data.schema import SPLITS


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--segment", default="data/segment")
    parser.add_argument("--out", default="data/skin_tone")
    parser.add_argument("--metrics", default="metrics/skin_tone_classify.json")
    parser.add_argument("--plots", default="plots/skin_tone_classify")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with cli.stage("skin_tone_classify") as log:
        cfg = params.load(args.params)
        sc = cfg.skin_tone_classify
        with tracking.stage_run("skin_tone_classify", {"skin_tone_classify": sc}) as run:
            frames = {split: dataset.read_index(args.split, split) for split in SPLITS}
            masks = skin_tone_report.mask_index(args.segment)
            table = skin_tone_report.frame(list(skin_tone_report.rows(args.raw, frames, masks, sc)))
            with io.atomic_dir(Path(args.out)) as tmp:
                io.write_csv(tmp / "skin_tone.csv", table)
            plots = Path(args.plots)
            io.write_json(plots / "distribution.json", skin_tone_report.distribution_rows(table))
            io.write_json(plots / "confusion.json", skin_tone_report.confusion_rows(table))
            result = skin_tone_report.metrics(table, sc)
            io.write_json(args.metrics, result)
            run.log_metrics(result)
            log.info(skin_tone_report.summary_line(result))


if __name__ == "__main__":
    main()

"""embed: data/augmented + data/raw + data/split + models/cnn + data/skin_tone -> metrics/embed.json, plots/embed/.

PCA, t-SNE and UMAP maps of the test images and a sample of train, for three representations:
raw pixels, the hand-crafted feature vector and the CNN's penultimate layer. Each map is scored
on test by trustworthiness, cross-validated k-NN accuracy in 2-D and silhouette, by class and by
skin tone, with the seconds it took.
"""
from __future__ import annotations

from pathlib import Path

from skinlab import cli, embed_plots, embed_report, io, params, seeding, tracking
from skinlab.cnn_report import data_description
from skinlab.data import dataset
from skinlab.evaluation import plots


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--augmented", default="data/augmented")
    parser.add_argument("--cnn", default="models/cnn", help="model.keras and model_card.json of train_cnn")
    parser.add_argument("--tones", default="data/skin_tone/skin_tone.csv", help="optional: colour and score by skin tone")
    parser.add_argument("--raw-metrics", default="metrics/download.json")
    parser.add_argument("--metrics", default="metrics/embed.json")
    parser.add_argument("--plots", default="plots/embed")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with cli.stage("embed") as log:
        cfg = params.load(args.params)
        ec, seed = cfg.embed, cfg.base.seed
        seeding.set_all(seed)
        with tracking.stage_run("embed", {"base": cfg.base, "embed": ec}) as run:
            points = embed_report.choose(Path(args.split), ec, seed, embed_report.read_tones(Path(args.tones)))
            frame = points.frame
            vectors = {"pixels": lambda: embed_report.pixel_vectors(Path(args.augmented), frame, ec),
                       "features": lambda: embed_report.feature_vectors(Path(args.augmented), frame, ec,
                                                                        cfg.train_baselines, seed),
                       "cnn": lambda: embed_report.cnn_vectors(Path(args.raw), Path(args.cnn), frame)}
            representations, projections, maps, curves = embed_report.map_all(vectors, points, ec, seed)
            _, described = data_description(Path(args.raw_metrics), {split: dataset.read_index(args.split, split)
                                                                    for split in ("train", "val", "test")})
            result = {"points": points.counts, "chance": embed_report.chance(points), "data": described,
                      "representations": representations, "projections": projections}
            footer = f"{plots.FOOTER} Images of {described}; the CNN was trained on its train split."
            with io.atomic_dir(Path(args.plots)) as tmp:
                embed_plots.write(tmp, frame, maps, result["projections"], curves, footer)
            io.write_json(args.metrics, result)
            run.log_metrics({"projections": result["projections"], "representations": result["representations"]})
            log.info(embed_report.summary_line(result))


if __name__ == "__main__":
    main()

"""segment: data/raw + data/split -> data/segment (masks of every image), metrics/segment.json, plots/segment/.

Every method in segment.methods segments and scores each val and test image that has a
ground-truth mask; the method best on val by segment.select_on (never test) writes the masks.
"""
from __future__ import annotations

from pathlib import Path

from skinlab import cli, io, params, seeding, segment_methods, segment_report, tracking
from skinlab.data import dataset
from skinlab.data.schema import SPLITS


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--out", default="data/segment")
    parser.add_argument("--metrics", default="metrics/segment.json")
    parser.add_argument("--plots", default="plots/segment")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with cli.stage("segment") as log:
        cfg = params.load(args.params)
        sc, seed = cfg.segment, cfg.base.seed
        seeding.set_all(seed)
        with tracking.stage_run("segment", {"base": cfg.base, "segment": sc}) as run:
            found = segment_report.items(args.raw, {split: dataset.read_index(args.split, split) for split in SPLITS})
            segment_report.check_masks(found)
            methods = {name: segment_methods.build(name, sc, seed) for name in sc.methods}
            out, plots = Path(args.out), Path(args.plots)
            with io.atomic_dir(out) as tmp:
                rows, seconds = segment_report.score(found, methods, tmp / "candidates")
                for name, spent in seconds.items():
                    log.info("%-8s %.3f s per scored image", name, spent / max(1, len(rows) // len(methods)))
                summaries = segment_report.summarise(rows, sc.methods, seed, sc.bootstrap)
                chosen, on = segment_report.choose(summaries, sc.select_on)
                index = segment_report.write_masks(found, chosen, methods[chosen], tmp / "candidates", tmp)
                io.write_csv(tmp / "index.csv", index)
            io.write_csv(plots / "scores.csv", segment_report.scores_frame(rows))
            io.write_json(plots / "methods.json", segment_report.methods_rows(summaries))
            segment_report.save_overlays(plots / "overlays.png", rows, chosen, found, out / "masks")
            metrics = segment_report.metrics(summaries, chosen, on, sc.select_on, found)
            io.write_json(args.metrics, metrics)
            run.log_metrics({"chosen": metrics["chosen"], "methods": summaries, "images": metrics["images"]})
            run.log_artifact(plots / "overlays.png")
            log.info(segment_report.summary_line(summaries, chosen, on, sc.select_on))


if __name__ == "__main__":
    main()

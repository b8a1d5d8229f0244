"""augment: data/raw + data/split -> data/augmented (resized; train augmented and balanced), metrics/augment.json."""
from __future__ import annotations

from pathlib import Path

from skinlab import cli, io, params, seeding, tracking
from skinlab.data import dataset, prepare


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--out", default="data/augmented")
    parser.add_argument("--metrics", default="metrics/augment.json")
    parser.add_argument("--plots", default="plots/augment")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with cli.stage("augment"):
        cfg = params.load(args.params)
        seeding.set_all(cfg.base.seed)
        prepare.augment_config(cfg.augment)  # fail on a bad transform before any work
        with tracking.stage_run("augment", {"base": cfg.base, "augment": cfg.augment}) as run:
            size, seed = cfg.base.image_size, cfg.base.seed
            metrics = prepare.prepare(Path(args.raw), Path(args.split), Path(args.out), cfg.augment, size, seed)
            train = dataset.read_index(args.split, "train")
            preview = Path(args.plots) / "preview.png"
            prepare.preview(Path(args.raw), train, cfg.augment, size, seed, preview)
            io.write_json(args.metrics, metrics)
            run.log_metrics(metrics)
            run.log_artifact(preview)


if __name__ == "__main__":
    main()

"""split: data/raw -> data/split/{train,val,test}.csv, grouped by lesion, stratified by class."""
from __future__ import annotations

from pathlib import Path

from skinlab import cli, io, params, seeding, tracking
from skinlab.data import raw, split
from skinlab.data.schema import SPLITS


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--out", default="data/split")
    parser.add_argument("--metrics", default="metrics/split.json")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with cli.stage("split") as log:
        cfg = params.load(args.params)
        seeding.set_all(cfg.base.seed)
        with tracking.stage_run("split", {"base": cfg.base, "split": cfg.split}) as run:
            frame = raw.read_metadata(args.raw)
            sides = split.make_split(frame, cfg.split.val_fraction, cfg.split.test_fraction, cfg.base.seed, cfg.split.use_given_split)
            split.check_not_empty(sides)
            metrics = split.split_metrics(frame, sides)
            if metrics["lesions_crossing_splits"]:
                log.warning("%d lesion(s) cross splits in the given split column", metrics["lesions_crossing_splits"])
            with io.atomic_dir(Path(args.out)) as tmp:
                for name in SPLITS:
                    part = frame[sides == name].assign(split=name)
                    io.write_csv(tmp / f"{name}.csv", part)
            io.write_json(args.metrics, metrics)
            run.log_metrics(metrics)


if __name__ == "__main__":
    main()

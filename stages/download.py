"""download: the configured source -> data/raw, metrics/download.json, plots/download/."""
from __future__ import annotations

from pathlib import Path

from skinlab import cli, io, params, seeding, tracking
from skinlab.data import acquire, explore, raw


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--out", default="data/raw")
    parser.add_argument("--downloads", default="data/downloads", help="download cache, kept between runs")
    parser.add_argument("--metrics", default="metrics/download.json")
    parser.add_argument("--plots", default="plots/download")
    parser.add_argument("--check", action="store_true",
                        help="only check params.yaml and download.folder.path, write nothing (DVC checks the "
                             "folder before the stage runs and names no param)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with cli.stage("download"):
        cfg = params.load(args.params)
        if args.check:
            print(f"download: {acquire.check_inputs(cfg.download)}")
            return
        seeding.set_all(cfg.base.seed)
        downloads = Path(args.downloads)
        downloads.mkdir(parents=True, exist_ok=True)
        with tracking.stage_run("download", {"base": cfg.base, "download": cfg.download}) as run:
            metrics = acquire.acquire(cfg.download, cfg.base.seed, Path(args.out), downloads)
            explore.write_plots(raw.read_metadata(args.out), Path(args.plots), cfg.download.source)
            io.write_json(args.metrics, metrics)
            run.log_metrics(metrics)
            run.log_artifact(Path(args.plots) / "overview.png")


if __name__ == "__main__":
    main()

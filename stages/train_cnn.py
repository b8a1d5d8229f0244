"""train_cnn: data/raw + data/split -> models/cnn/, models/cnn_tuner/, metrics/train_cnn.json, plots/train_cnn/.

Reads the raw images at train_cnn.image_size (not data/augmented), so changing the CNN's size
or augmentation never reruns augment or train_baselines; compares with the best baseline's
test predictions when they are there.
"""
from __future__ import annotations

import sys
from pathlib import Path

from skinlab import cli, cnn_report, distribute, io, params, seeding, tracking, tuning
from skinlab.data import dataset, tfdata
from skinlab.data.schema import SPLITS
from skinlab.models import cnn, metadata
from skinlab.tta import combine_views


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--baselines", default="models/baselines/test_predictions.csv",
                        help="the best baseline's test predictions (optional: no comparison without them)")
    parser.add_argument("--baseline-metrics", default="metrics/train_baselines.json")
    parser.add_argument("--raw-metrics", default="metrics/download.json")
    parser.add_argument("--out", default="models/cnn")
    parser.add_argument("--trials", default="models/cnn_tuner", help="keras-tuner's trials (kept between runs to resume)")
    parser.add_argument("--metrics", default="metrics/train_cnn.json")
    parser.add_argument("--plots", default="plots/train_cnn")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        run_stage(args)
    except (cnn.WeightsUnavailable, distribute.StrategyError) as error:
        print(f"train_cnn: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def run_stage(args) -> None:
    with cli.stage("train_cnn") as log:
        cfg = params.load(args.params)
        tc, seed = cfg.train_cnn, cfg.base.seed
        from skinlab import cnn_train  # TensorFlow loads only after the params are valid

        seeding.set_all(seed)
        cnn_train.deterministic(seed)
        strategy = distribute.strategy(tc.strategy)
        with tracking.stage_run("train_cnn", {"base": cfg.base, "train_cnn": tc}) as run:
            frames = {split: dataset.read_index(args.split, split) for split in SPLITS}
            tables = {split: tfdata.table(args.raw, frame, metadata.encode(frame, tc.metadata))
                      for split, frame in frames.items()}
            baseline = cnn_report.load_baseline(frames["test"], Path(args.baselines), Path(args.baseline_metrics))
            tc, tuned = tuning.search(tc, tables["train"], tables["val"], seed, Path(args.trials), strategy, run)
            cnn_train.deterministic(seed)  # the final fit is the run these params would give without a search
            result = cnn_train.train(tc, tables["train"], tables["val"], seed, strategy, run)
            log.info("best epoch %d of %d: %s %.3f (%.0fs)", result.best_epoch, len(result.curve), tc.monitor,
                     result.best_value, result.seconds)
            datasets = {split: tfdata.eval_dataset(tables[split], tc.image_size, tc.batch_size) for split in ("val", "test")}
            test, lesions = frames["test"], frames["test"]["lesion_id"].to_numpy()
            y_test = test["dx"].to_numpy(dtype=str)
            views = cnn_train.predict_views(result.model, datasets["test"])  # all eight, once
            proba, calibrated, reliability = cnn_report.calibrate(
                tc.calibration, frames["val"], cnn_train.predict(result.model, datasets["val"], tc.tta),
                test, combine_views(views, tc.tta))
            report = cnn_report.test_report(y_test, proba, lesions, seed, tc.bootstrap)
            comparison = cnn_report.compare_with_baseline(test, proba, baseline, seed, tc.bootstrap)
            tta_effect = cnn_report.tta_effect(views, y_test, lesions, seed, tc.bootstrap)
            source, described = cnn_report.data_description(Path(args.raw_metrics), frames)
            files, exported = cnn_report.export_tflite(result.model, datasets["test"], combine_views(views, "none"),
                                                       y_test) if tc.tflite else ({}, None)
            summary = cnn_report.metrics(report, result, tc, comparison, described, result.model.count_params(),
                                         calibrated, exported, tta_effect, tuned)
            card = cnn_report.model_card(tc, metadata.columns(tc.metadata), described, calibrated, summary["test"],
                                         tuned.get("best_hyperparameters"))
            cnn_report.write_model(Path(args.out), result.model, test, proba, frames["val"],
                                   cnn_train.embeddings(result.model, datasets["val"]),
                                   cnn_train.embeddings(result.model, datasets["test"]), card, files)
            cnn_report.write_plots(Path(args.plots), y_test, proba, report, result.curve,
                                   f"CNN {tc.arch} {tc.image_size}px\ntrained on '{source}' data, test split", reliability)
            cnn_report.write_gradcam(Path(args.plots) / "gradcam.png", result.model, tables["test"], test, proba,
                                     tc.image_size, f"CNN {tc.arch}, '{source}' test split")
            io.write_json(args.metrics, summary)
            run.log_metrics({"test": summary["test"], "train_seconds": result.seconds,
                             "difference_vs_baseline": (comparison or {}).get("difference", 0.0)})
            run.log_artifact(Path(args.out) / "model.keras")
            log.info(cnn_report.summary_line(report, comparison))


if __name__ == "__main__":
    main()

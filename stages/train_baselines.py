"""train_baselines: data/augmented -> models/baselines/, metrics/train_baselines.json, plots/train_baselines/."""
from __future__ import annotations

from pathlib import Path

import joblib

from skinlab import DISCLAIMER, baselines, cli, io, params, seeding, tracking
from skinlab.data import dataset
from skinlab.data.schema import CLASSES, SPLITS
from skinlab.evaluation import classification, plots


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--data", default="data/augmented")
    parser.add_argument("--raw-metrics", default="metrics/download.json", help="describes the training data for the model card")
    parser.add_argument("--out", default="models/baselines")
    parser.add_argument("--metrics", default="metrics/train_baselines.json")
    parser.add_argument("--plots", default="plots/train_baselines")
    return parser.parse_args(argv)


def data_source(raw_metrics: Path) -> str:
    return io.read_json(raw_metrics).get("source", "unknown") if raw_metrics.exists() else "unknown"


def trained_on(source: str, frames: dict) -> str:
    counts = ", ".join(f"{split} {len(frame)}" for split, frame in frames.items())
    return f"data source '{source}' (images: {counts}; train includes augmented copies)"


def write_plots(best, results, test_frame, out: Path, source: str) -> None:
    y_test = dataset.labels(test_frame)
    title = f"best baseline {best.name}\ntrained on '{source}' data, test split"
    predicted = baselines.predicted_labels(best.test_proba)
    io.write_json(out / "confusion.json", classification.confusion_rows(list(y_test), list(predicted)))
    plots.save_confusion_png(best.test_report["confusion_matrix"], CLASSES, out / "confusion.png", title)
    rows = [{"pair": r.name, "val_balanced_accuracy": r.val_balanced_accuracy,
             "test_balanced_accuracy": r.test_report["balanced_accuracy"]} for r in results]
    io.write_json(out / "comparison.json", rows)
    plots.save_bar_png([r["pair"] for r in rows], [r["test_balanced_accuracy"] for r in rows], out / "comparison.png",
                       f"test balanced accuracy per pair ('{source}' data)", "balanced accuracy")
    io.write_json(out / "roc_malignant.json", baselines.malignant_roc_rows(y_test, best.test_proba))
    plots.save_roc_png(list(y_test), best.test_proba, CLASSES, out / "roc.png", f"ROC one-vs-rest, {title}")


def main(argv=None) -> None:
    args = parse_args(argv)
    with cli.stage("train_baselines") as log:
        cfg = params.load(args.params)
        tb = cfg.train_baselines
        seeding.set_all(cfg.base.seed)
        with tracking.stage_run("train_baselines", {"base": cfg.base, "train_baselines": tb}) as run:
            frames = {split: dataset.read_index(args.data, split) for split in SPLITS}
            labels = {split: dataset.labels(frame) for split, frame in frames.items()}
            labels["test_lesions"] = frames["test"]["lesion_id"].to_numpy()
            labels["train_lesions"] = frames["train"]["lesion_id"].to_numpy()  # augmented copies keep their lesion
            results, entries = [], {}
            for name in tb.features:
                features = baselines.compute_features(name, tb, cfg.base.seed, Path(args.data), frames)
                log.info("features %s: dim %d in %.1fs", name, features.extractor.dim, features.seconds)
                for model in tb.models:
                    with run.nested(f"{name}+{model}", {"features": name, "model": model}) as pair_run:
                        result = baselines.fit_pair(features, model, labels, tb, cfg.base.seed)
                        entry = entries[result.name] = baselines.summary(result)
                        pair_run.log_metrics({"val_balanced_accuracy": entry["val_balanced_accuracy"], **entry["test"]})
                    log.info("%-22s val bacc %.3f  test bacc %.3f", result.name, result.val_balanced_accuracy,
                             result.test_report["balanced_accuracy"] or 0.0)
                    results.append(result)
            best = baselines.pick_best(results)
            source = data_source(Path(args.raw_metrics))
            out = Path(args.out)
            with io.atomic_dir(out) as tmp:
                bundle = {"extractor": best.extractor, "pipeline": best.pipeline, "classes": CLASSES,
                          "features": best.features, "model": best.model, "image_size": cfg.base.image_size,
                          "trained_on": trained_on(source, frames), "disclaimer": DISCLAIMER}
                joblib.dump(bundle, tmp / "best.joblib")
                io.write_csv(tmp / "test_predictions.csv", baselines.predictions_frame(frames["test"], best.test_proba))
            metrics = {
                "best": {**entries[best.name], "test_report": best.test_report},
                "pairs": entries,
                "trained_on": bundle["trained_on"],
            }
            write_plots(best, results, frames["test"], Path(args.plots), source)
            io.write_json(args.metrics, metrics)
            run.log_metrics({"best": metrics["best"]["test"], "best_val_balanced_accuracy": best.val_balanced_accuracy})
            log.info("best pair %s: val bacc %.3f, test bacc %.3f", best.name, best.val_balanced_accuracy,
                     best.test_report["balanced_accuracy"] or 0.0)


if __name__ == "__main__":
    main()

"""fairness_eval: the test predictions of train_cnn and train_baselines + data/skin_tone ->
metrics/fairness_eval.json, plots/fairness_eval/, models/fairness/ (the reweighed CNN's test
predictions).

Per skin-tone group (ITA band; Fitzpatrick type estimated, and true where the data has it): n,
accuracy, balanced accuracy, macro-F1, melanoma sensitivity and malignant AUC with lesion-
bootstrap intervals, the gap between the best and the worst group large enough to judge, and
fairlearn's equal-opportunity and equalized-odds differences for malignancy. With
fairness_eval.mitigation.method `reweigh`, train_cnn's recipe is trained again with loss weights
that balance the skin-tone groups, and the gaps are compared before and after.
"""
from __future__ import annotations

import sys
from pathlib import Path

from skinlab import cli, distribute, fairness_plots, fairness_report, io, params, tracking
from skinlab.models import cnn


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--cnn", default="models/cnn/test_predictions.csv")
    parser.add_argument("--cnn-metrics", default="metrics/train_cnn.json")
    parser.add_argument("--baseline", default="models/baselines/test_predictions.csv")
    parser.add_argument("--baseline-metrics", default="metrics/train_baselines.json")
    parser.add_argument("--tones", default="data/skin_tone/skin_tone.csv")
    parser.add_argument("--raw", default="data/raw", help="images, for the mitigation's retraining")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--raw-metrics", default="metrics/download.json")
    parser.add_argument("--out", default="models/fairness")
    parser.add_argument("--metrics", default="metrics/fairness_eval.json")
    parser.add_argument("--plots", default="plots/fairness_eval")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        run_stage(args)
    except (cnn.WeightsUnavailable, distribute.StrategyError) as error:  # the mitigation's retraining, as train_cnn
        print(f"fairness_eval: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def run_stage(args) -> None:
    with cli.stage("fairness_eval") as log:
        cfg = params.load(args.params)
        fe = cfg.fairness_eval
        with tracking.stage_run("fairness_eval", {"base": cfg.base, "fairness_eval": fe}) as run:
            inputs = fairness_report.Inputs.read(args)
            predictions = {"cnn": inputs.cnn, "baseline": inputs.baseline}
            mitigation = {"method": "none"}
            if fe.mitigation.method == "reweigh":
                from skinlab import fairness_mitigation

                fairness_report.check_grouping(inputs.tones, fe.mitigation.grouping, "fairness_eval.mitigation.grouping")
                predictions["cnn_reweighed"], mitigation = fairness_mitigation.retrain(
                    cfg, inputs.cnn_metrics, Path(args.raw), Path(args.split), inputs.tones, fe.mitigation.grouping,
                    fe.mitigation.max_weight, Path(args.tones))
                with io.atomic_dir(Path(args.out)) as tmp:
                    io.write_csv(tmp / "test_predictions.csv", predictions["cnn_reweighed"])
            else:
                with io.atomic_dir(Path(args.out)) as tmp:
                    (tmp / "README.txt").write_text("fairness_eval.mitigation.method is none: no reweighed model.\n")
            result = fairness_report.evaluate(predictions, inputs, fe, cfg.base.seed, mitigation)
            for line in result["warnings"]:
                log.warning(line)
            fairness_plots.write_plots(Path(args.plots), result, predictions, inputs, fe, cfg.base.seed,
                                       cfg.skin_tone_classify.fitzpatrick_cuts)
            io.write_json(args.metrics, result)
            run.log_metrics(fairness_report.headline(result))
            log.info(fairness_report.summary_line(result["models"]))


if __name__ == "__main__":
    main()

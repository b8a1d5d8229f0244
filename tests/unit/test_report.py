from skinlab import report


def pair(features, model, val, test_bacc):
    test = {"balanced_accuracy": test_bacc, "balanced_accuracy_ci95": [test_bacc - 0.1, test_bacc + 0.1], "accuracy": 0.9, "macro_f1": 0.5, "macro_auc_ovr": 0.8,
            "melanoma_sensitivity": None, "melanoma_specificity": 1.0, "malignant_auc": 0.75}
    return {"features": features, "model": model, "val_balanced_accuracy": val, "test": test}


def test_table_ranks_on_val_and_bolds_the_pair_chosen_on_val():
    metrics = {"pairs": {"hog+svm": pair("hog", "svm", 0.9, 0.4), "lbp+knn": pair("lbp", "knn", 0.5, 0.6)},
               "best": {"features": "hog", "model": "svm"}}
    lines = report.baseline_table(metrics).splitlines()
    assert lines[2].startswith("| **hog** | **svm** | **0.900** | **0.400** | **0.30-0.50** |")
    assert lines[3].startswith("| lbp | knn | 0.500 | 0.600 | 0.50-0.70 | 0.900 |")
    assert "n/a" in lines[3]


def test_cnn_table_puts_the_cnn_beside_the_best_baseline(tmp_path):
    import json

    from skinlab import report

    test = {"balanced_accuracy": 0.8, "balanced_accuracy_ci95": [0.7, 0.9], "accuracy": 0.85, "macro_f1": 0.75,
            "macro_auc_ovr": 0.95, "melanoma_sensitivity": 0.6, "melanoma_specificity": 0.9, "malignant_auc": 0.91}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "train_cnn.json").write_text(json.dumps({"arch": "compact", "image_size": 32, "test": test}))
    lines = report.cnn_table(tmp_path).splitlines()
    assert len(lines) == 3  # no baselines in this run: the CNN row alone
    assert lines[2] == "| **CNN (compact, 32 px)** | **0.800** | **0.70-0.90** | **0.850** | **0.750** | **0.950** | **0.600** | **0.900** | **0.910** |"
    best = {"features": "hsv_hist", "model": "forest", "test": dict(test, balanced_accuracy=0.5)}
    (tmp_path / "metrics" / "train_baselines.json").write_text(json.dumps({"best": best}))
    assert report.cnn_table(tmp_path).splitlines()[3].startswith("| best baseline: hsv_hist + forest | 0.500 | 0.70-0.90 |")


def test_recipes_table_compares_runs_named_with_plus(tmp_path):
    import json

    import yaml

    def snapshot(name, metadata, weight_average, bacc, versus, **more):
        run = tmp_path / "results" / name
        (run / "metrics").mkdir(parents=True)
        (run / "params.yaml").write_text(yaml.safe_dump({"train_cnn": {"weight_average": weight_average, **more}}))
        test = {"balanced_accuracy": bacc, "balanced_accuracy_ci95": [bacc - 0.05, bacc + 0.05], "accuracy": 0.7,
                "macro_auc_ovr": 0.9, "melanoma_sensitivity": 0.5}
        (run / "metrics" / "train_cnn.json").write_text(json.dumps(
            {"image_size": 64, "metadata": metadata, "best_epoch": 3, "epochs_run": 4,
             "val_balanced_accuracy_best": 0.55, "test": test, "vs_best_baseline": versus}))

    snapshot("plain", [], 0.0, 0.6, None)
    snapshot("fused", ["age", "sex"], 0.998, 0.65, {"difference": 0.1, "difference_ci95": [0.02, 0.18]},
             class_weight="balanced", sampling="balanced", mixup=0.2, dropout=0.0, patience=30, filters=[32, 64, 128, 192, 256])
    (tmp_path / "results" / "fused" / "lesion_crop.json").write_text(json.dumps({"margin": 0.1}))
    assert [p.name for p in report.run_dirs(tmp_path / "results" / "plain+fused")] == ["plain", "fused"]
    assert report.run_dirs(tmp_path / "results" / "plain") == [tmp_path / "results" / "plain"]
    lines = report.render("recipes", tmp_path / "results" / "plain+fused").splitlines()
    assert len(lines) == 4
    assert lines[2] == "| plain | 64 | 16-32-64-128 | whole | none | sqrt | shuffle | off | off | 0.2 | 10 | 3 / 4 | 0.550 | 0.600 | 0.55-0.65 | 0.700 | 0.900 | 0.500 | n/a |"
    assert lines[3] == "| fused | 64 | 32-64-128-192-256 | lesion crop | age, sex | balanced | balanced | 0.2 | 0.998 | 0.0 | 30 | 3 / 4 | 0.550 | 0.650 | 0.60-0.70 | 0.700 | 0.900 | 0.500 | +0.100 (+0.020 to +0.180) |"


def _cnn_metrics(tmp_path, **entries):
    import json

    (tmp_path / "metrics").mkdir(exist_ok=True)
    (tmp_path / "metrics" / "train_cnn.json").write_text(json.dumps(entries))


def test_tta_table_marks_the_mode_used_and_shows_paired_differences(tmp_path):
    from skinlab import report

    def entry(views, bacc, diff=None):
        out = {"views": views, "balanced_accuracy": bacc, "balanced_accuracy_ci95": [bacc - 0.1, bacc + 0.1],
               "macro_auc_ovr": 0.9, "nll": 0.5}
        if diff is not None:
            out.update(difference_vs_none=diff, difference_vs_none_ci95=[diff - 0.02, diff + 0.03])
        return out

    _cnn_metrics(tmp_path, tta="flips", tta_effect={"none": entry(1, 0.6), "flips": entry(3, 0.62, 0.02),
                                                    "dihedral": entry(8, 0.61, 0.01)})
    lines = report.render("tta", tmp_path).splitlines()
    assert lines[2] == "| none | 1 | 0.600 | 0.50-0.70 | - | 0.900 | 0.500 |"
    assert lines[3] == "| **flips** | 3 | 0.620 | 0.52-0.72 | +0.020 (+0.000 to +0.050) | 0.900 | 0.500 |"
    assert lines[4].startswith("| dihedral | 8 | 0.610 |")


def test_tuner_table_lists_trials_and_bolds_the_best(tmp_path):
    from skinlab import report

    trials = [{"trial": "0", "value": 0.5, "hyperparameters": {"learning_rate": 0.00123456, "width": 1.0}},
              {"trial": "1", "value": 0.7, "hyperparameters": {"learning_rate": 0.002, "width": 0.5}}]
    _cnn_metrics(tmp_path, tuner={"objective": "val_balanced_accuracy", "best_trial": "1", "trials": trials,
                                  "max_trials": 2})
    lines = report.render("tuner", tmp_path).splitlines()
    assert lines[0] == "| trial | learning_rate | width | val balanced_accuracy |"
    assert lines[2] == "| 0 | 0.001235 | 1 | 0.500 |"
    assert lines[3] == "| **1** | **0.002** | **0.5** | **0.700** |"
    _cnn_metrics(tmp_path, tuner={"max_trials": 0, "algorithm": "random"})
    assert report.render("tuner", tmp_path) == "No search: `train_cnn.tuner.max_trials` is 0."


def test_calibration_and_versus_sentences(tmp_path):
    from skinlab import report

    test = {"n_images": 90, "n_bins": 15, "ece_before": 0.1, "ece_after": 0.04, "brier_before": 0.3,
            "brier_after": 0.25, "nll_before": 0.8, "nll_after": 0.7}
    versus = {"baseline": "hog+svm", "difference": 0.1, "difference_ci95": [0.01, 0.2], "ci_excludes_zero": True,
              "n_boot": 1000}
    _cnn_metrics(tmp_path, calibration={"method": "temperature", "temperature": 0.8, "at_search_bound": False,
                                        "val_nll_before": 0.5, "val_nll_after": 0.45, "test": test},
                 vs_best_baseline=versus)
    assert report.render("calibration", tmp_path) == (
        "T = 0.800 fitted on val (val NLL 0.500 -> 0.450); on the 90 test images the expected calibration error "
        "(15 bins) goes 0.100 -> 0.040, the Brier score 0.300 -> 0.250, the NLL 0.800 -> 0.700.")
    test["ece_if_calibrated"] = {"mean": 0.05, "p95": 0.08, "n_sims": 500}
    _cnn_metrics(tmp_path, calibration={"method": "temperature", "temperature": 0.8, "at_search_bound": False,
                                        "val_nll_before": 0.5, "val_nll_after": 0.45, "test": test},
                 vs_best_baseline=versus)
    assert report.render("calibration", tmp_path).endswith(
        "would show an ECE of 0.050 on average on this many images (95th percentile 0.080): sampling alone puts "
        "the floor there.")
    sentence = report.render("versus", tmp_path)
    assert "minus hog+svm: **+0.100, paired lesion-bootstrap 95% interval +0.010 to +0.200**" in sentence
    assert sentence.endswith("the interval excludes zero.")


def test_segment_table_bolds_the_method_chosen_on_val_with_test_intervals(tmp_path):
    from skinlab import io

    def split(dice, n, empty=False):
        entry = {m: {"mean": None if empty else dice - d, "ci95": [None, None] if empty else [dice - d - 0.05, dice - d + 0.02]}
                 for m, d in (("dice", 0.0), ("jaccard", 0.1), ("thresholded_jaccard", 0.2), ("sensitivity", -0.05),
                              ("specificity", -0.08))}
        return {**entry, "n_images_scored": n}

    io.write_json(tmp_path / "metrics" / "segment.json", {
        "methods": {"otsu": {"val": split(0.9, 5), "test": split(0.88, 7)},
                    "unet": {"val": split(0.95, 5), "test": split(0.9, 7)},
                    "kmeans": {"val": split(0.5, 0, empty=True), "test": split(0.5, 0, empty=True)}},
        "chosen": {"method": "unet"}})
    lines = report.render("segment", tmp_path).splitlines()
    assert lines[0].startswith("| method | val Dice | test Dice (95% CI) |")
    assert lines[2] == "| kmeans | n/a | n/a (n/a) | n/a | n/a (n/a) | n/a | n/a | 0 |"
    assert lines[3] == "| otsu | 0.900 | 0.880 (0.830-0.900) | 0.780 | 0.680 (0.630-0.700) | 0.930 | 0.960 | 7 |"
    assert lines[4].startswith("| **unet** | 0.950 | 0.900 (0.850-0.920) |")


def test_skin_tone_tables_order_bands_light_to_dark(tmp_path):
    from skinlab import io
    from skinlab.skintone import BANDS

    def agree(exact, within, n=10):
        return {"exact": exact, "within_one": within, "n": n}

    counts = {band: i for i, band in enumerate(BANDS)}
    io.write_json(tmp_path / "metrics" / "skin_tone_classify.json", {
        "n_images": 20, "n_too_little_skin": 5, "distribution": {"band": counts},
        "by_split": {s: {**counts, "no_estimate": 1} for s in ("train", "val", "test")},
        "colour_constancy": {"used": "none", "other": "shades_of_gray"},
        "ground_truth": {"ita": agree(0.9, 1.0), "ita_shades_of_gray": agree(0.2, 0.7), "palette": agree(0.25, 0.5)}})
    lines = report.render("skin_tone", tmp_path).splitlines()
    assert lines[2] == "| **ITA of the healthy skin** (colour constancy: none) | 0.900 | 1.000 | 10 |"
    assert lines[3].startswith("| ITA of the healthy skin, colour constancy: shades_of_gray | 0.200 | 0.700 |")
    assert lines[4].startswith("| palette: nearest of six colours")
    table = report.render("tone_distribution", tmp_path).splitlines()
    assert table[0] == "| split | very light | light | intermediate | tan | brown | dark | no estimate |"
    assert table[2] == "| train | 0 | 1 | 2 | 3 | 4 | 5 | 1 |"
    assert table[5] == "| **all** | 0 (0%) | 1 (5%) | 2 (10%) | 3 (15%) | 4 (20%) | 5 (25%) | 5 |"
    io.write_json(tmp_path / "metrics" / "skin_tone_classify.json", {"ground_truth": None})
    assert "no image of this data set has a ground-truth skin type" in report.render("skin_tone", tmp_path).lower()


def test_tone_cast_sentence(tmp_path):
    from skinlab import io

    io.write_json(tmp_path / "metrics" / "skin_tone_classify.json", {
        "n_estimated": 200, "n_ita_beyond_90": 50,
        "colour_constancy": {"other": "shades_of_gray", "ita_median_shift": 17.56, "band_changed_share": 0.258}})
    assert report.render("tone_cast", tmp_path) == (
        "50 of 200 estimated images (25%) have an ITA beyond +-90 degrees (healthy-skin b* <= 0: a colour cast, "
        "not a skin tone); shades_of_gray moves the angle by +17.6 degrees (median) and changes the band of 26% "
        "of the images.")

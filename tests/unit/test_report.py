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

    def snapshot(name, metadata, weight_average, bacc, versus):
        run = tmp_path / "results" / name
        (run / "metrics").mkdir(parents=True)
        (run / "params.yaml").write_text(yaml.safe_dump({"train_cnn": {"weight_average": weight_average}}))
        test = {"balanced_accuracy": bacc, "balanced_accuracy_ci95": [bacc - 0.05, bacc + 0.05],
                "macro_auc_ovr": 0.9, "melanoma_sensitivity": 0.5}
        (run / "metrics" / "train_cnn.json").write_text(json.dumps(
            {"image_size": 64, "metadata": metadata, "best_epoch": 3, "epochs_run": 4,
             "val_balanced_accuracy_best": 0.55, "test": test, "vs_best_baseline": versus}))

    snapshot("plain", [], 0.0, 0.6, None)
    snapshot("fused", ["age", "sex"], 0.998, 0.65, {"difference": 0.1, "difference_ci95": [0.02, 0.18]})
    assert [p.name for p in report.run_dirs(tmp_path / "results" / "plain+fused")] == ["plain", "fused"]
    assert report.run_dirs(tmp_path / "results" / "plain") == [tmp_path / "results" / "plain"]
    lines = report.render("recipes", tmp_path / "results" / "plain+fused").splitlines()
    assert len(lines) == 4
    assert lines[2] == "| plain | 64 | none | off | 3 / 4 | 0.550 | 0.600 | 0.55-0.65 | 0.900 | 0.500 | n/a |"
    assert lines[3] == "| fused | 64 | age, sex | 0.998 | 3 / 4 | 0.550 | 0.650 | 0.60-0.70 | 0.900 | 0.500 | +0.100 (+0.020 to +0.180) |"

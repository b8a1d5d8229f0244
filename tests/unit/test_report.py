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

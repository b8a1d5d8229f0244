"""train_cnn's main() on the small synthetic pipeline: outputs, schema, comparison, determinism."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skinlab import baselines
from skinlab.data.schema import CLASSES
from skinlab.evaluation import calibration
from stages import train_cnn
from tests.helpers import REPO, write_params
from tests.stages.conftest import SMALL

TINY = SMALL["train_cnn"]


def run(small_pipeline, tmp_path, name: str, baseline_csv=None, **overrides):
    params = write_params(tmp_path / f"{name}.yaml", **{**SMALL, "train_cnn": {**TINY, **overrides}})
    out = tmp_path / name
    argv = ["--params", str(params), "--raw", str(small_pipeline["raw"]), "--split", str(small_pipeline["split"]),
            "--raw-metrics", str(small_pipeline["metrics"] / "download.json"),
            "--baselines", str(baseline_csv or tmp_path / "absent.csv"), "--baseline-metrics", str(tmp_path / "absent.json"),
            "--out", str(out / "models"), "--trials", str(out / "trials"), "--metrics", str(out / "metrics.json"),
            "--plots", str(out / "plots")]
    train_cnn.main(argv)
    return out


def test_outputs_schema_and_bit_for_bit_rerun(small_pipeline, tmp_path):
    first = run(small_pipeline, tmp_path, "first")
    metrics = json.loads((first / "metrics.json").read_text())
    # the test entry has exactly the schema of a train_baselines pair
    report = metrics["test_report"]
    assert metrics["test"] == baselines.headline(report)
    assert set(metrics["test"]) == set(baselines.HEADLINE) | {"balanced_accuracy_ci95", "melanoma_sensitivity",
                                                             "melanoma_specificity", "per_class_recall"}
    low, high = metrics["test"]["balanced_accuracy_ci95"]
    assert 0 <= low <= report["balanced_accuracy"] <= high <= 1
    assert metrics["vs_best_baseline"] is None  # no baseline predictions given
    assert metrics["epochs_run"] == 2 and 1 <= metrics["best_epoch"] <= 2
    test = pd.read_csv(small_pipeline["split"] / "test.csv")
    predictions = pd.read_csv(first / "models" / "test_predictions.csv")
    assert list(predictions["image_id"]) == list(test["image_id"])
    assert [f"p_{dx}" for dx in CLASSES] + ["predicted"] == list(predictions.columns[-8:])
    np.testing.assert_allclose(predictions[[f"p_{dx}" for dx in CLASSES]].sum(axis=1), 1, atol=1e-4)
    embeddings = np.load(first / "models" / "embeddings.npz")
    assert embeddings["test"].shape == (len(test), 128)
    assert list(embeddings["test_image_id"]) == list(test["image_id"].astype(str))
    assert embeddings["val"].shape[0] == len(pd.read_csv(small_pipeline["split"] / "val.csv"))
    assert (first / "models" / "model.keras").stat().st_size > 0
    curve = pd.read_csv(first / "plots" / "training.csv")
    assert list(curve["epoch"]) == [1, 2] and curve["val_balanced_accuracy"].between(0, 1).all()
    confusion = json.loads((first / "plots" / "confusion.json").read_text())
    assert len(confusion) == len(test) and set(confusion[0]) == {"actual", "predicted"}
    assert (first / "plots" / "roc.png").exists() and (first / "plots" / "confusion.png").exists()
    # temperature scaling: fitted on val, applied to the saved test probabilities, measured before and after
    calibrated = metrics["calibration"]
    assert calibrated["method"] == "temperature" and calibrated["fitted_on"] == "val"
    assert calibrated["temperature"] == (1.0 if calibrated["at_search_bound"] else calibrated["fitted_temperature"])
    assert calibrated["val_nll_after"] <= calibrated["val_nll_before"] + 1e-9  # the fit minimises val NLL
    y_test = np.array([CLASSES.index(dx) for dx in test["dx"]])
    saved = predictions[[f"p_{dx}" for dx in CLASSES]].to_numpy()
    assert calibrated["test"]["ece_after"] == pytest.approx(calibration.expected_calibration_error(y_test, saved), abs=1e-5)
    card = json.loads((first / "models" / "model_card.json").read_text())
    assert card["temperature"] == calibrated["temperature"] and "not a medical device" in card["disclaimer"].lower()
    assert card["test_metrics"]["balanced_accuracy_ci95"] == metrics["test"]["balanced_accuracy_ci95"]
    assert card["calibration"]["ece_after"] == calibrated["test"]["ece_after"] and card["intended_use"]
    assert card["classes"] == list(CLASSES) and card["image_size"] == TINY["image_size"] and card["tta"]["mode"] == "flips"
    assert "'synthetic'" in card["trained_on"] and f"test {len(test)}" in card["trained_on"]
    # the same model under each test-time augmentation; the saved probabilities use train_cnn.tta (flips)
    effect = metrics["tta_effect"]
    assert [effect[mode]["views"] for mode in ("none", "flips", "dihedral")] == [1, 3, 8]
    assert effect["flips"]["balanced_accuracy"] == pytest.approx(report["balanced_accuracy"])  # T keeps the argmax
    for mode in ("flips", "dihedral"):
        low, high = effect[mode]["difference_vs_none_ci95"]
        assert effect[mode]["difference_vs_none"] == pytest.approx(
            effect[mode]["balanced_accuracy"] - effect["none"]["balanced_accuracy"]) and low <= high
    assert metrics["tuner"]["max_trials"] == 0  # conftest turns the search off
    reliability = json.loads((first / "plots" / "reliability.json").read_text())
    curves = {"before scaling"} | ({f"after (T = {calibrated['temperature']:.2f})"} if calibrated["temperature"] != 1 else set())
    assert {row["model"] for row in reliability} == curves
    assert sum(row["count"] for row in reliability) == len(curves) * len(test)
    assert (first / "plots" / "reliability.png").exists()
    assert (first / "plots" / "gradcam.png").stat().st_size > 5000  # Grad-CAM examples per class
    # the TFLite export gives the Keras model's probabilities on every test image
    exported = metrics["export"]
    assert exported["float32"]["agreement"]["n_images"] == len(test)
    assert exported["float32"]["agreement"]["top1_disagreements"] == 0
    assert exported["float32"]["agreement"]["max_abs_difference"] < 1e-4
    assert (first / "models" / "model.tflite").stat().st_size == exported["float32"]["size_bytes"]
    quantised = exported["dynamic_range_int8"]
    assert quantised["kept"] == (abs(quantised["balanced_accuracy"] - exported["keras_balanced_accuracy"]) <= 0.01)
    assert (first / "models" / "model_quant.tflite").exists() == quantised["kept"]

    second = run(small_pipeline, tmp_path, "second")
    assert (second / "metrics.json").read_bytes() == (first / "metrics.json").read_bytes()
    assert (second / "models" / "test_predictions.csv").read_bytes() == (first / "models" / "test_predictions.csv").read_bytes()


def test_metadata_fusion_balanced_focal_baseline_comparison_and_mlflow(small_pipeline, tmp_path, mlflow_store):
    test = pd.read_csv(small_pipeline["split"] / "test.csv", dtype=str, keep_default_na=False)
    nevus_everywhere = np.tile(np.eye(7)[CLASSES.index("nv")], (len(test), 1))
    baseline_csv = tmp_path / "baseline.csv"
    baselines.predictions_frame(test, nevus_everywhere).to_csv(baseline_csv, index=False)
    out = run(small_pipeline, tmp_path, "fused", baseline_csv, metadata=["age", "sex", "localization"],
              sampling="balanced", loss="focal", epochs=1, warmup_epochs=0, weight_average=0.9, calibration="none",
              tuner={"max_trials": 2, "epochs": 1})
    metrics = json.loads((out / "metrics.json").read_text())
    calibrated = metrics["calibration"]  # calibration: none keeps the probabilities as the model gives them
    assert calibrated["temperature"] == 1.0 and calibrated["test"]["ece_after"] == calibrated["test"]["ece_before"]
    assert metrics["export"]["float32"]["agreement"]["max_abs_difference"] < 1e-4  # two inputs in TFLite too
    assert metrics["metadata"] == ["age", "sex", "localization"]
    comparison = metrics["vs_best_baseline"]
    assert comparison["baseline_value"] == pytest.approx(1 / 7)  # one class right out of seven
    assert comparison["difference"] == pytest.approx(metrics["test"]["balanced_accuracy"] - 1 / 7)
    low, high = comparison["difference_ci95"]
    assert low <= high and comparison["ci_excludes_zero"] == (low > 0 or high < 0)
    # each epoch reached MLflow through the callback, and the model file as an artifact
    import mlflow

    client = mlflow.MlflowClient(mlflow_store)
    [stage_run] = client.search_runs([client.get_experiment_by_name("skinlab").experiment_id],
                                     "attributes.run_name = 'train_cnn'")
    history = client.get_metric_history(stage_run.info.run_id, "val_balanced_accuracy")
    assert [m.step for m in history] == [1]
    curve = pd.read_csv(out / "plots" / "training.csv")
    assert history[0].value == pytest.approx(curve["val_balanced_accuracy"][0], abs=1e-6)
    assert [a.path for a in client.list_artifacts(stage_run.info.run_id)] == ["model.keras"]
    # each tuner trial is a run nested under the stage's, with its values and per-epoch metrics
    trials = client.search_runs([stage_run.info.experiment_id],
                                f"tags.mlflow.parentRunId = '{stage_run.info.run_id}'", order_by=["attributes.run_name"])
    assert [t.info.run_name for t in trials] == ["train_cnn trial 0", "train_cnn trial 1"]
    scores = {t["trial"]: t["value"] for t in metrics["tuner"]["trials"]}
    for trial in trials:
        assert {"learning_rate", "width", "dropout", "augment_strength", "epochs"} <= set(trial.data.params)
        assert trial.data.metrics["best_val_balanced_accuracy"] == pytest.approx(scores[trial.info.run_name[-1]])


def test_tuner_search_records_trials_and_the_final_fit_uses_the_best(small_pipeline, tmp_path):
    search = {"max_trials": 2, "epochs": 1, "space": {"learning_rate": [0.001, 0.01], "width": [0.5, 1.0],
                                                     "dropout": [0.1, 0.4], "augment_strength": [1.0, 1.0]}}
    out = run(small_pipeline, tmp_path, "tuned", tuner=search)
    metrics = json.loads((out / "metrics.json").read_text())
    tuned = metrics["tuner"]
    assert tuned["trials_run"] == 2 and len(tuned["trials"]) == 2 and tuned["objective"] == "val_balanced_accuracy"
    assert tuned["best_value"] == max(t["value"] for t in tuned["trials"])
    assert len(list((out / "trials").glob("*/trial_*/trial.json"))) == 2
    best = tuned["best_hyperparameters"]
    card = json.loads((out / "models" / "model_card.json").read_text())
    assert card["hyperparameters"] == best
    # the final fit is exactly the run the best values give with the search off
    filters = [max(4, round(f * best["width"] / 4) * 4) for f in TINY["filters"]]
    direct = run(small_pipeline, tmp_path, "direct", learning_rate=best["learning_rate"], dropout=best["dropout"],
                 filters=filters)
    again = json.loads((direct / "metrics.json").read_text())
    assert again["test"] == metrics["test"] and again["parameters"] == metrics["parameters"]
    assert again["tuner"]["max_trials"] == 0


def test_baseline_predictions_of_other_images_are_an_error(small_pipeline, tmp_path):
    baseline_csv = tmp_path / "other.csv"
    pd.DataFrame({"image_id": ["x1", "x2"], "predicted": ["nv", "nv"]}).to_csv(baseline_csv, index=False)
    with pytest.raises(SystemExit) as exit_code:
        run(small_pipeline, tmp_path, "other", baseline_csv, epochs=1)  # fails before training
    assert exit_code.value.code == 2
    assert not (tmp_path / "other" / "metrics.json").exists()


MIRRORED = """
import json, numpy as np, pandas as pd, cv2, pathlib, sys
from skinlab import distribute
distribute.use_logical_cpus(2)          # before TensorFlow touches a device
from skinlab import cnn_train
from skinlab.data import tfdata
from skinlab.params import TrainCnn
root = pathlib.Path(sys.argv[1]); (root / "images").mkdir()
rows = []
for i in range(28):
    dx = ("nv", "mel")[i % 2]
    cv2.imwrite(str(root / f"images/{i}.png"), np.full((20, 20, 3), 40 if dx == "mel" else 200, np.uint8))
    rows.append({"image": f"images/{i}.png", "dx": dx})
table = tfdata.table(root, pd.DataFrame(rows))
strategy = distribute.strategy("mirrored")
cfg = TrainCnn(image_size=16, filters=(4,), epochs=2, batch_size=8, warmup_epochs=0, tta=False, weight_average=0.9)
result = cnn_train.train(cfg, table, table, seed=0, strategy=strategy)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "curve": result.curve}))
"""


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    """A fresh interpreter, so the CPU is split before TensorFlow initialises."""
    done = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert len(result["curve"]) == 2 and all(np.isfinite(row["loss"]) for row in result["curve"])


def test_multi_worker_without_tf_config_says_what_is_missing(monkeypatch):
    from skinlab import distribute

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(distribute.StrategyError, match="TF_CONFIG"):
        distribute.strategy("multi_worker")

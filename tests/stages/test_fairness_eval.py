"""fairness_eval's main() on the small synthetic pipeline, with made-up model predictions and
skin tones: the per-group report, small groups, data without true types, bad inputs named, and
the mitigation retraining train_cnn's recipe."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from skinlab import io, skintone
from skinlab.data import tfdata
from skinlab.data.schema import CLASSES
from stages import fairness_eval, train_cnn
from tests.helpers import write_params
from tests.stages.conftest import SMALL

PROBABILITIES = [f"p_{c}" for c in CLASSES]


def split_frames(small_pipeline):
    return {s: pd.read_csv(small_pipeline["split"] / f"{s}.csv", dtype=str, keep_default_na=False)
            for s in ("train", "val", "test")}


def tone_table(frames, true_types=True, seed=0):
    """Estimated ITA = the image's true ITA + noise, as skin_tone_classify would write it."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, frame in frames.items():
        for row in frame.itertuples():
            ita = float(row.ita) + rng.normal(0, 6)
            rows.append({"image_id": row.image_id, "lesion_id": row.lesion_id, "split": split, "ita": ita,
                         "band": skintone.BANDS[skintone.band_index(ita)],
                         "fitzpatrick": skintone.fitzpatrick_from_ita(ita),
                         "true_fitzpatrick": int(row.fitzpatrick) if true_types else None})
    return pd.DataFrame(rows)


def prediction_table(test, skill, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(test), len(CLASSES)))
    logits[np.arange(len(test)), [CLASSES.index(dx) for dx in test["dx"]]] += skill
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = test[["image_id", "lesion_id", "dx"]].copy()
    frame[PROBABILITIES] = np.round(proba, 6)
    frame["predicted"] = np.array(CLASSES)[proba.argmax(axis=1)]
    return frame


@pytest.fixture
def inputs(small_pipeline, tmp_path):
    frames = split_frames(small_pipeline)
    paths = {"cnn": tmp_path / "cnn.csv", "baseline": tmp_path / "baseline.csv", "tones": tmp_path / "skin_tone.csv",
             "cnn_metrics": tmp_path / "train_cnn.json", "baseline_metrics": tmp_path / "train_baselines.json"}
    prediction_table(frames["test"], 3.0, 1).to_csv(paths["cnn"], index=False)
    prediction_table(frames["test"], 1.5, 2).to_csv(paths["baseline"], index=False)
    tone_table(frames).to_csv(paths["tones"], index=False)
    io.write_json(paths["cnn_metrics"], {"arch": "compact", "image_size": 24, "tuner": None})
    io.write_json(paths["baseline_metrics"], {"best": {"features": "lbp", "model": "forest"}})
    return paths, frames


def run(small_pipeline, paths, out, **fairness):
    params = write_params(out.parent / f"{out.name}.yaml", **{**SMALL, "fairness_eval": {**SMALL["fairness_eval"], **fairness}})
    fairness_eval.main(["--params", str(params), "--cnn", str(paths["cnn"]), "--cnn-metrics", str(paths["cnn_metrics"]),
                        "--baseline", str(paths["baseline"]), "--baseline-metrics", str(paths["baseline_metrics"]),
                        "--tones", str(paths["tones"]), "--raw", str(small_pipeline["raw"]),
                        "--split", str(small_pipeline["split"]),
                        "--raw-metrics", str(small_pipeline["metrics"] / "download.json"),
                        "--out", str(out / "models"), "--metrics", str(out / "metrics.json"), "--plots", str(out / "plots")])
    return json.loads((out / "metrics.json").read_text())


def test_every_group_of_every_grouping_is_reported_and_small_ones_flagged(small_pipeline, inputs, tmp_path, caplog):
    paths, frames = inputs
    with caplog.at_level(logging.WARNING, logger="fairness_eval"):
        metrics = run(small_pipeline, paths, tmp_path / "out", mitigation={"method": "none"})
    test = frames["test"]
    assert metrics["test_images"] == len(test) and metrics["trained_on"] == "'synthetic' data"
    assert set(metrics["models"]) == {"cnn", "baseline"} and metrics["mitigation"] == {"method": "none"}
    assert metrics["models"]["baseline"]["name"] == "lbp+forest" and metrics["models"]["cnn"]["name"] == "CNN compact 24 px"
    tones = pd.read_csv(paths["tones"]).set_index("image_id").loc[test["image_id"]]
    for name in ("cnn", "baseline"):
        by = metrics["models"][name]["by"]
        assert set(by) == {"ita_band", "fitzpatrick_estimated", "fitzpatrick_true"}
        counts = tones["band"].value_counts()
        assert {g: e["n"] for g, e in by["ita_band"]["groups"].items()} == counts.to_dict()  # nobody dropped
        assert sum(e["n"] for e in by["fitzpatrick_true"]["groups"].values()) == len(test)
        for grouping in by.values():
            small = [g for g, e in grouping["groups"].items() if e["n"] < 8]
            assert sorted(grouping["small"]) == sorted(small) and not set(small) & set(grouping["judged"])
            for metric, gap in grouping["gaps"].items():
                if gap["gap"] is not None:
                    assert gap["best"] in grouping["judged"] and gap["worst"] in grouping["judged"]
                    assert gap["gap"] == pytest.approx(grouping["groups"][gap["best"]][metric]
                                                       - grouping["groups"][gap["worst"]][metric])
        overall = metrics["models"][name]["overall"]
        assert overall["n"] == len(test) and overall["balanced_accuracy_ci95"][0] <= overall["balanced_accuracy"]
    warned = [r.getMessage() for r in caplog.records if "below min_group_size" in r.getMessage()]
    assert warned == metrics["warnings"] and warned  # the dark and brown groups of this small set
    assert set(metrics["estimate_vs_truth"]["cnn"]) == {"accuracy", "balanced_accuracy", "macro_f1",
                                                         "melanoma_sensitivity", "malignant_auc"}
    assert 0.5 < metrics["estimate_on_test"]["within_one"] <= 1 and metrics["estimate_on_test"]["n"] == len(test)
    plots = tmp_path / "out" / "plots"
    bars = json.loads((plots / "groups.json").read_text())
    assert bars and all(set(bar) == {"bar", "balanced_accuracy", "ci_low", "ci_high"} for bar in bars)
    curve = pd.read_csv(plots / "accuracy_vs_ita.csv")
    assert set(curve["model"]) == {"cnn", "baseline"} and curve.groupby("model")["n"].sum().eq(len(test)).all()
    assert (plots / "groups.png").stat().st_size > 0 and (plots / "accuracy_vs_ita.png").stat().st_size > 0


def test_data_without_true_types_is_grouped_by_the_estimate_only(small_pipeline, inputs, tmp_path, capsys):
    paths, frames = inputs
    tone_table(frames, true_types=False).to_csv(paths["tones"], index=False)
    metrics = run(small_pipeline, paths, tmp_path / "out", mitigation={"method": "none"})
    assert metrics["groupings"]["fitzpatrick_true"] == {"available": False,
                                                        "reason": "no test image has a true_fitzpatrick value"}
    assert set(metrics["models"]["cnn"]["by"]) == {"ita_band", "fitzpatrick_estimated"}
    assert metrics["estimate_vs_truth"] is None and metrics["estimate_on_test"] is None
    with pytest.raises(SystemExit) as stop:
        run(small_pipeline, paths, tmp_path / "again", mitigation={"grouping": "fitzpatrick_true"})
    assert stop.value.code == 2
    assert "fairness_eval.mitigation.grouping is 'fitzpatrick_true'" in capsys.readouterr().err


def test_inputs_that_do_not_fit_are_named(small_pipeline, inputs, tmp_path, capsys):
    paths, frames = inputs
    tones = pd.read_csv(paths["tones"])
    missing = frames["test"]["image_id"].iloc[3]
    tones[tones["image_id"] != missing].to_csv(paths["tones"], index=False)
    with pytest.raises(SystemExit):
        run(small_pipeline, paths, tmp_path / "out", mitigation={"method": "none"})
    assert f"no row for test image '{missing}'" in capsys.readouterr().err
    prediction_table(frames["test"].iloc[1:], 1.0, 3).to_csv(paths["baseline"], index=False)
    with pytest.raises(SystemExit):
        run(small_pipeline, paths, tmp_path / "out", mitigation={"method": "none"})
    assert "predict different test images" in capsys.readouterr().err
    prediction_table(frames["test"], 1.0, 3).to_csv(paths["baseline"], index=False)
    paths["cnn_metrics"].unlink()
    with pytest.raises(SystemExit):
        run(small_pipeline, paths, tmp_path / "out")
    assert "train_cnn.json: not found (the metrics of train_cnn; run `dvc repro train_cnn`)" in capsys.readouterr().err


def test_mitigation_retrains_the_cnn_with_balanced_skin_tone_weights_bit_for_bit(small_pipeline, inputs, tmp_path):
    paths, frames = inputs
    first = run(small_pipeline, paths, tmp_path / "first")
    second = run(small_pipeline, paths, tmp_path / "second")
    assert first == second  # the retraining is as deterministic as train_cnn
    assert set(first["models"]) == {"cnn", "baseline", "cnn_reweighed"}
    mitigation = first["mitigation"]
    assert mitigation["method"] == "reweigh" and mitigation["grouping"] == "ita_band" and mitigation["epochs_run"] == 2
    train = frames["train"].merge(pd.read_csv(paths["tones"]), on="image_id")
    assert mitigation["train_images"] == {band: int(n) for band, n in train["band"].value_counts().items()}
    labels = np.array([CLASSES.index(dx) for dx in train["dx"]])
    loss = tfdata.class_weights(labels, "sqrt")[labels] * train["band"].map(mitigation["weights"]).to_numpy()
    totals = pd.Series(loss).groupby(train["band"].to_numpy()).sum()
    np.testing.assert_allclose(totals, totals.iloc[0], rtol=1e-4)  # every band carries the same share of the loss
    assert mitigation["loss_share"] == pytest.approx((totals / totals.sum()).to_dict(), rel=1e-4)
    assert mitigation["capped"] == [] and mitigation["hyperparameters"]["tuned"] is False
    reweighed = pd.read_csv(tmp_path / "first" / "models" / "test_predictions.csv", dtype={"image_id": str})
    assert list(reweighed["image_id"]) == list(frames["test"]["image_id"])
    np.testing.assert_allclose(reweighed[PROBABILITIES].sum(axis=1), 1, atol=1e-4)
    for grouping, table in mitigation["before_after"].items():
        gap = table["balanced_accuracy"]
        assert gap["gap_before"] == first["models"]["cnn"]["by"][grouping]["gaps"]["balanced_accuracy"]["gap"]
        assert gap["gap_after"] == first["models"]["cnn_reweighed"]["by"][grouping]["gaps"]["balanced_accuracy"]["gap"]
        assert gap["overall_after"] == first["models"]["cnn_reweighed"]["overall"]["balanced_accuracy"]


def test_with_one_skin_tone_group_the_mitigation_is_train_cnn_again(small_pipeline, inputs, tmp_path):
    """Balancing a single group changes no weight: the retrained CNN must then give train_cnn's
    own test probabilities, which proves the retraining is train_cnn's recipe and not another."""
    paths, frames = inputs
    params = write_params(tmp_path / "cnn.yaml", **SMALL)
    cnn = tmp_path / "cnn"
    train_cnn.main(["--params", str(params), "--raw", str(small_pipeline["raw"]), "--split", str(small_pipeline["split"]),
                    "--raw-metrics", str(small_pipeline["metrics"] / "download.json"),
                    "--baselines", str(tmp_path / "absent.csv"), "--baseline-metrics", str(tmp_path / "absent.json"),
                    "--out", str(cnn / "models"), "--trials", str(cnn / "trials"), "--metrics", str(cnn / "metrics.json"),
                    "--plots", str(cnn / "plots")])
    paths["cnn"], paths["cnn_metrics"] = cnn / "models" / "test_predictions.csv", cnn / "metrics.json"
    tones = pd.read_csv(paths["tones"]).assign(ita=45.0, band="light", fitzpatrick=2)
    tones.to_csv(paths["tones"], index=False)
    metrics = run(small_pipeline, paths, tmp_path / "out")
    assert metrics["mitigation"]["weights"] == {"light": 1.0}
    ours = pd.read_csv(tmp_path / "out" / "models" / "test_predictions.csv")
    theirs = pd.read_csv(paths["cnn"])
    assert list(ours["image_id"]) == list(theirs["image_id"])
    np.testing.assert_allclose(ours[PROBABILITIES], theirs[PROBABILITIES], atol=2e-6)

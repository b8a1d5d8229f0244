"""segment's main() on the small synthetic pipeline: outputs and their schema, the choice on val,
byte-identical metrics on a rerun, and bad masks named."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinlab import io
from skinlab.evaluation.segmentation import METRICS
from stages import segment
from tests.helpers import keras_offline, write_params
from tests.stages.conftest import SMALL


def run(paths, out, params=None, raw=None, split=None):
    segment.main(["--params", str(params or paths["params"]), "--raw", str(raw or paths["raw"]),
                  "--split", str(split or paths["split"]), "--out", str(out / "segment"), "--model", str(out / "model"),
                  "--raw-metrics", str(paths["metrics"] / "download.json"),
                  "--metrics", str(out / "metrics.json"), "--plots", str(out / "plots")])
    return out


def split_index(paths, split):
    return pd.read_csv(paths["split"] / f"{split}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def first(small_pipeline, tmp_path_factory):
    return run(small_pipeline, tmp_path_factory.mktemp("segment_first"))


def test_masks_for_every_image_at_its_size_and_the_index(small_pipeline, first):
    index = pd.read_csv(first / "segment" / "index.csv", dtype=str, keep_default_na=False)
    assert list(index.columns) == ["image_id", "split", "mask", "method"]
    metrics = json.loads((first / "metrics.json").read_text())
    expected = pd.concat([split_index(small_pipeline, s).assign(split=s) for s in ("train", "val", "test")])
    assert list(index["image_id"]) == list(expected["image_id"]) and list(index["split"]) == list(expected["split"])
    assert (index["method"] == metrics["chosen"]["method"]).all()
    assert sorted(p.name for p in (first / "segment" / "masks").iterdir()) == sorted(f"{i}.png" for i in index["image_id"])
    assert not (first / "segment" / "candidates").exists()
    for row, source in zip(index.itertuples(), expected.itertuples()):
        mask = io.read_mask(first / "segment" / row.mask)
        assert mask.shape == io.read_image(small_pipeline["raw"] / source.image).shape[:2], row.image_id
    assert set(np.unique(mask)) <= {0, 255}
    counts = metrics["images"]
    assert counts["segmented"]["total"] == len(index)
    assert counts["segmented"]["train"] == len(split_index(small_pipeline, "train"))
    assert counts["without_ground_truth"]["total"] == 0  # every synthetic image has its mask
    assert "segmented but not scored" in counts["note"]


def test_scores_metrics_and_the_choice_on_val(small_pipeline, first):
    metrics = json.loads((first / "metrics.json").read_text())
    methods = ["otsu", "kmeans", "grabcut", "unet"]
    assert list(metrics["methods"]) == sorted(methods)
    scores = pd.read_csv(first / "plots" / "scores.csv", dtype={"image_id": str, "lesion_id": str})
    assert list(scores.columns) == ["image_id", "lesion_id", "split", "method", *METRICS]
    scored = {s: split_index(small_pipeline, s) for s in ("val", "test")}
    assert len(scores) == sum(len(frame[frame["mask"] != ""]) for frame in scored.values()) * len(methods)
    for split, frame in scored.items():
        part = scores[(scores["split"] == split) & (scores["method"] == "otsu")]
        assert list(part["image_id"]) == list(frame["image_id"])
        assert list(part["lesion_id"]) == list(frame["lesion_id"])
    for name in methods:
        for split in ("val", "test"):
            entry = metrics["methods"][name][split]
            part = scores[(scores["method"] == name) & (scores["split"] == split)]
            assert entry["n_images_scored"] == len(part) == metrics["images"]["scored"][split]
            for metric in METRICS:
                low, high = entry[metric]["ci95"]
                assert entry[metric]["mean"] == pytest.approx(part[metric].mean())
                assert 0 <= low <= entry[metric]["mean"] <= high <= 1, (name, split, metric)
    val_dice = {name: metrics["methods"][name]["val"]["dice"]["mean"] for name in methods}
    chosen = metrics["chosen"]
    assert chosen["method"] == max(methods, key=lambda name: val_dice[name])
    assert chosen["on"] == "val" and chosen["by"] == "dice" and chosen["val"] == val_dice[chosen["method"]]
    assert chosen["test"]["dice"] == metrics["methods"][chosen["method"]]["test"]["dice"]["mean"]
    assert chosen["test"]["dice"] > 0.5  # the synthetic lesions are found, not missed
    bars = json.loads((first / "plots" / "methods.json").read_text())
    assert {(r["method"], r["split"]) for r in bars} == {(m, s) for m in methods for s in ("val", "test")}
    assert all(r["dice"] == metrics["methods"][r["method"]][r["split"]]["dice"]["mean"] for r in bars)
    assert (first / "plots" / "overlays.png").stat().st_size > 10_000


def test_the_unet_is_trained_on_train_stopped_on_val_saved_and_described(small_pipeline, first):
    metrics = json.loads((first / "metrics.json").read_text())
    train, val = split_index(small_pipeline, "train"), split_index(small_pipeline, "val")
    trained = metrics["unet_training"]
    assert (trained["train_images"], trained["val_images"]) == (len(train), len(val))
    curve = pd.read_csv(first / "plots" / "unet_training.csv")
    assert list(curve.columns) == ["epoch", "learning_rate", "loss", "val_dice"]
    assert trained["epochs"] == len(curve) <= SMALL["segment"]["unet"]["epochs"]
    assert trained["best_epoch"] == 1 + int(curve["val_dice"].idxmax())
    assert trained["best_val_dice"] == pytest.approx(curve["val_dice"].max())
    card = json.loads((first / "model" / "card.json").read_text())
    assert card["chosen"] == metrics["chosen"]["method"] and card["test"] == metrics["chosen"]["test"]
    assert card["unet"]["file"] == "unet.keras" and card["unet"]["image_size"] == 32
    assert "Not a medical device" in card["disclaimer"] and "data source 'synthetic'" in card["trained_on"]
    assert card["params"]["unet"]["epochs"] == 2
    # the saved model, loaded again, gives each test image the Dice the stage scored
    from skinlab import unet_train
    from skinlab.evaluation.segmentation import dice

    assert (card["unet"]["tta"], card["unet"]["clean"]) == ("flips", True)  # the defaults
    segmenter = unet_train.load(first / "model" / "unet.keras", card["unet"]["threshold"], card["unet"]["tta"],
                                card["unet"]["clean"])
    scores = pd.read_csv(first / "plots" / "scores.csv", dtype={"image_id": str})
    scores = scores[(scores["method"] == "unet") & (scores["split"] == "test")].set_index("image_id")
    for row in split_index(small_pipeline, "test").head(5).itertuples():
        predicted = segmenter(io.read_image(small_pipeline["raw"] / row.image))
        assert dice(io.read_mask(small_pipeline["raw"] / row.mask), predicted) == pytest.approx(scores.loc[row.image_id, "dice"])


def test_without_train_masks_the_unet_is_left_out_or_refused_when_alone(small_pipeline, copied, tmp_path, capsys,
                                                                        caplog):
    raw, split, _ = copied
    train = split_index(small_pipeline, "train")
    train["mask"] = ""
    train.to_csv(split / "train.csv", index=False)
    n_val = len(split_index(small_pipeline, "val"))
    both = write_params(tmp_path / "both.yaml", **{**SMALL, "segment": {**SMALL["segment"], "methods": ["otsu", "unet"]}})
    out = run(small_pipeline, tmp_path / "both", both, raw, split)
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["otsu"] and metrics["chosen"]["method"] == "otsu"
    assert metrics["unet_training"] == {"skipped": f"unet left out: it needs train and val images with a ground-truth "
                                                   f"mask, found 0 train and {n_val} val"}
    assert any("unet left out" in record.getMessage() for record in caplog.records)
    assert not (out / "model" / "unet.keras").exists() and (out / "segment" / "index.csv").is_file()
    alone = write_params(tmp_path / "alone.yaml", **{**SMALL, "segment": {**SMALL["segment"], "methods": ["unet"]}})
    with pytest.raises(SystemExit) as stopped:
        run(small_pipeline, tmp_path / "alone", alone, raw, split)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "segment.methods lists only unet" in err and f"found 0 train and {n_val} val" in err
    assert "list a classical method in segment.methods in params.yaml" in err
    assert not (tmp_path / "alone" / "segment").exists() and not (tmp_path / "alone" / "model").exists()


def test_a_second_run_writes_byte_identical_metrics(small_pipeline, first, tmp_path):
    again = run(small_pipeline, tmp_path)
    assert (again / "metrics.json").read_bytes() == (first / "metrics.json").read_bytes()
    assert (again / "plots" / "scores.csv").read_bytes() == (first / "plots" / "scores.csv").read_bytes()
    assert (again / "segment" / "index.csv").read_bytes() == (first / "segment" / "index.csv").read_bytes()
    assert (again / "plots" / "unet_training.csv").read_bytes() == (first / "plots" / "unet_training.csv").read_bytes()


@pytest.fixture
def copied(small_pipeline, tmp_path):
    """A copy of data/raw and data/split to break, and params with Otsu only (fast)."""
    raw, split = tmp_path / "raw", tmp_path / "split"
    shutil.copytree(small_pipeline["raw"], raw)
    shutil.copytree(small_pipeline["split"], split)
    params = write_params(tmp_path / "params.yaml", **{**SMALL, "segment": {**SMALL["segment"], "methods": ["otsu"]}})
    return raw, split, params


def test_an_image_without_ground_truth_is_segmented_not_scored_and_mlflow_gets_the_run(small_pipeline, copied, tmp_path,
                                                                                      mlflow_store):
    raw, split, params = copied
    val = split_index(small_pipeline, "val")
    val.loc[0, "mask"] = ""
    val.to_csv(split / "val.csv", index=False)
    out = run(small_pipeline, tmp_path / "out", params, raw, split)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"]["without_ground_truth"] == {"train": 0, "val": 1, "test": 0, "total": 1}
    assert metrics["methods"]["otsu"]["val"]["n_images_scored"] == len(val) - 1
    assert (out / "segment" / "masks" / f"{val.loc[0, 'image_id']}.png").is_file()
    scores = pd.read_csv(out / "plots" / "scores.csv", dtype={"image_id": str})
    assert val.loc[0, "image_id"] not in set(scores["image_id"])
    assert metrics["chosen"] == {**metrics["chosen"], "method": "otsu", "on": "val"}
    import mlflow

    client = mlflow.MlflowClient(mlflow_store)
    [stage_run] = client.search_runs([client.get_experiment_by_name("skinlab").experiment_id],
                                     "attributes.run_name = 'segment'")
    assert stage_run.data.params["segment.methods"] == "otsu" and stage_run.data.params["base.seed"] == "42"
    assert stage_run.data.metrics["chosen.test.dice"] == pytest.approx(metrics["chosen"]["test"]["dice"])
    assert stage_run.data.metrics["images.without_ground_truth.val"] == 1
    assert [a.path for a in client.list_artifacts(stage_run.info.run_id)] == ["overlays.png"]
    assert stage_run.data.metrics["seconds_per_image_otsu"] > 0
    card = json.loads((out / "model" / "card.json").read_text())
    assert card["unet"] is None and not (out / "model" / "unet.keras").exists()
    assert pd.read_csv(out / "plots" / "unet_training.csv").empty


def test_a_missing_mask_file_is_named_and_nothing_is_written(small_pipeline, copied, tmp_path, capsys):
    raw, split, params = copied
    victim = raw / split_index(small_pipeline, "test").loc[2, "mask"]
    victim.unlink()
    with pytest.raises(SystemExit) as stopped:
        run(small_pipeline, tmp_path / "out", params, raw, split)
    assert stopped.value.code == 2
    assert f"{victim}: mask file not found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "segment").exists() and not (tmp_path / "out" / "metrics.json").exists()


def test_a_mask_of_another_size_is_named(small_pipeline, copied, tmp_path, capsys):
    raw, split, params = copied
    victim = raw / split_index(small_pipeline, "val").loc[1, "mask"]
    victim.write_bytes(io.encode_image(np.zeros((10, 12), np.uint8), ".png"))
    with pytest.raises(SystemExit) as stopped:
        run(small_pipeline, tmp_path / "out", params, raw, split)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"{victim}: mask is 12x10, its image" in err and "segment: error:" in err
    assert not (tmp_path / "out" / "segment").exists() and not (tmp_path / "out" / "metrics.json").exists()


def test_a_pretrained_encoder_offline_stops_at_once_naming_the_param(small_pipeline, copied, tmp_path, capsys,
                                                                     monkeypatch):
    raw, split, _ = copied
    calls = keras_offline(monkeypatch, tmp_path)
    unet = {**SMALL["segment"]["unet"], "encoder": "mobilenet_v3_small", "weights": "imagenet"}
    params = write_params(tmp_path / "unet.yaml", **{**SMALL, "segment": {**SMALL["segment"], "methods": ["unet"],
                                                                          "unet": unet}})
    with pytest.raises(SystemExit) as stopped:
        run(small_pipeline, tmp_path / "out", params, raw, split)
    assert stopped.value.code == 2 and len(calls) == 1
    err = capsys.readouterr().err
    assert err.startswith("segment: error:") and "offline" in err and "segment.unet.weights: none" in err
    assert not (tmp_path / "out" / "segment").exists() and not (tmp_path / "out" / "model").exists()


def test_pretraining_fits_otsus_masks_of_unlabelled_images_then_fine_tunes_from_them(small_pipeline, copied, tmp_path,
                                                                                     monkeypatch, mlflow_store):
    from skinlab import unet_train

    raw, split, _ = copied
    train, test = split_index(small_pipeline, "train"), split_index(small_pipeline, "test")
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for i, row in enumerate(train.head(10).itertuples()):
        shutil.copy(raw / row.image, unlabelled / f"new_{i}.png")  # the same pixels, as other lesions' images
    shutil.copy(raw / test.loc[0, "image"], unlabelled / f"{test.loc[0, 'image_id']}.png")  # a labelled image
    shutil.copy(raw / test.loc[1, "image"], unlabelled / "other_view.png")  # another image of a labelled lesion
    (unlabelled / "metadata.csv").write_text(f"image_id,lesion_id\nother_view,{test.loc[1, 'lesion_id']}\n")
    pretrain = {"images": str(unlabelled), "epochs": 3, "learning_rate": 0.01}
    params = write_params(tmp_path / "pre.yaml", **{**SMALL, "segment": {
        **SMALL["segment"], "methods": ["otsu", "unet"], "unet": {**SMALL["segment"]["unet"], "pretrain": pretrain}}})
    fits, real_fit = [], unet_train.fit

    def spy(cfg, train_pairs, val_pairs, seed, run=None, initial_weights=None, log_prefix="unet"):
        result = real_fit(cfg, train_pairs, val_pairs, seed, run, initial_weights, log_prefix)
        fits.append({"cfg": cfg, "train": train_pairs, "initial": initial_weights, "prefix": log_prefix,
                     "weights": result.model.get_weights()})
        return result

    monkeypatch.setattr(unet_train, "fit", spy)
    out = run(small_pipeline, tmp_path / "out", params, raw, split)
    pre, tuned = fits
    assert [p.rsplit("/", 1)[-1] for p in pre["train"][0]] == [f"new_{i}.png" for i in range(10)]
    assert all("skinlab-pretrain-" in p for p in pre["train"][1])  # Otsu's masks, in a scratch folder
    assert (pre["cfg"].epochs, pre["cfg"].learning_rate, pre["prefix"], pre["initial"]) == (3, 0.01, "unet_pretrain", None)
    assert tuned["cfg"] == pre["cfg"].model_copy(update={"epochs": 2, "patience": 2, "learning_rate": 0.003})
    assert tuned["train"][0] == [str(raw / image) for image in train["image"]]
    assert all(np.array_equal(a, b) for a, b in zip(tuned["initial"], pre["weights"]))  # fine-tuned from them
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["unet_training"]["pretraining"]
    assert summary == {**summary, "images": str(unlabelled), "image_files": 12, "left_out_labelled_images": 1,
                       "left_out_labelled_lesions": 1, "no_lesion_found": 0, "pretrained_on": 10, "epochs": 3}
    curve = pd.read_csv(out / "plots" / "unet_pretraining.csv")
    assert len(curve) == 3 and len(pd.read_csv(out / "plots" / "unet_training.csv")) == 2 and summary["best_val_dice"] == pytest.approx(curve["val_dice"].max())
    card = json.loads((out / "model" / "card.json").read_text())
    assert card["unet"]["pretrained"] == summary and card["params"]["unet"]["pretrain"] == {**pretrain, "limit": 0}
    assert not any(Path(mask).exists() for mask in pre["train"][1])  # the scratch folder is gone
    import mlflow

    client = mlflow.MlflowClient(mlflow_store)
    [stage_run] = client.search_runs([client.get_experiment_by_name("skinlab").experiment_id],
                                     "attributes.run_name = 'segment'")
    history = client.get_metric_history(stage_run.info.run_id, "unet_pretrain_val_dice")
    assert [m.value for m in history] == pytest.approx(list(curve["val_dice"]))
    assert stage_run.data.metrics["unet_pretrain_seconds"] > 0


def test_members_average_several_unets_into_the_saved_model(small_pipeline, first, tmp_path, mlflow_store):
    from skinlab import unet_train
    from skinlab.evaluation.segmentation import dice
    from skinlab.params import load as load_params

    params = write_params(tmp_path / "members.yaml", **{**SMALL, "segment": {
        **SMALL["segment"], "methods": ["otsu", "unet"], "unet": {**SMALL["segment"]["unet"], "members": 2}}})
    out = run(small_pipeline, tmp_path / "out", params)
    trained = json.loads((out / "metrics.json").read_text())["unet_training"]
    curve = pd.read_csv(out / "plots" / "unet_training.csv")
    single = pd.read_csv(first / "plots" / "unet_training.csv")
    assert list(curve.columns) == ["member", "epoch", "learning_rate", "loss", "val_dice"]
    one = curve[curve["member"] == 1].drop(columns="member").reset_index(drop=True)
    pd.testing.assert_frame_equal(one, single)  # member 1 is the single U-Net of the same params (base.seed)
    two = curve[curve["member"] == 2]
    seed = load_params(params).base.seed
    assert [m["seed"] for m in trained["members"]] == [seed, seed + 1]
    assert trained["members"][1]["best_val_dice"] == pytest.approx(two["val_dice"].max())
    assert trained["best_epoch"] is None and trained["epochs"] == len(curve)
    card = json.loads((out / "model" / "card.json").read_text())
    assert card["unet"]["members"] == 2 and card["params"]["unet"]["members"] == 2
    segmenter = unet_train.load(out / "model" / "unet.keras", card["unet"]["threshold"], card["unet"]["tta"],
                                card["unet"]["clean"])
    assert [layer.name for layer in segmenter.model.layers[1:3]] == ["member1", "member2"]
    scores = pd.read_csv(out / "plots" / "scores.csv", dtype={"image_id": str})
    scores = scores[(scores["method"] == "unet") & (scores["split"] == "test")].set_index("image_id")
    for row in split_index(small_pipeline, "test").head(3).itertuples():
        predicted = segmenter(io.read_image(small_pipeline["raw"] / row.image))
        assert dice(io.read_mask(small_pipeline["raw"] / row.mask), predicted) == pytest.approx(scores.loc[row.image_id, "dice"])
    import mlflow

    client = mlflow.MlflowClient(mlflow_store)
    [stage_run] = client.search_runs([client.get_experiment_by_name("skinlab").experiment_id],
                                     "attributes.run_name = 'segment'")
    history = client.get_metric_history(stage_run.info.run_id, "unet_member2_val_dice")
    assert [m.value for m in history] == pytest.approx(list(two["val_dice"]))

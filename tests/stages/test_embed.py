"""embed's main() on the small synthetic pipeline with a tiny (untrained) CNN: the metrics and
plots of every map, a rerun identical, the max_points cap, and missing or bad inputs named."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from skinlab import io, skintone
from skinlab.data.schema import CLASSES
from stages import embed
from tests.helpers import write_params
from tests.stages.conftest import SMALL

SCORES = {"trustworthiness", "knn_accuracy", "knn_balanced_accuracy", "silhouette_class", "knn_accuracy_skin_tone",
          "knn_balanced_accuracy_skin_tone", "silhouette_skin_tone", "seconds"}


@pytest.fixture(scope="module")
def inputs(small_pipeline, tmp_path_factory):
    """A compact CNN at 24 px saved as train_cnn would (model.keras + card), and a skin-tone table."""
    import keras

    from skinlab.models import cnn

    root = tmp_path_factory.mktemp("embed_inputs")
    keras.utils.set_random_seed(0)
    model = cnn.build("compact", 24, len(CLASSES), filters=(8, 16))
    (root / "cnn").mkdir()
    model.save(root / "cnn" / "model.keras")
    io.write_json(root / "cnn" / "model_card.json", {"image_size": 24, "metadata": []})
    rows = []
    for split in ("train", "val", "test"):
        frame = pd.read_csv(small_pipeline["split"] / f"{split}.csv", dtype=str, keep_default_na=False)
        for row in frame.itertuples():
            rows.append({"image_id": row.image_id, "band": skintone.BANDS[skintone.band_index(float(row.ita))]})
    pd.DataFrame(rows).to_csv(root / "skin_tone.csv", index=False)
    return {"cnn": root / "cnn", "tones": root / "skin_tone.csv"}


def run(small_pipeline, inputs, out, tones=None, cnn=None, **section):
    defaults = {"train_points": 40, "tsne": {"max_iter": 250}}
    params = write_params(out.parent / f"{out.name}.yaml", **{**SMALL, "embed": {**defaults, **section}})
    embed.main(["--params", str(params), "--raw", str(small_pipeline["raw"]), "--split", str(small_pipeline["split"]),
                "--augmented", str(small_pipeline["augmented"]), "--cnn", str(cnn or inputs["cnn"]),
                "--tones", str(tones or inputs["tones"]), "--raw-metrics", str(small_pipeline["metrics"] / "download.json"),
                "--metrics", str(out / "embed.json"), "--plots", str(out / "plots")])
    return json.loads((out / "embed.json").read_text())


def test_every_representation_and_method_is_mapped_scored_and_plotted(small_pipeline, inputs, tmp_path):
    metrics = run(small_pipeline, inputs, tmp_path / "a")
    test = pd.read_csv(small_pipeline["split"] / "test.csv")
    assert metrics["points"]["test"] == metrics["points"]["scored"] == len(test)
    assert metrics["points"]["train"] == 40 and metrics["points"]["subsampled"] is False
    assert set(metrics["projections"]) == {"pixels", "features", "cnn"}
    for rep, methods in metrics["projections"].items():
        assert set(methods) == {"pca", "tsne", "umap"}
        for method, scores in methods.items():
            assert set(scores) == SCORES, (rep, method)
            assert 0.5 < scores["trustworthiness"] <= 1.0
            assert 0.0 <= scores["knn_accuracy"] <= 1.0 and -1.0 <= scores["silhouette_class"] <= 1.0
            assert scores["knn_accuracy_skin_tone"] is not None and scores["seconds"] >= 0
    dims = {rep: entry["dim"] for rep, entry in metrics["representations"].items()}
    assert dims["pixels"] == 32 * 32 * 3 and dims["cnn"] == 128  # the layer named `embedding`
    assert 0 < metrics["chance"]["class"] < 1
    plots = tmp_path / "a" / "plots"
    assert {p.name for p in plots.iterdir()} == {"by_class.png", "by_skin_tone.png", "pca_variance.png",
                                                  *(f"{m}_{r}.csv" for m in ("pca", "umap") for r in dims)}
    coords = pd.read_csv(plots / "umap_cnn.csv")
    assert list(coords.columns) == ["image_id", "split", "dx", "band", "x", "y"]
    assert len(coords) == metrics["points"]["projected"] and set(test["image_id"]) <= set(coords["image_id"])
    assert (coords["split"] == "train").sum() == 40 and np.isfinite(coords[["x", "y"]].to_numpy()).all()


def test_a_rerun_gives_the_same_maps_and_scores(small_pipeline, inputs, tmp_path):
    kwargs = {"representations": ["pixels", "cnn"], "methods": ["tsne", "umap"]}
    first, second = (run(small_pipeline, inputs, tmp_path / name, **kwargs) for name in ("a", "b"))
    for metrics in (first, second):
        for methods in metrics["projections"].values():
            for scores in methods.values():
                scores.pop("seconds")
    assert first == second
    for name in ("umap_pixels.csv", "umap_cnn.csv"):
        assert (tmp_path / "a" / "plots" / name).read_bytes() == (tmp_path / "b" / "plots" / name).read_bytes()


def test_above_max_points_a_stratified_sample_keeps_every_class_and_says_so(small_pipeline, inputs, tmp_path, caplog):
    test = pd.read_csv(small_pipeline["split"] / "test.csv")
    cap = len(test) // 2 + 20
    with caplog.at_level(logging.WARNING):
        metrics = run(small_pipeline, inputs, tmp_path / "a", representations=["pixels"], methods=["pca"], max_points=cap,
                      score_points=25)
    assert f"above embed.max_points {cap}" in caplog.text
    assert metrics["points"]["projected"] == cap and metrics["points"]["subsampled"] is True
    assert metrics["points"]["scored"] == 25
    coords = pd.read_csv(tmp_path / "a" / "plots" / "pca_pixels.csv")
    assert set(coords.loc[coords["split"] == "test", "dx"]) == set(test["dx"])
    train = pd.read_csv(small_pipeline["split"] / "train.csv")
    assert set(coords.loc[coords["split"] == "train", "dx"]) == set(train["dx"])


def test_without_skin_tones_the_maps_are_made_and_tone_scores_are_empty(small_pipeline, inputs, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        metrics = run(small_pipeline, inputs, tmp_path / "a", tones=tmp_path / "none.csv", representations=["features"],
                      methods=["pca"])
    assert "none.csv not found" in caplog.text
    scores = metrics["projections"]["features"]["pca"]
    assert scores["knn_accuracy_skin_tone"] is None and scores["silhouette_skin_tone"] is None
    assert metrics["chance"]["skin_tone"] is None
    assert set(pd.read_csv(tmp_path / "a" / "plots" / "pca_features.csv")["band"]) == {"unknown"}


def test_a_missing_cnn_is_named_and_nothing_is_written(small_pipeline, inputs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(small_pipeline, inputs, tmp_path / "a", cnn=tmp_path / "no_cnn", methods=["pca"])
    assert exit_info.value.code == 2
    assert "no_cnn/model_card.json: not found (run train_cnn" in capsys.readouterr().err
    assert not (tmp_path / "a" / "embed.json").exists() and not (tmp_path / "a" / "plots").exists()
    # without the cnn representation no model is needed
    metrics = run(small_pipeline, inputs, tmp_path / "b", cnn=tmp_path / "no_cnn", representations=["pixels"], methods=["pca"])
    assert set(metrics["projections"]) == {"pixels"}


def test_a_tone_table_without_its_band_column_is_named(small_pipeline, inputs, tmp_path, capsys):
    bad = tmp_path / "tones.csv"
    pd.read_csv(inputs["tones"]).drop(columns="band").to_csv(bad, index=False)
    with pytest.raises(SystemExit):
        run(small_pipeline, inputs, tmp_path / "a", tones=bad, representations=["pixels"], methods=["pca"])
    assert "tones.csv: missing column(s) band" in capsys.readouterr().err


def test_a_params_typo_in_embed_is_named(small_pipeline, inputs, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(small_pipeline, inputs, tmp_path / "a", methods=["pca", "tnse"])
    assert "embed.methods" in capsys.readouterr().err


def test_a_cap_below_the_number_of_classes_is_named(small_pipeline, inputs, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(small_pipeline, inputs, tmp_path / "a", train_points=3, representations=["pixels"], methods=["pca"])
    assert "embed.train_points is 3: cannot keep 7 strata (dx) in a sample of 3" in capsys.readouterr().err

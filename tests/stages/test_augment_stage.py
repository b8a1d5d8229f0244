import json

import numpy as np
import pandas as pd
import pytest

from skinlab import io
from stages import augment
from tests.helpers import write_params
from tests.stages.conftest import SMALL


def index(paths, split):
    return pd.read_csv(paths["augmented"] / f"{split}.csv", dtype=str, keep_default_na=False)


def test_every_split_is_resized_and_only_train_is_augmented(small_pipeline):
    paths = small_pipeline
    metrics = json.loads((paths["metrics"] / "augment.json").read_text())
    for split in ("train", "val", "test"):
        frame = index(paths, split)
        source = pd.read_csv(paths["split"] / f"{split}.csv", dtype=str, keep_default_na=False)
        assert metrics[split]["n_images"] == len(frame)
        for row in frame.head(5).itertuples():
            assert io.read_image(paths["augmented"] / row.image).shape == (32, 32, 3)
            assert io.read_mask(paths["augmented"] / row.mask).shape == (32, 32)
        if split != "train":
            assert list(frame["image_id"]) == list(source["image_id"])
            assert (frame["augmented"] == "0").all()
    assert (paths["plots"] / "augment" / "preview.png").exists()


def test_oversampling_reaches_target_and_keeps_labels(small_pipeline):
    paths = small_pipeline
    train = index(paths, "train")
    source = pd.read_csv(paths["split"] / "train.csv", dtype=str, keep_default_na=False).set_index("image_id")
    counts = train["dx"].value_counts()
    assert (counts >= 60).all()
    # Every copy carries the label and lesion of the image it was made from.
    assert (train["dx"].values == source.loc[train["source_image_id"], "dx"].values).all()
    assert (train["lesion_id"].values == source.loc[train["source_image_id"], "lesion_id"].values).all()
    assert train["image_id"].is_unique
    copies = train[train["augmented"] == "1"]
    assert len(copies) == len(train) - len(source)


def test_augmented_masks_move_with_images(small_pipeline):
    """Where augmentation moved the lesion, the written mask fits the written image better than
    the original (unmoved) mask does: colours inside and outside it differ more."""
    from skinlab.data.preprocess import resize_mask

    paths = small_pipeline
    source = pd.read_csv(paths["split"] / "train.csv", dtype=str, keep_default_na=False).set_index("image_id")
    copies = index(paths, "train").query("augmented == '1'").head(80)

    def contrast(image, mask):
        return np.linalg.norm(image[mask].mean(axis=0) - image[~mask].mean(axis=0))

    wins = []
    for row in copies.itertuples():
        image = io.read_image(paths["augmented"] / row.image).astype(float)
        mask = io.read_mask(paths["augmented"] / row.mask) > 0
        original = resize_mask(io.read_mask(paths["raw"] / source.loc[row.source_image_id, "mask"]), 32) > 0
        iou = (mask & original).sum() / max((mask | original).sum(), 1)
        if iou < 0.8 and mask.any() and (~mask).any() and original.any() and (~original).any():
            wins.append(contrast(image, mask) > contrast(image, original))
    assert len(wins) >= 10
    assert np.mean(wins) > 0.85


def test_same_seed_same_output(small_pipeline, tmp_path):
    paths = small_pipeline
    out = tmp_path / "again"
    augment.main(["--params", str(paths["params"]), "--raw", str(paths["raw"]), "--split", str(paths["split"]), "--out", str(out),
                  "--metrics", str(tmp_path / "a.json"), "--plots", str(tmp_path / "p")])
    first = index(paths, "train")
    assert list(first["image_id"]) == list(pd.read_csv(out / "train.csv", dtype=str)["image_id"])
    copies = first[first["augmented"] == "1"]
    assert len(copies) > 40
    for relative in list(copies["image"].head(40)) + list(copies["mask"].head(40)):
        assert (paths["augmented"] / relative).read_bytes() == (out / relative).read_bytes()


def test_bad_transform_param_fails_before_work(small_pipeline, tmp_path, capsys):
    paths = small_pipeline
    params = write_params(tmp_path / "params.yaml", **{**SMALL, "augment": {"transforms": {"hflip": 1.5}}})
    with pytest.raises(SystemExit):
        augment.main(["--params", str(params), "--raw", str(paths["raw"]), "--split", str(paths["split"]),
                      "--out", str(tmp_path / "out"), "--metrics", str(tmp_path / "a.json"), "--plots", str(tmp_path / "p")])
    assert "augment.transforms.hflip" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_preprocessing_is_applied_to_every_split_identically(small_pipeline, tmp_path):
    from skinlab.data.preprocess import remove_hair, resize_square, shades_of_gray

    paths = small_pipeline
    config = {**SMALL, "augment": {**SMALL["augment"], "preprocess": {"hair_removal": True, "color_constancy": True}}}
    params = write_params(tmp_path / "params.yaml", **config)
    out = tmp_path / "pre"
    augment.main(["--params", str(params), "--raw", str(paths["raw"]), "--split", str(paths["split"]), "--out", str(out),
                  "--metrics", str(tmp_path / "a.json"), "--plots", str(tmp_path / "p")])
    for split in ("train", "val", "test"):
        source = pd.read_csv(paths["split"] / f"{split}.csv", dtype=str, keep_default_na=False)
        written = pd.read_csv(out / f"{split}.csv", dtype=str, keep_default_na=False)
        assert written["augmented"].iloc[0] == "0"  # the first rows are the originals, not augmented
        raw = io.read_image(paths["raw"] / source["image"].iloc[0])
        kernel = max(3, int(round(17 * min(raw.shape[:2]) / 450)) | 1)  # hair kernel scaled to the image
        expected = resize_square(shades_of_gray(remove_hair(raw, kernel_size=kernel), power=6), 32)
        assert np.array_equal(io.read_image(out / written["image"].iloc[0]), expected)
        plain = io.read_image(paths["augmented"] / written["image"].iloc[0])
        assert not np.array_equal(plain, expected)  # the preprocessing did change the image

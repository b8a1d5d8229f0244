"""A small synthetic data set run through download -> split -> augment once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import write_params

SMALL = {
    "base": {"image_size": 32},
    "download": {"synthetic": {"n_lesions": 120, "min_lesions_per_class": 8, "width": 128, "height": 96, "max_images_per_lesion": 3}},
    "split": {"val_fraction": 0.2, "test_fraction": 0.25},
    "augment": {"balance_target": 60, "preview_per_class": 2},
    "train_baselines": {"features": ["hsv_hist", "lbp"], "models": ["logreg", "forest"], "grid_size": 2},
    "train_cnn": {"image_size": 24, "filters": [8, 16], "epochs": 2, "batch_size": 16, "warmup_epochs": 1,
                  "bootstrap": 100, "patience": 5, "tuner": {"max_trials": 0}},
    "segment": {"work_size": 64, "bootstrap": 100,
                "unet": {"image_size": 32, "base_filters": 4, "depth": 2, "epochs": 2, "patience": 2, "batch_size": 16}},
    "fairness_eval": {"bootstrap": 100, "min_group_size": 8, "ita_bins": 4},
    # UMAP costs ~30 s of numba compilation in every process: the e2e repros map by PCA and t-SNE,
    # tests/stages/test_embed.py and tests/unit/test_embedding.py run UMAP
    "embed": {"methods": ["pca", "tsne"], "train_points": 40, "tsne": {"max_iter": 250}},
}


def run_stages(root: Path, params: Path, upto: str = "augment") -> dict:
    from stages import augment, download, split

    paths = {"root": root, "params": params, "raw": root / "raw", "split": root / "split", "augmented": root / "augmented",
             "metrics": root / "metrics", "plots": root / "plots"}
    common = ["--params", str(params)]
    download.main(common + ["--out", str(paths["raw"]), "--downloads", str(root / "dl"),
                            "--metrics", str(paths["metrics"] / "download.json"), "--plots", str(paths["plots"] / "download")])
    split.main(common + ["--raw", str(paths["raw"]), "--out", str(paths["split"]), "--metrics", str(paths["metrics"] / "split.json")])
    if upto == "augment":
        augment.main(common + ["--raw", str(paths["raw"]), "--split", str(paths["split"]), "--out", str(paths["augmented"]),
                               "--metrics", str(paths["metrics"] / "augment.json"), "--plots", str(paths["plots"] / "augment")])
    return paths


@pytest.fixture(scope="session")
def small_pipeline(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("small_pipeline")
    params = write_params(root / "params.yaml", **SMALL)
    return run_stages(root, params)

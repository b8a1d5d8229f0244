"""The folder source on the real samples in ../shared/data (skipped where that folder is absent)."""
import json

import pandas as pd

from stages import download
from stages import split as split_stage
from tests.conftest import shared_dataset
from tests.helpers import write_params


def import_folder(tmp_path, folder):
    params = write_params(tmp_path / "params.yaml", download={"source": "folder", "folder": {"path": str(folder)}})
    common = ["--params", str(params)]
    download.main(common + ["--out", str(tmp_path / "raw"), "--downloads", str(tmp_path / "dl"),
                            "--metrics", str(tmp_path / "d.json"), "--plots", str(tmp_path / "p")])
    split_stage.main(common + ["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "split"), "--metrics", str(tmp_path / "s.json")])
    return json.loads((tmp_path / "d.json").read_text()), json.loads((tmp_path / "s.json").read_text())


def test_ham10000_sample70_imports_and_splits_by_lesion(tmp_path):
    folder = shared_dataset("ham10000-sample70")
    downloaded, splits = import_folder(tmp_path, folder)
    assert downloaded["n_images"] == 70 and set(downloaded["per_class"].values()) == {10}
    assert downloaded["skipped"]["total"] == 0
    meta = pd.read_csv(tmp_path / "raw" / "metadata.csv", dtype=str, keep_default_na=False)
    assert set(meta["width"]) == {"600"} and set(meta["height"]) == {"450"}
    assert splits["lesions_crossing_splits"] == 0
    assert splits["train"]["n_images"] + splits["val"]["n_images"] + splits["test"]["n_images"] == 70


def test_ham10000_masks155_keeps_masks(tmp_path):
    folder = shared_dataset("ham10000-masks155")
    downloaded, _ = import_folder(tmp_path, folder)
    assert downloaded["n_images"] == 155 and downloaded["n_with_mask"] == 155


def test_dermamnist_keeps_the_official_split(tmp_path):
    folder = shared_dataset("dermamnist-28")
    downloaded, splits = import_folder(tmp_path, folder)
    assert downloaded["n_images"] == 10015
    assert (splits["train"]["n_images"], splits["val"]["n_images"], splits["test"]["n_images"]) == (7007, 1003, 2005)

"""The download stage with `download.source: dermamnist`, on tiny npz files."""
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from skinlab import io
from skinlab.data import dermamnist
from stages import download
from tests.dermamnist_npz import TINY_SPLITS, tiny_arrays, write_npz
from tests.fake_release import FakeFile
from tests.fake_zenodo import FakeZenodo
from tests.helpers import write_params


def run(tmp_path, **dermamnist_params):
    params = write_params(tmp_path / "params.yaml", download={"source": "dermamnist", "dermamnist": dermamnist_params})
    download.main(["--params", str(params), "--out", str(tmp_path / "raw"), "--downloads", str(tmp_path / "dl"),
                   "--metrics", str(tmp_path / "download.json"), "--plots", str(tmp_path / "plots")])
    return pd.read_csv(tmp_path / "raw" / "metadata.csv", dtype=str, keep_default_na=False), \
        json.loads((tmp_path / "download.json").read_text())


def test_a_local_npz_becomes_data_raw_with_its_split_and_labels(tmp_path):
    arrays = tiny_arrays()
    path = write_npz(tmp_path / "mine.npz", arrays)
    meta, metrics = run(tmp_path, path=str(path))
    assert metrics["n_images"] == metrics["n_lesions"] == sum(TINY_SPLITS.values())
    assert metrics["given_split"] == {**TINY_SPLITS, "none": 0}
    assert metrics["source"] == "dermamnist" and metrics["skipped"]["total"] == 0
    assert metrics["dermamnist"] == {"file": "mine.npz", "size": 28, "md5": hashlib.md5(path.read_bytes()).hexdigest(),
                                     "official_release": False}
    labels = np.concatenate([arrays[f"{split}_labels"][:, 0] for split in TINY_SPLITS])
    assert metrics["per_class"] == {code: int((labels == k).sum()) for k, code in enumerate(dermamnist.LABELS)}
    row = meta.set_index("image_id").loc["dermamnist_val_00002"]
    assert row["split"] == "val" and row["lesion_id"] == "dermamnist_val_00002"
    assert row["dx"] == dermamnist.LABELS[int(arrays["val_labels"][2, 0])]
    assert row["source"] == "dermamnist" and row["width"] == row["height"] == "28"
    np.testing.assert_array_equal(io.read_image(tmp_path / "raw" / row["image"]), arrays["val_images"][2])
    assert (tmp_path / "plots" / "overview.png").exists()


def test_the_release_is_downloaded_once_into_the_cache(tmp_path, monkeypatch):
    content = write_npz(tmp_path / "made" / "dermamnist_64.npz", tiny_arrays(64)).read_bytes()
    monkeypatch.setitem(dermamnist.FILES, 64, ("dermamnist_64.npz", hashlib.md5(content).hexdigest()))
    release = FakeFile(id=1, filename="dermamnist_64.npz", content=content)
    with FakeZenodo([release], redirect=True) as server:
        meta, metrics = run(tmp_path, size=64, base_url=server.files_url)
        assert metrics["dermamnist"]["official_release"] is True and len(meta) == sum(TINY_SPLITS.values())
        assert (tmp_path / "dl" / "dermamnist_64.npz").read_bytes() == content
        run(tmp_path, size=64, base_url=server.files_url)
        assert len(server.downloads(release)) == 1


def test_a_bad_npz_stops_the_stage_naming_it_and_writes_nothing(tmp_path, capsys):
    arrays = tiny_arrays()
    arrays["train_labels"][0, 0] = 9
    path = write_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path, path=str(path))
    assert exit_info.value.code == 2
    assert (f"download: error: {path}: train_labels holds 1 label(s) outside 0..6 (e.g. 9 at index 0)"
            in capsys.readouterr().err)
    assert not (tmp_path / "raw").exists() and not (tmp_path / "raw.tmp").exists()
    assert not (tmp_path / "download.json").exists()


def test_check_reads_a_local_npz_without_writing(tmp_path, capsys):
    path = write_npz(tmp_path / "mine.npz")
    params = write_params(tmp_path / "params.yaml", download={"source": "dermamnist", "dermamnist": {"path": str(path)}})
    download.main(["--params", str(params), "--check"])
    assert (f"download: ok: {path}: DermaMNIST at 28 px, {{'train': 9, 'val': 3, 'test': 4}}"
            in capsys.readouterr().out)
    params = write_params(tmp_path / "params.yaml", download={"source": "dermamnist", "dermamnist": {"path": str(path), "size": 128}})
    with pytest.raises(SystemExit):
        download.main(["--params", str(params), "--check"])
    assert "mine.npz: train_images holds 28x28 images, but download.dermamnist.size is 128" in capsys.readouterr().err

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from skinlab import io
from stages import download
from tests.helpers import make_folder, rows_per_class, write_params


def run_download(tmp_path, folder, on_bad="error", **download_params):
    params = write_params(tmp_path / "params.yaml", download={"source": "folder", "on_bad_image": on_bad, "folder": {"path": str(folder)},
                                                              **download_params})
    out = tmp_path / "raw"
    download.main([
        "--params", str(params), "--out", str(out), "--downloads", str(tmp_path / "dl"),
        "--metrics", str(tmp_path / "download.json"), "--plots", str(tmp_path / "plots"),
    ])
    return out, json.loads((tmp_path / "download.json").read_text())


def test_folder_source_writes_raw_layout(tmp_path):
    rows = rows_per_class(2, 2)
    folder = make_folder(tmp_path / "user", rows, masks=True)
    out, metrics = run_download(tmp_path, folder)
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    assert len(meta) == len(rows) == metrics["n_images"]
    assert metrics["n_lesions"] == 14 and metrics["per_class"]["mel"] == 4
    assert metrics["n_with_mask"] == len(rows)
    for row in meta.itertuples():
        image = io.read_image(out / row.image)
        assert image.shape == (30, 40, 3)
        assert io.read_mask(out / row.mask).shape == (30, 40)
    assert (tmp_path / "plots" / "overview.png").exists()
    assert pd.read_csv(tmp_path / "plots" / "class_counts.csv")["images"].sum() == len(rows)


def test_grey_and_nested_images_are_found_and_stored_rgb(tmp_path):
    rows = rows_per_class(1, 1)
    folder = make_folder(tmp_path / "user", rows, metadata_name="HAM10000_metadata.csv")
    nested = folder / "part_2" / "deeper"
    nested.mkdir(parents=True)
    (folder / "images" / "I_nv_0_0.jpg").unlink()
    grey = np.full((20, 20), 128, np.uint8)
    cv2.imwrite(str(nested / "I_nv_0_0.png"), grey)
    out, metrics = run_download(tmp_path, folder)
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False).set_index("image_id")
    assert io.read_image(out / meta.loc["I_nv_0_0", "image"]).shape == (20, 20, 3)
    assert cv2.imread(str(out / meta.loc["I_nv_0_0", "image"]), cv2.IMREAD_UNCHANGED).ndim == 3


def bad_folder(tmp_path):
    rows = rows_per_class(1, 2)
    rows.append({"lesion_id": "L_x", "image_id": "I_unknown", "dx": "melanoma?"})
    rows.append(dict(rows[0]))  # duplicate image_id
    rows.append({"lesion_id": "L_y", "image_id": "I_missing", "dx": "nv", "_no_file": True})
    folder = make_folder(tmp_path / "user", rows)
    (folder / "images" / "I_unknown.jpg").unlink(missing_ok=True)
    (folder / "images" / "I_bcc_0_1.jpg").write_bytes(b"not a jpeg at all")
    return folder, rows


def test_every_bad_item_is_named_and_nothing_half_written(tmp_path, capsys):
    folder, _ = bad_folder(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_download(tmp_path, folder)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "4 bad input item(s)" in err
    assert "row 16 (image_id I_unknown): unknown dx code 'melanoma?'" in err
    assert "row 17 (image_id I_akiec_0_0): duplicate image_id I_akiec_0_0" in err
    assert "image_id I_missing: no image file named I_missing" in err
    assert "I_bcc_0_1.jpg: cannot decode image" in err
    assert "on_bad_image: skip" in err
    assert not (tmp_path / "raw").exists() and not (tmp_path / "raw.tmp").exists()
    assert not (tmp_path / "download.json").exists()


def test_skip_mode_skips_and_counts(tmp_path):
    folder, rows = bad_folder(tmp_path)
    out, metrics = run_download(tmp_path, folder, on_bad="skip")
    assert metrics["skipped"] == {"total": 4, "corrupt_image": 1, "duplicate_id": 1, "missing_image": 1, "unknown_dx": 1}
    assert metrics["n_images"] == 14 - 1


def test_missing_column_is_named(tmp_path, capsys):
    rows = [{"image_id": "a", "diagnosis": "nv"}]
    folder = make_folder(tmp_path / "user", rows)
    with pytest.raises(SystemExit):
        run_download(tmp_path, folder, on_bad="skip")
    assert "metadata.csv: missing required column(s) dx" in capsys.readouterr().err


def test_missing_folder_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_download(tmp_path, tmp_path / "nowhere")
    assert "nowhere: folder not found (download.folder.path in params.yaml)" in capsys.readouterr().err


def test_mask_of_wrong_size_is_named(tmp_path, capsys):
    rows = rows_per_class(1, 1)
    folder = make_folder(tmp_path / "user", rows, masks=True)
    cv2.imwrite(str(folder / "masks" / "I_df_0_0_segmentation.png"), np.zeros((5, 5), np.uint8))
    with pytest.raises(SystemExit):
        run_download(tmp_path, folder)
    assert "I_df_0_0.jpg: mask is 5x5, image is 40x30" in capsys.readouterr().err


def test_mlflow_run_is_logged(tmp_path, mlflow_store):
    import mlflow

    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    run_download(tmp_path, folder)
    mlflow.set_tracking_uri(mlflow_store)
    runs = mlflow.search_runs(experiment_names=["skinlab"])
    assert list(runs["tags.mlflow.runName"]) == ["download"]
    assert runs["metrics.n_images"].iloc[0] == 7
    assert runs["params.download.source"].iloc[0] == "folder"


def test_ham10000_source_against_a_fake_dataverse(tmp_path):
    from tests.fake_dataverse import FakeDataverse
    from tests.fake_release import make_release

    with FakeDataverse(make_release()) as server:
        # The fake's images are 8 x 6 px: below the default download.min_image_side.
        params = write_params(tmp_path / "params.yaml", download={"source": "ham10000", "min_image_side": 4,
                                                                  "ham10000": {"base_url": server.base_url, "retries": 0}})
        download.main(["--params", str(params), "--out", str(tmp_path / "raw"), "--downloads", str(tmp_path / "dl"),
                       "--metrics", str(tmp_path / "m.json"), "--plots", str(tmp_path / "p")])
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["source"] == "ham10000"
    assert metrics["n_images"] == 7 and metrics["given_split"]["test"] == 3
    assert metrics["listed_without_image"] == 1  # ISIC_0035068: listed, in no archive, as in the real release
    assert (tmp_path / "dl" / "ham10000.lock.json").exists()


def test_ham10000_offline_says_what_to_do(tmp_path, capsys):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = write_params(tmp_path / "params.yaml", download={"source": "ham10000", "ham10000": {"base_url": f"http://127.0.0.1:{port}"}})
    with pytest.raises(SystemExit):
        download.main(["--params", str(params), "--out", str(tmp_path / "raw"), "--downloads", str(tmp_path / "dl"),
                       "--metrics", str(tmp_path / "m.json"), "--plots", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert "offline" in err and "download.source: folder" in err
    assert not (tmp_path / "raw").exists()


def test_bad_mask_in_skip_mode_keeps_the_image_without_it(tmp_path):
    rows = rows_per_class(1, 1)
    folder = make_folder(tmp_path / "user", rows, masks=True)
    cv2.imwrite(str(folder / "masks" / "I_df_0_0_segmentation.png"), np.zeros((5, 5), np.uint8))
    (folder / "masks" / "I_nv_0_0_segmentation.png").write_bytes(b"garbage")
    out, metrics = run_download(tmp_path, folder, on_bad="skip")
    assert metrics["n_images"] == 7 and metrics["n_with_mask"] == 5
    assert metrics["skipped"] == {"total": 2, "bad_mask": 2}
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False).set_index("image_id")
    assert meta.loc["I_df_0_0", "mask"] == "" and meta.loc["I_nv_0_0", "mask"] == ""


def test_unicode_ids_match_files_named_in_another_normal_form(tmp_path):
    import unicodedata

    nfc = unicodedata.normalize("NFC", "läsion_é")
    rows = [{"image_id": nfc, "dx": "nv"}]
    folder = make_folder(tmp_path / "user", rows)
    (folder / "images" / f"{nfc}.jpg").rename(folder / "images" / f"{unicodedata.normalize('NFD', nfc)}.jpg")
    _, metrics = run_download(tmp_path, folder)
    assert metrics["n_images"] == 1


def test_duplicate_files_matter_only_for_ids_in_the_table(tmp_path, capsys):
    rows = rows_per_class(1, 1)
    folder = make_folder(tmp_path / "user", rows)
    (folder / "extra").mkdir()
    shutil.copy(folder / "images" / "I_mel_0_0.jpg", folder / "extra" / "I_mel_0_0.png")
    shutil.copy(folder / "images" / "I_nv_0_0.jpg", folder / "extra" / "not_in_table.jpg")
    shutil.copy(folder / "images" / "I_nv_0_0.jpg", folder / "images" / "not_in_table.jpg")
    with pytest.raises(SystemExit):
        run_download(tmp_path, folder)
    err = capsys.readouterr().err
    assert "1 bad input item(s)" in err and "image_id I_mel_0_0: several files for one image_id" in err
    _, metrics = run_download(tmp_path, folder, on_bad="skip")
    assert metrics["n_images"] == 6 and metrics["skipped"] == {"total": 1, "duplicate_file": 1}

"""The folder source on broken or unusual inputs: each gets its exact message, or is accepted correctly."""
import json
import logging
import os

import cv2
import numpy as np
import pandas as pd
import pytest

from skinlab import io
from stages import download
from tests.helpers import make_folder, rows_per_class, write_params
from tests.stages.test_download import run_download
from tests.unit.test_images import asymmetric, jpeg_with_orientation, png_header_only

SUPPORTED = "supported: jpg, jpeg, png, bmp, tif, tiff, webp"


def fails(tmp_path, capsys, folder, on_bad="error", **download_params) -> str:
    """Run the stage, expect exit code 2 and nothing written; return stderr."""
    with pytest.raises(SystemExit) as exit_info:
        run_download(tmp_path, folder, on_bad, **download_params)
    assert exit_info.value.code == 2
    assert not (tmp_path / "raw").exists() and not (tmp_path / "raw.tmp").exists()
    return capsys.readouterr().err


def read_raw(out):
    return pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False).set_index("image_id")


def test_a_decompression_bomb_is_refused_naming_file_size_and_param_and_can_be_skipped(tmp_path, capsys):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    (folder / "images" / "I_mel_0_0.jpg").write_bytes(png_header_only(30000, 30000))
    err = fails(tmp_path, capsys, folder)
    assert ("I_mel_0_0.jpg: 30000 x 30000 px (900.0 megapixels) is more than download.max_image_pixels "
            "(50 megapixels); not decoded") in err
    _, metrics = run_download(tmp_path, folder, "skip")
    assert metrics["skipped"] == {"total": 1, "too_large": 1} and metrics["n_images"] == 6


def test_a_mask_over_the_pixel_limit_is_refused_before_decoding_and_the_image_kept(tmp_path, capsys):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1), masks=True)
    mask = folder / "masks" / "I_nv_0_0_segmentation.png"
    mask.write_bytes(png_header_only(20000, 20000))
    err = fails(tmp_path, capsys, folder)
    assert f"{mask}: 20000 x 20000 px (400.0 megapixels) is more than download.max_image_pixels" in err
    out, metrics = run_download(tmp_path, folder, "skip")
    assert metrics["skipped"] == {"total": 1, "bad_mask": 1} and metrics["n_images"] == 7
    assert read_raw(out).loc["I_nv_0_0", "mask"] == ""


def test_an_empty_metadata_file_is_named(tmp_path, capsys):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    (folder / "metadata.csv").write_bytes(b"")
    assert f"download: error: {folder / 'metadata.csv'}: empty file" in fails(tmp_path, capsys, folder)


def test_nothing_usable_in_skip_mode_shows_the_reasons_and_fitting_advice(tmp_path, capsys):
    rows = rows_per_class(1, 1)[:6]
    folder = make_folder(tmp_path / "user", rows)
    for row in rows:
        (folder / "images" / f"{row['image_id']}.jpg").write_bytes(b"corrupt")
    err = fails(tmp_path, capsys, folder, "skip")
    assert f"{folder}: no usable image: all 6 item(s) are bad:\n  6 corrupt_image, e.g.\n" in err
    assert "I_akiec_0_0.jpg: cannot decode image (corrupt, empty or not an image)" in err
    assert "... and 3 more" in err
    assert "download.on_bad_image is skip, but skipping leaves nothing: fix the items above." in err
    assert "set download.on_bad_image: skip" not in err


def test_a_table_with_a_header_only_says_it_has_no_rows(tmp_path, capsys):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    (folder / "metadata.csv").write_text("image_id,dx\n")
    for mode in ("error", "skip"):
        err = fails(tmp_path, capsys, folder, mode)
        assert f"{folder}: no usable image: metadata.csv has no data rows" in err and "on_bad_image" not in err


def test_webp_is_imported_and_heic_is_named_as_unsupported(tmp_path, capsys):
    rows = rows_per_class(1, 1)
    folder = make_folder(tmp_path / "user", rows)
    (folder / "images" / "I_bcc_0_0.jpg").rename(folder / "images" / "I_bcc_0_0.webp")
    heic = folder / "images" / "I_df_0_0.heic"
    (folder / "images" / "I_df_0_0.jpg").rename(heic)
    err = fails(tmp_path, capsys, folder)
    assert f"{heic}: unsupported format heic ({SUPPORTED})" in err and "1 bad input item(s)" in err
    out, metrics = run_download(tmp_path, folder, "skip")
    assert metrics["n_images"] == 6 and metrics["skipped"] == {"total": 1, "unsupported_format": 1}
    assert read_raw(out).loc["I_bcc_0_0", "image"] == "images/I_bcc_0_0.png"


def test_a_one_pixel_image_is_refused_and_16_bit_values_keep_their_brightness(tmp_path, capsys):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    cv2.imwrite(str(folder / "images" / "I_nv_0_0.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "images" / "I_nv_0_0.jpg").unlink()
    (folder / "images" / "I_vasc_0_0.jpg").unlink()
    sixteen = np.linspace(135, 220, 20 * 24).astype(np.uint16).reshape(20, 24)
    cv2.imwrite(str(folder / "images" / "I_vasc_0_0.png"), sixteen)
    err = fails(tmp_path, capsys, folder)
    assert "I_nv_0_0.png: 1 x 1 px is smaller than download.min_image_side (16 px)" in err
    out, metrics = run_download(tmp_path, folder, "skip")
    assert metrics["skipped"] == {"total": 1, "too_small": 1}
    assert metrics["repaired"] == {"total": 1, "rescaled_16bit": 1}
    stored = io.read_image(out / read_raw(out).loc["I_vasc_0_0", "image"])
    assert stored.dtype == np.uint8 and stored.min() == 135 and stored.max() == 220
    _, metrics = run_download(tmp_path, folder, "error", min_image_side=1)
    assert metrics["n_images"] == 7


def test_exif_orientation_is_applied_and_the_tag_dropped(tmp_path):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    data = jpeg_with_orientation(asymmetric(), 6)
    (folder / "images" / "I_mel_0_0.jpg").write_bytes(data)
    out, metrics = run_download(tmp_path, folder)
    row = read_raw(out).loc["I_mel_0_0"]
    assert row["image"] == "images/I_mel_0_0.png" and (row["width"], row["height"]) == ("30", "40")
    viewer = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(io.read_image(out / row["image"]), viewer)
    assert metrics["repaired"] == {"total": 1, "exif_orientation": 1}
    assert read_raw(out).loc["I_nv_0_0", "image"] == "images/I_nv_0_0.jpg"  # upright JPEGs are kept byte for byte


def test_a_mask_made_for_the_unturned_image_is_dropped_and_the_turn_counted_once(tmp_path):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1), masks=True)
    (folder / "images" / "I_mel_0_0.jpg").write_bytes(jpeg_with_orientation(asymmetric(), 6))
    out, metrics = run_download(tmp_path, folder, "skip")
    assert metrics["skipped"] == {"total": 1, "bad_mask": 1} and metrics["repaired"] == {"total": 1, "exif_orientation": 1}
    assert read_raw(out).loc["I_mel_0_0", "mask"] == "" and metrics["n_images"] == 7


def test_a_dangling_link_is_named_as_such_and_skippable(tmp_path, capsys):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    link = folder / "images" / "I_akiec_0_0.jpg"
    link.unlink()
    link.symlink_to(tmp_path / "gone.jpg")
    err = fails(tmp_path, capsys, folder)
    assert f"{link}: dangling symbolic link to {tmp_path / 'gone.jpg'}" in err
    _, metrics = run_download(tmp_path, folder, "skip")
    assert metrics["skipped"] == {"total": 1, "dangling_link": 1}


def test_check_names_the_param_for_what_dvc_reports_as_a_bare_errno(tmp_path, capsys):
    """DVC hashes download.folder.path before the stage runs; `--check` says which param to fix."""
    def check(path, source="folder"):
        params = write_params(tmp_path / "params.yaml", download={"source": source, "folder": {"path": str(path)}})
        download.main(["--params", str(params), "--check"])

    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    (folder / "images" / "stray.jpg").write_bytes(b"x")
    check(folder)
    assert f"download: ok: {folder / 'metadata.csv'}: 7 image(s) found, 0 problem(s)" in capsys.readouterr().out
    for path, source, message in [
        (tmp_path / "nowhere", "folder", f"{tmp_path / 'nowhere'}: folder not found (download.folder.path in params.yaml)"),
        (tmp_path / "nowhere", "synthetic", f"{tmp_path / 'nowhere'}: folder not found (download.folder.path in params.yaml; "
                                             "DVC tracks it whatever the source"),
        ("~/skin", "folder", "download.folder: path: DVC does not expand '~' (got '~/skin'); give the full path, e.g. "
                             f"'{os.path.expanduser('~/skin')}'"),
    ]:
        with pytest.raises(SystemExit):
            check(path, source)
        assert message in capsys.readouterr().err
    (folder / "images" / "dead.jpg").symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(SystemExit):
        check(folder)
    assert (f"{folder}: 1 dangling symbolic link(s), which DVC cannot hash (it stops with [Errno 2] No such file or "
            f"directory): {folder / 'images' / 'dead.jpg'} -> {tmp_path / 'gone.jpg'}; remove or repair them") in capsys.readouterr().err


def test_latin1_metadata_names_the_line_and_the_fix(tmp_path, capsys):
    rows = rows_per_class(1, 1)
    rows[1]["localization"] = "épaule"
    folder = make_folder(tmp_path / "user", rows)
    text = (folder / "metadata.csv").read_text(encoding="utf-8")
    (folder / "metadata.csv").write_bytes(text.encode("latin-1"))
    err = fails(tmp_path, capsys, folder)
    assert f"{folder / 'metadata.csv'}: line 3 is not UTF-8 (byte 0xe9); save the file as UTF-8" in err


def test_image_files_without_a_row_are_warned_about_and_counted(tmp_path, caplog):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    for name in ("extra_1.jpg", "extra_2.png"):
        (folder / "images" / name).write_bytes((folder / "images" / "I_nv_0_0.jpg").read_bytes())
    with caplog.at_level(logging.WARNING):
        _, metrics = run_download(tmp_path, folder)
    assert metrics["unmatched_image_files"] == 2 and metrics["image_files"] == 9
    assert (f"2 image file(s) have no row in metadata.csv and are not imported, e.g. "
            f"{folder / 'images' / 'extra_1.jpg'}, {folder / 'images' / 'extra_2.png'}") in caplog.text


def test_every_problem_of_a_row_at_once_and_a_bad_optional_value_is_blanked_in_skip_mode(tmp_path, capsys):
    rows = rows_per_class(1, 1)
    for row in rows:
        row.update(split="train", fitzpatrick="2")
    rows[0].update(split="training", fitzpatrick="7")
    rows[1].update(dx="melanoma", split="validation")
    folder = make_folder(tmp_path / "user", rows)
    err = fails(tmp_path, capsys, folder)
    assert ("row 2 (image_id I_akiec_0_0): unknown split 'training' (known: train, val, test or empty); "
            "fitzpatrick must be 1-6 or empty (got '7')") in err
    assert ("row 3 (image_id I_bcc_0_0): unknown dx code 'melanoma' (known: akiec, bcc, bkl, df, mel, nv, vasc); "
            "unknown split 'validation' (known: train, val, test or empty)") in err
    out, metrics = run_download(tmp_path, folder, "skip")
    assert metrics["n_images"] == 6 and metrics["skipped"] == {"total": 1, "unknown_dx": 1}
    assert metrics["repaired"] == {"total": 2, "blanked_value": 2}
    kept = read_raw(out).loc["I_akiec_0_0"]
    assert kept["split"] == "" and kept["fitzpatrick"] == "" and kept["dx"] == "akiec"
    assert read_raw(out).loc["I_df_0_0", "fitzpatrick"] == "2"


@pytest.mark.parametrize("column, value, message", [
    ("image_id", "", "row 2 (image_id ?): empty image_id"),
    ("split", "training", "unknown split 'training' (known: train, val, test or empty)"),
    ("split", "validation", "unknown split 'validation' (known: train, val, test or empty)"),
    ("fitzpatrick", "0", "fitzpatrick must be 1-6 or empty (got '0')"),
    ("fitzpatrick", "7", "fitzpatrick must be 1-6 or empty (got '7')"),
    ("fitzpatrick", "99", "fitzpatrick must be 1-6 or empty (got '99')"),
])
def test_each_row_check_refuses_its_bad_value(tmp_path, capsys, column, value, message):
    rows = rows_per_class(1, 1)
    for row in rows:
        row.update(split="test", fitzpatrick="6")
    rows[0][column] = value
    folder = make_folder(tmp_path / "user", rows)
    err = fails(tmp_path, capsys, folder)
    assert "1 bad input item(s)" in err and message in err


def test_a_table_that_will_not_parse_and_a_missing_table_are_named(tmp_path, capsys):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    (folder / "metadata.csv").write_text("image_id,dx,age\nI_nv_0_0,nv,40\nI_mel_0_0,mel,40,x,y\n")
    assert (f"{folder / 'metadata.csv'}: cannot parse the table: Error tokenizing data. C error: Expected 3 fields "
            "in line 3, saw 5") in fails(tmp_path, capsys, folder)
    (folder / "metadata.csv").unlink()
    assert (f"{folder}: no metadata file; expected one of metadata.csv, HAM10000_metadata.csv, HAM10000_metadata.tab, "
            "HAM10000_metadata") in fails(tmp_path, capsys, folder)


@pytest.mark.parametrize("sep", [",", "\t"])
def test_a_hand_downloaded_metadata_file_without_extension_is_read(tmp_path, sep):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    table = pd.read_csv(folder / "metadata.csv", dtype=str)
    (folder / "metadata.csv").unlink()
    table.to_csv(folder / "HAM10000_metadata", sep=sep, index=False)
    _, metrics = run_download(tmp_path, folder)
    assert metrics["n_images"] == 7 and metrics["n_lesions"] == 7


def test_written_files_get_the_umask_mode_not_0600(tmp_path):
    folder = make_folder(tmp_path / "user", rows_per_class(1, 1))
    old = os.umask(0o022)
    try:
        out, _ = run_download(tmp_path, folder)
    finally:
        os.umask(old)
    for path in (out / "metadata.csv", tmp_path / "download.json", tmp_path / "plots" / "overview.png",
                 tmp_path / "plots" / "class_counts.csv"):
        assert oct(path.stat().st_mode & 0o777) == oct(0o644), path
    assert json.loads((tmp_path / "download.json").read_text())["n_images"] == 7

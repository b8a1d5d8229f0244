import json
import math
import os

import cv2
import numpy as np
import pytest

from skinlab import io


def test_write_json_is_sorted_indented_and_refuses_nan(tmp_path):
    path = tmp_path / "m.json"
    io.write_json(path, {"b": np.float32(0.5), "a": np.int64(3), "c": np.arange(2)})
    assert path.read_text() == '{\n  "a": 3,\n  "b": 0.5,\n  "c": [\n    0,\n    1\n  ]\n}\n'
    with pytest.raises(ValueError):
        io.write_json(path, {"x": math.nan})
    assert json.loads(path.read_text())["a"] == 3  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary left


def test_atomic_dir_keeps_the_old_directory_on_failure(tmp_path):
    out = tmp_path / "out"
    with io.atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with io.atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("killed")
    assert (out / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_decode_converts_bgr_grey_and_rgba_to_rgb():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    rgb = io.decode_image(cv2.imencode(".png", bgr)[1].tobytes())
    assert rgb[0, 0].tolist() == [0, 0, 255]
    grey = io.decode_image(cv2.imencode(".png", np.full((2, 2), 7, np.uint8))[1].tobytes())
    assert grey.shape == (2, 2, 3) and grey[0, 0].tolist() == [7, 7, 7]
    bgra = np.dstack([bgr, np.full((2, 2), 255, np.uint8)])
    assert io.decode_image(cv2.imencode(".png", bgra)[1].tobytes())[0, 0].tolist() == [0, 0, 255]


def test_bad_images_and_masks_are_named(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(io.ImageError, match="bad.jpg: cannot decode image"):
        io.read_image(bad)
    with pytest.raises(io.ImageError, match="missing.png: image file not found"):
        io.read_image(tmp_path / "missing.png")
    with pytest.raises(io.MaskError, match="bad.jpg: cannot decode mask"):
        io.read_mask(bad)


def test_image_round_trip_keeps_rgb(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    io.write_image(tmp_path / "x.png", image)
    assert np.array_equal(io.read_image(tmp_path / "x.png"), image)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_writers_give_the_mode_a_plain_write_gives(tmp_path, umask):
    import pandas as pd
    from matplotlib.figure import Figure

    from skinlab.evaluation import plots

    old = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("x")
        io.write_json(tmp_path / "m.json", {"a": 1})
        io.write_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1]}))
        io.write_image(tmp_path / "i.png", np.zeros((2, 2, 3), np.uint8))
        plots.save_png(Figure(figsize=(1, 1)), tmp_path / "f.png")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == expected
    for name in ("m.json", "t.csv", "i.png", "f.png"):
        assert oct((tmp_path / name).stat().st_mode & 0o777) == oct(expected), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "i.png", "m.json", "plain.txt", "t.csv"]


def test_check_mask_size_names_mask_and_image():
    image = np.zeros((30, 40, 3), np.uint8)
    io.check_mask_size(np.zeros((30, 40), np.uint8), image.shape, "m.png", "i.jpg")  # same size: no error
    with pytest.raises(io.MaskError, match=r"^m\.png: mask is 5x4, its image i\.jpg is 40x30$"):
        io.check_mask_size(np.zeros((4, 5), np.uint8), image.shape, "m.png", "i.jpg")
    with pytest.raises(io.MaskError, match=r"^i\.jpg: mask is 40x31, image is 40x30$"):
        io.check_mask_size(np.zeros((31, 40), np.uint8), image.shape, "i.jpg")

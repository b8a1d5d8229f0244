import cv2
import numpy as np
import pandas as pd
import pytest

from skinlab import io
from skinlab.data import folder, lesion_crop
from skinlab.data.raw import InputError
from tests.unit.test_segmentation_classical import draw, ellipse


def box_mask(shape, top, left, bottom, right):
    mask = np.zeros(shape, bool)
    mask[top:bottom, left:right] = True
    return mask


def test_square_box_centres_on_the_lesion_with_its_margin():
    # a 40x20 lesion box centred at (99.5, 149.5): side 40 * 1.2 = 48
    top, left, bottom, right = lesion_crop.square_box(box_mask((300, 400), 80, 140, 120, 160), margin=0.1, min_side=0.1)
    assert (bottom - top, right - left) == (48, 48)
    assert (top + bottom) / 2 == pytest.approx(99.5, abs=0.5) and (left + right) / 2 == pytest.approx(149.5, abs=0.5)


def test_square_box_is_never_smaller_than_min_side_nor_larger_than_the_shorter_side():
    speck = box_mask((300, 400), 150, 200, 152, 202)
    top, left, bottom, right = lesion_crop.square_box(speck, margin=0.1, min_side=0.4)
    assert bottom - top == right - left == 120  # 0.4 of 300
    whole = box_mask((300, 400), 0, 0, 300, 400)
    assert lesion_crop.square_box(whole, margin=0.1) == (0, 50, 300, 350)  # the centre square


def test_square_box_shifts_inside_the_image_for_a_lesion_at_the_border():
    corner = box_mask((300, 400), 0, 350, 60, 400)  # 60x50 in the top-right corner
    top, left, bottom, right = lesion_crop.square_box(corner, margin=0.1, min_side=0.1)
    assert (top, right) == (0, 400) and bottom - top == right - left == 72
    assert corner[top:bottom, left:right].sum() == corner.sum()  # the whole lesion is in the crop


def test_no_lesion_keeps_the_centre_square_and_bad_settings_are_named():
    assert lesion_crop.square_box(np.zeros((300, 400), bool)) == (0, 50, 300, 350)
    with pytest.raises(ValueError, match="margin"):
        lesion_crop.square_box(np.ones((10, 10), bool), margin=-0.1)
    with pytest.raises(ValueError, match="min_side"):
        lesion_crop.square_box(np.ones((10, 10), bool), min_side=0)


@pytest.fixture()
def source(tmp_path):
    """Two drawn dermoscopy images (small off-centre lesions, hair, vignette), the first with its mask."""
    root = tmp_path / "source"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    truths = {"IMG_a": ellipse((250, 120), (40, 28)), "IMG_b": ellipse((140, 190), (30, 45), angle=70)}
    for n, (image_id, truth) in enumerate(truths.items()):
        io.write_image(root / "images" / f"{image_id}.jpg", draw(truth, ruler=False, seed=n))
    io.write_image(root / "masks" / "IMG_a_segmentation.png", truths["IMG_a"].astype(np.uint8) * 255)
    pd.DataFrame({"image_id": list(truths), "lesion_id": ["L1", "L2"], "dx": ["nv", "mel"]}).to_csv(
        root / "metadata.csv", index=False)
    return root, truths


def test_crop_folder_cuts_each_image_and_its_mask_around_the_lesion(source, tmp_path):
    root, truths = source
    out = tmp_path / "cropped"
    boxes = lesion_crop.crop_folder(root, out, margin=0.1, min_side=0.2)
    assert list(boxes["image_id"]) == ["IMG_a", "IMG_b"]
    assert pd.read_csv(out / "boxes.csv").equals(boxes)
    assert (out / "metadata.csv").read_bytes() == (root / "metadata.csv").read_bytes()
    written = io.read_json(out / "lesion_crop.json")
    assert written["margin"] == 0.1 and written["min_side"] == 0.2 and written["images"] == 2
    assert written["no_lesion_found"] == 0 and written["kept_whole"] == 0
    assert written["crop_side_px"]["max"] == (boxes["bottom"] - boxes["top"]).max()
    for row in boxes.itertuples():
        truth = truths[row.image_id]
        crop = io.read_image(out / "images" / f"{row.image_id}.jpg")
        assert crop.shape[0] == crop.shape[1] == row.bottom - row.top == row.right - row.left
        assert crop.shape[0] < 0.6 * 300  # a small lesion: the crop is much smaller than the frame
        original = io.read_image(root / "images" / f"{row.image_id}.jpg")[row.top:row.bottom, row.left:row.right]
        assert np.abs(crop.astype(float) - original).mean() < 3  # the box's own pixels (JPEG loss aside)
        inside = truth[row.top:row.bottom, row.left:row.right].sum() / truth.sum()
        assert inside > 0.97, row.image_id  # the lesion is in the crop
    a = boxes.iloc[0]
    mask = io.read_mask(out / "masks" / "IMG_a_segmentation.png")
    assert np.array_equal(mask > 0, truths["IMG_a"][a.top:a.bottom, a.left:a.right])  # cut with its image
    assert not (out / "masks" / "IMG_b_segmentation.png").exists()
    records, errors, _, _ = folder.records(out)  # the folder import takes the copy as it is
    assert not errors and {r["image_id"] for r in records} == {"IMG_a", "IMG_b"}


def test_crop_folder_errors_name_the_file_and_leave_no_partial_output(source, tmp_path):
    root, _ = source
    out = tmp_path / "cropped"
    (root / "images" / "IMG_b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(io.ImageError, match="IMG_b.jpg"):
        lesion_crop.crop_folder(root, out)
    assert not out.exists() and not (tmp_path / "cropped.tmp").exists()
    (root / "images" / "IMG_b.jpg").unlink()
    with pytest.raises(InputError, match="IMG_b"):
        lesion_crop.crop_folder(root, out)
    for wrong in (root, root / "inner", tmp_path):  # the source itself, inside it, above it
        with pytest.raises(InputError, match="neither the source"):
            lesion_crop.crop_folder(root, wrong)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an earlier lesion_crop output"):
        lesion_crop.crop_folder(root, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    io.write_image(root / "masks" / "IMG_a_segmentation.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(io.MaskError, match=r"IMG_a_segmentation.png: mask is 10x10, its image .*IMG_a.jpg is 400x300"):
        lesion_crop.crop_folder(root, out)
    (root / "images" / "sub").mkdir()
    (root / "images" / "sub" / "IMG_a.png").write_bytes(io.encode_image(np.zeros((20, 20, 3), np.uint8)))
    with pytest.raises(InputError, match="IMG_a.* has 2 files"):
        lesion_crop.crop_folder(root, out)
    (root / "metadata.csv").write_text("image_id,lesion_id,dx\n")
    with pytest.raises(InputError, match="no rows"):
        lesion_crop.crop_folder(root, out)


def test_the_command_line_reports_errors_without_a_traceback(source, tmp_path, capsys):
    root, _ = source
    with pytest.raises(SystemExit) as stop:
        lesion_crop.main([str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert stop.value.code == 2 and "folder not found" in capsys.readouterr().err
    lesion_crop.main([str(root), str(tmp_path / "out"), "--min-side", "0.2"])
    assert "2 images" in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / "out" / "images" / "IMG_a.jpg")) is not None


def test_an_unreadable_image_is_named(source, tmp_path, monkeypatch):
    root, _ = source
    real = type(root).read_bytes

    def refuse(path):
        if path.name == "IMG_b.jpg":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(type(root), "read_bytes", refuse)
    with pytest.raises(InputError, match=r"IMG_b.jpg: cannot read \(Permission denied\)"):
        lesion_crop.crop_folder(root, tmp_path / "out")

"""segment.unet.pretrain: which images of the folder are pre-trained on (never a labelled image or
lesion), their pseudo masks, and bad folders named."""
import numpy as np
import pytest

from skinlab import io, unet_pretrain
from skinlab.data.raw import InputError
from skinlab.params import SegmentPretrain, SegmentUnet
from skinlab.segment_report import Item


def image(path, lesion=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((24, 32, 3), 120, np.uint8)
    if lesion:
        pixels[8:16, 10:20] = 30  # a dark lesion
    path.write_bytes(io.encode_image(pixels, path.suffix))
    return path


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "unlabelled"
    for name in ("ISIC_3.jpg", "ISIC_1.png", "sub/ISIC_2.jpg", "ISIC_4.jpg", "ISIC_5.png"):
        image(root / name, lesion=name != "ISIC_3.jpg")
    image(root / "ISIC_1_segmentation.png")  # a mask: never an image to pre-train on
    (root / "notes.txt").write_text("not an image")
    (root / "metadata.csv").write_text("image_id,lesion_id\nISIC_1,HAM_A\nISIC_2,HAM_B\nISIC_3,HAM_C\nISIC_4,\n")
    return root


def test_labelled_images_and_lesions_are_left_out_the_rest_in_image_id_order(folder):
    kept, counts = unet_pretrain.unlabelled(folder, labelled_ids=["ISIC_4", "OTHER"], labelled_lesions=["HAM_B"])
    assert [image_id for image_id, _ in kept] == ["ISIC_1", "ISIC_3", "ISIC_5"]  # ISIC_5: not in the table, kept
    assert [path.name for _, path in kept] == ["ISIC_1.png", "ISIC_3.jpg", "ISIC_5.png"]
    assert counts == {"image_files": 5, "left_out_labelled_images": 1, "left_out_labelled_lesions": 1,
                      "beyond_limit": 0}
    # an image without a lesion_id is its own lesion
    kept, counts = unet_pretrain.unlabelled(folder, [], ["ISIC_4", "HAM_C"], limit=2)
    assert [image_id for image_id, _ in kept] == ["ISIC_1", "ISIC_2"]
    assert counts["left_out_labelled_lesions"] == 2 and counts["beyond_limit"] == 1


def test_an_image_listed_twice_is_left_out_if_either_row_names_a_labelled_lesion(folder):
    (folder / "metadata.csv").write_text("image_id,lesion_id\nISIC_1,HAM_A\nISIC_1,HAM_Z\nISIC_2,HAM_Z\n")
    for labelled in ("HAM_A", "HAM_Z"):
        kept, counts = unet_pretrain.unlabelled(folder, [], [labelled])
        assert "ISIC_1" not in [image_id for image_id, _ in kept], labelled
    assert counts["left_out_labelled_lesions"] == 2


def test_a_folder_without_a_table_is_read_by_file_name(folder):
    (folder / "metadata.csv").unlink()
    kept, counts = unet_pretrain.unlabelled(folder, ["ISIC_2"], ["HAM_A"])
    assert [image_id for image_id, _ in kept] == ["ISIC_1", "ISIC_3", "ISIC_4", "ISIC_5"]
    assert counts["left_out_labelled_images"] == 1 and counts["left_out_labelled_lesions"] == 0


def test_bad_folders_are_named_with_the_param(folder, tmp_path):
    with pytest.raises(InputError, match=r"missing: folder not found \(segment.unet.pretrain.images in params.yaml\)"):
        unet_pretrain.unlabelled(tmp_path / "missing", [], [])
    with pytest.raises(InputError, match=r"metadata.csv: not a folder \(segment.unet.pretrain.images in params.yaml\)"):
        unet_pretrain.unlabelled(folder / "metadata.csv", [], [])
    with pytest.raises(InputError, match="no image left to pre-train on .5 image files, 5 of them labelled images"):
        unet_pretrain.unlabelled(folder, [f"ISIC_{i}" for i in range(1, 6)], [])
    image(folder / "other" / "ISIC_3.png")
    with pytest.raises(InputError, match="several image files for image_id ISIC_3"):
        unet_pretrain.unlabelled(folder, [], [])
    (folder / "metadata.csv").write_text("id,lesion_id\nISIC_1,HAM_A\n")
    with pytest.raises(InputError, match="metadata.csv: missing required column.s. image_id"):
        unet_pretrain.unlabelled(folder, [], [])


def test_pseudo_masks_are_written_and_images_without_a_lesion_left_out(folder, tmp_path):
    kept, _ = unet_pretrain.unlabelled(folder, [], [])

    def segment(rgb):  # stands in for Otsu (ISIC_3 has no dark lesion)
        return rgb[..., 0] < 60

    (images, masks), empty = unet_pretrain.pseudo_masks(kept, segment, tmp_path / "pseudo")
    assert empty == 1 and [p.rsplit("/", 1)[-1] for p in masks] == ["ISIC_1.png", "ISIC_2.png", "ISIC_4.png",
                                                                      "ISIC_5.png"]
    assert images[1].endswith("sub/ISIC_2.jpg")
    mask = io.read_mask(masks[0])
    assert mask.shape == (24, 32) and mask[10, 12] == 255 and mask[0, 0] == 0
    (folder / "ISIC_1.png").write_bytes(b"not a png")
    with pytest.raises(io.ImageError, match="ISIC_1.png"):
        unet_pretrain.pseudo_masks(kept, segment, tmp_path / "again")


def test_pretraining_stops_before_any_fit_when_otsu_finds_no_lesion(folder, tmp_path):
    cfg = SegmentUnet(pretrain=SegmentPretrain(images=str(folder), epochs=1))
    labelled = [Item("ISIC_9", "HAM_9", "train", tmp_path / "x.png", None)]
    with pytest.raises(InputError, match=r"unlabelled: Otsu found no lesion in any of the 5 images \(segment.unet.pretrain"):
        unet_pretrain.pretrain(cfg, lambda rgb: np.zeros(rgb.shape[:2], bool), labelled, ([], []), 0, tmp_path / "w")

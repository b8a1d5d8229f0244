"""The segment stage's method registry, its choice on val and its overlay cases, by hand."""
import cv2
import numpy as np
import pytest

from skinlab import params, segment_methods, segment_report, segmentation


def image() -> np.ndarray:
    rgb = np.full((60, 80, 3), (208, 162, 140), np.uint8)
    cv2.ellipse(rgb, (40, 30), (18, 12), 0, 0, 360, (120, 72, 52), -1)
    return rgb


def test_every_listed_method_has_a_builder_that_binds_its_params():
    assert set(segment_methods.BUILDERS) | set(segment_methods.TRAINED) == set(params.SEGMENT_METHODS)
    assert set(segment_methods.BUILDERS) <= set(segmentation.METHODS)
    cfg = params.Segment(otsu_shift=0.0, otsu_channel="red", kmeans_k=2, kmeans_lesion_clusters=1, work_size=40)
    rgb = image()
    otsu = segment_methods.build("otsu", cfg, seed=0)(rgb)
    assert otsu.shape == rgb.shape[:2] and otsu.dtype == bool
    assert np.array_equal(otsu, segmentation.otsu(rgb, channel="red", threshold_shift=0.0, work_size=40))
    kmeans = segment_methods.build("kmeans", cfg, seed=0)(rgb)
    assert np.array_equal(kmeans, segmentation.kmeans(rgb, k=2, lesion_clusters=1, work_size=40))
    with pytest.raises(ValueError, match=r"unknown segmentation method 'unet' \(a trained method: use build_all\); "
                                         r"valid names: otsu, kmeans, grabcut, unet"):
        segment_methods.build("unet", cfg, seed=0)


def summaries(val: dict, test: dict | None = None) -> dict:
    def entry(value):
        return {"dice": {"mean": value}, "jaccard": {"mean": None if value is None else value / 2}}

    return {name: {"val": entry(value), "test": entry((test or {}).get(name, 0.0))} for name, value in val.items()}


def test_the_choice_is_the_val_best_first_listed_on_a_tie_and_never_test():
    assert segment_report.choose(summaries({"otsu": 0.8, "kmeans": 0.9, "grabcut": 0.7}), "dice") == ("kmeans", "val")
    assert segment_report.choose(summaries({"grabcut": 0.9, "otsu": 0.9}), "dice") == ("grabcut", "val")
    # test prefers otsu; val decides
    assert segment_report.choose(summaries({"otsu": 0.7, "kmeans": 0.8}, {"otsu": 0.99, "kmeans": 0.1}), "jaccard")[0] == "kmeans"
    assert segment_report.choose(summaries({"otsu": None, "kmeans": 0.6}), "dice") == ("kmeans", "val")
    assert segment_report.choose(summaries({"kmeans": None, "otsu": None}), "dice") == ("kmeans", None)


def test_overlay_cases_are_the_best_and_worst_test_images_each_once():
    rows = [{"image_id": f"i{n}", "method": "otsu", "split": "test", "dice": d} for n, d in enumerate([0.5, 0.9, 0.1, 0.7])]
    rows += [{"image_id": "v", "method": "otsu", "split": "val", "dice": 1.0},
             {"image_id": "k", "method": "kmeans", "split": "test", "dice": 0.0}]
    picked = segment_report.cases(rows, "otsu", k=3)
    assert [(label, row["image_id"]) for label, row in picked] == [
        ("best", "i1"), ("best", "i3"), ("best", "i0"), ("worst", "i2")]
    assert segment_report.cases(rows, "grabcut") == []

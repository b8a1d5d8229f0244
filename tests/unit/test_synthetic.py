"""The synthetic source: plan, labels, masks, skin tone, artefacts, determinism and difficulty."""

import collections
import dataclasses

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinlab.data import synthetic
from skinlab.data.schema import CLASSES, HAM10000_COUNTS, HAM_COLUMNS
from skinlab.data.synthetic import (
    SyntheticConfig,
    class_sequence,
    decode_jpeg,
    generate,
    lesion_contrast,
    lesion_plan,
    skin_colour,
)
from skinlab.data.synthetic_draw import draw_lesion
from skinlab.skintone import fitzpatrick_from_ita, ita_from_rgb, lab_from_rgb

LOCALIZATIONS = {
    "abdomen", "acral", "back", "chest", "ear", "face", "foot", "genital", "hand", "lower extremity",
    "neck", "scalp", "trunk", "upper extremity", "unknown",
}
SMALL = SyntheticConfig(n_lesions=35, min_lesions_per_class=5, width=128, height=96, seed=7)


@pytest.fixture(scope="module")
def small_images():
    return list(generate(SMALL))


def _by_lesion(images):
    groups = collections.defaultdict(list)
    for image in images:
        groups[image.record["lesion_id"]].append(image)
    return groups


# --- config and plan -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"n_lesions": 0}, "n_lesions"),
        ({"n_lesions": 20, "min_lesions_per_class": 3}, "n_lesions"),
        ({"min_images_per_lesion": 0}, "min_images_per_lesion"),
        ({"min_images_per_lesion": 3, "max_images_per_lesion": 2}, "max_images_per_lesion"),
        ({"width": 16}, "width"),
        ({"dark_skin_fraction": 1.5}, "dark_skin_fraction"),
        ({"jpeg_quality_min": 0}, "jpeg_quality_min"),
        ({"jpeg_quality_min": 90, "jpeg_quality_max": 80}, "jpeg_quality_max"),
        ({"seed": -1}, "seed"),
        ({"n_lesions": 10.5}, "n_lesions"),
        ({"seed": True}, "seed"),
        ({"dark_skin_fraction": "a lot"}, "dark_skin_fraction"),
    ],
)
def test_config_rejects_bad_values_naming_the_key(changes, key):
    with pytest.raises(ValueError, match=f"SyntheticConfig.{key} "):
        SyntheticConfig(**changes)


def test_class_counts_follow_ham10000_with_a_floor():
    counts = collections.Counter(class_sequence(SyntheticConfig(n_lesions=500, min_lesions_per_class=12)))
    assert sum(counts.values()) == 500
    # df (1.1%) and vasc (1.4%) fall under the floor; the other 476 lesions are shared in
    # proportion to the remaining HAM10000 counts (total 10015 - 115 - 142 = 9758).
    assert counts["df"] == 12 and counts["vasc"] == 12
    for dx in ("akiec", "bcc", "bkl", "mel", "nv"):
        assert abs(counts[dx] - 476 * HAM10000_COUNTS[dx] / 9758) <= 1, dx


def test_class_counts_are_proportional_above_the_floor():
    counts = collections.Counter(class_sequence(SyntheticConfig(n_lesions=2000, min_lesions_per_class=12)))
    total = sum(HAM10000_COUNTS.values())
    for dx in CLASSES:
        assert abs(counts[dx] - 2000 * HAM10000_COUNTS[dx] / total) <= 1, dx


def test_more_lesions_append_without_changing_earlier_ones():
    short = lesion_plan(SyntheticConfig(n_lesions=100))
    long = lesion_plan(SyntheticConfig(n_lesions=160))
    assert long[:100] == short


def test_plan_skin_tones():
    cfg = SyntheticConfig(n_lesions=600, dark_skin_fraction=0.25)
    plans = lesion_plan(cfg)
    for plan in plans:
        assert plan.fitzpatrick == fitzpatrick_from_ita(plan.ita)
        rgb = np.round(np.array(plan.skin_rgb) * 255).astype(np.uint8)
        assert ita_from_rgb(rgb) == pytest.approx(plan.ita, abs=0.01)  # the recorded ITA is the painted one
    # Every class gets its share of dark skin, to within one lesion.
    for dx in CLASSES:
        of_class = [p for p in plans if p.dx == dx]
        dark = sum(p.fitzpatrick >= 5 for p in of_class)
        assert abs(dark - 0.25 * len(of_class)) <= 1, dx
    # Light skin is mostly types II-III, as in HAM10000.
    light = [p.fitzpatrick for p in plans if p.fitzpatrick <= 4]
    assert sum(t in (2, 3) for t in light) > 0.6 * len(light)
    assert set(light) == {1, 2, 3, 4}


def test_no_dark_skin_when_the_fraction_is_zero():
    assert all(p.fitzpatrick <= 4 for p in lesion_plan(SyntheticConfig(n_lesions=100, dark_skin_fraction=0.0)))


@pytest.mark.parametrize("fitzpatrick", [1, 2, 3, 4, 5, 6])
def test_skin_colour_has_the_type_it_is_asked_for(fitzpatrick):
    rng = np.random.default_rng(fitzpatrick)
    for _ in range(20):
        rgb, ita = skin_colour(fitzpatrick, rng)
        assert fitzpatrick_from_ita(ita) == fitzpatrick
        assert ita_from_rgb(np.round(rgb * 255).astype(np.uint8)) == pytest.approx(ita)


def test_lesion_contrast_is_lower_on_darker_skin():
    light, _ = skin_colour(2, np.random.default_rng(0))
    dark, _ = skin_colour(6, np.random.default_rng(0))
    assert lesion_contrast(light) > 0.9
    assert lesion_contrast(dark) < 0.7


@pytest.mark.parametrize("dx", CLASSES)
def test_draw_lesion_returns_a_centred_soft_lesion(dx):
    template = draw_lesion(dx, np.random.default_rng(3), 96)
    assert template.transmission.shape == (3, 96, 96) and template.transmission.dtype == np.float32
    assert template.coverage.shape == (96, 96) and template.coverage.dtype == np.float32
    assert template.coverage[48, 48] == pytest.approx(1.0)
    assert template.coverage[0, 0] == 0.0 and template.coverage[-1, -1] == 0.0
    assert 0 < template.extent < 48


def test_draw_lesion_rejects_an_unknown_class():
    with pytest.raises(ValueError, match="'melanoma'"):
        draw_lesion("melanoma", np.random.default_rng(0), 64)


# --- generated images ------------------------------------------------------------------------

def test_images_decode_as_rgb_with_a_binary_mask_inside_the_frame(small_images):
    for image in small_images:
        rgb = decode_jpeg(image.jpeg)
        assert rgb.shape == (SMALL.height, SMALL.width, 3) and rgb.dtype == np.uint8
        assert image.mask.shape == (SMALL.height, SMALL.width) and image.mask.dtype == np.uint8
        assert set(np.unique(image.mask)) == {0, 255}
        assert (image.mask > 0).sum() > 0.02 * image.mask.size
        border = np.concatenate([image.mask[0], image.mask[-1], image.mask[:, 0], image.mask[:, -1]])
        assert not border.any(), f"{image.image_id}: lesion touches the frame"


def test_records_have_every_field_with_valid_values(small_images):
    ids = [image.image_id for image in small_images]
    assert len(set(ids)) == len(ids)
    for image in small_images:
        record = image.record
        assert set(record) == set(HAM_COLUMNS) | {"fitzpatrick", "ita"}
        assert record["image_id"] == image.image_id and image.image_id.startswith("SYN_")
        assert record["lesion_id"].startswith("SYNL_")
        assert record["dx"] in CLASSES and record["dx_type"] == "synthetic"
        assert isinstance(record["age"], int) and 0 <= record["age"] <= 90
        assert record["sex"] in ("male", "female")
        assert record["localization"] in LOCALIZATIONS
        assert isinstance(record["ita"], float)
        assert record["fitzpatrick"] == fitzpatrick_from_ita(record["ita"])


def test_lesions_have_several_images_with_a_different_pose(small_images):
    groups = _by_lesion(small_images)
    sizes = [len(images) for images in groups.values()]
    assert min(sizes) >= SMALL.min_images_per_lesion and max(sizes) <= SMALL.max_images_per_lesion
    assert sum(size >= 2 for size in sizes) >= len(groups) // 3
    for images in groups.values():
        keys = {k: images[0].record[k] for k in ("dx", "fitzpatrick", "ita", "age", "sex", "localization")}
        for other in images[1:]:
            assert {k: other.record[k] for k in keys} == keys
            assert not np.array_equal(other.mask, images[0].mask)  # moved, rotated or zoomed
            area_ratio = (other.mask > 0).sum() / (images[0].mask > 0).sum()
            assert 0.3 < area_ratio < 3.0  # but the same lesion


def test_lesions_per_class_follow_the_plan(small_images):
    lesions = {image.record["lesion_id"]: image.record["dx"] for image in small_images}
    assert collections.Counter(lesions.values()) == collections.Counter(class_sequence(SMALL))
    assert collections.Counter(lesions.values())["df"] == SMALL.min_lesions_per_class


def _lesion_and_ring(image):
    """Median CIELAB (L*, a*, b*) of the lesion and of a ring of skin around it (medians, so
    that hairs and the vignette in the ring do not count)."""
    rgb = decode_jpeg(image.jpeg)
    inner = cv2.erode(image.mask, np.ones((5, 5), np.uint8)) > 0
    near = cv2.dilate(image.mask, np.ones((9, 9), np.uint8)) > 0
    ring = (cv2.dilate(image.mask, np.ones((25, 25), np.uint8)) > 0) & ~near
    return np.median(lab_from_rgb(rgb[inner]), axis=0), np.median(lab_from_rgb(rgb[ring]), axis=0)


def test_lesions_stand_out_from_the_skin_around_them(small_images):
    differences = collections.defaultdict(list)
    for image in small_images:
        lesion, ring = _lesion_and_ring(image)
        differences[image.record["dx"]].append(lesion - ring)
    everything = np.concatenate([np.array(d) for d in differences.values()])
    assert np.mean(np.linalg.norm(everything, axis=1) > 5) > 0.9  # a visible colour difference (delta E)
    assert everything[:, 0].mean() < -5  # darker on average
    for dx in ("nv", "mel", "bkl", "df", "vasc"):  # pigmented or blood-filled: darker
        assert np.mean(np.array(differences[dx])[:, 0] < 0) > 0.8, dx
    for dx in ("akiec", "vasc"):  # red: higher a*
        assert np.mean(np.array(differences[dx])[:, 1] > 0) > 0.8, dx


def test_lesions_have_less_contrast_on_dark_skin(small_images):
    contrast = {"light": [], "dark": []}
    for image in small_images:
        lesion, ring = _lesion_and_ring(image)
        if image.record["fitzpatrick"] <= 3:
            contrast["light"].append(np.linalg.norm(lesion - ring))
        elif image.record["fitzpatrick"] >= 5:
            contrast["dark"].append(np.linalg.norm(lesion - ring))
    assert len(contrast["light"]) > 10 and len(contrast["dark"]) > 10
    assert np.mean(contrast["light"]) > 1.3 * np.mean(contrast["dark"])


def test_vignette_darkens_the_corners(small_images):
    darker = []
    for image in small_images:
        grey = cv2.cvtColor(decode_jpeg(image.jpeg), cv2.COLOR_RGB2GRAY).astype(np.float32)
        corners = np.mean([grey[:6, :6].mean(), grey[:6, -6:].mean(), grey[-6:, :6].mean(), grey[-6:, -6:].mean()])
        skin = grey[image.mask == 0].mean()
        darker.append(corners < 0.6 * skin)
    assert np.mean(darker) > 0.8


def test_skin_has_the_recorded_tone_away_from_lesion_and_vignette(small_images):
    h, w = SMALL.height, SMALL.width
    ys, xs = np.mgrid[0:h, 0:w]
    central = np.hypot(xs - (w - 1) / 2, ys - (h - 1) / 2) < 0.4 * h
    matches = []
    for image in small_images:
        far = cv2.dilate(image.mask, np.ones((21, 21), np.uint8)) == 0
        pixels = decode_jpeg(image.jpeg)[far & central]
        if len(pixels) < 100:
            continue
        matches.append(fitzpatrick_from_ita(ita_from_rgb(pixels)) == image.record["fitzpatrick"])
    assert len(matches) > 0.5 * len(small_images)
    assert np.mean(matches) > 0.7


def test_jpeg_quality_is_drawn_in_the_configured_range(monkeypatch):
    qualities = []
    encode = synthetic.encode_jpeg

    def spy(rgb, quality):
        qualities.append(quality)
        return encode(rgb, quality)

    monkeypatch.setattr(synthetic, "encode_jpeg", spy)
    cfg = dataclasses.replace(SMALL, n_lesions=14, min_lesions_per_class=2, jpeg_quality_min=80, jpeg_quality_max=84)
    list(generate(cfg))
    assert set(qualities) <= set(range(80, 85)) and len(set(qualities)) > 1


def test_same_config_gives_identical_output_and_a_new_seed_does_not():
    cfg = dataclasses.replace(SMALL, n_lesions=14, min_lesions_per_class=2, width=96, height=72)
    first, second = list(generate(cfg)), list(generate(cfg))
    assert [i.jpeg for i in first] == [i.jpeg for i in second]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(first, second))
    assert [i.record for i in first] == [i.record for i in second]
    other = list(generate(dataclasses.replace(cfg, seed=8)))
    assert [i.jpeg for i in other][:3] != [i.jpeg for i in first][:3]


def test_more_lesions_keep_the_earlier_images():
    cfg = dataclasses.replace(SMALL, n_lesions=14, min_lesions_per_class=2, width=96, height=72)
    short = list(generate(cfg))
    long = list(generate(dataclasses.replace(cfg, n_lesions=18)))
    assert [i.jpeg for i in long[: len(short)]] == [i.jpeg for i in short]


# --- difficulty ------------------------------------------------------------------------------

def test_colour_histograms_beat_chance_but_do_not_solve_the_task():
    """Measured, not guessed: a linear model on HSV histograms, cross-validated by lesion."""
    cfg = SyntheticConfig(n_lesions=200, min_lesions_per_class=24, width=128, height=96, seed=3)
    features, labels, groups = [], [], []
    for image in generate(cfg):
        hsv = cv2.cvtColor(decode_jpeg(image.jpeg), cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
        features.append(hist / hist.sum())
        labels.append(image.record["dx"])
        groups.append(image.record["lesion_id"])
    assert 400 <= len(labels) <= 600
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=3000))
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    predicted = cross_val_predict(model, np.array(features), np.array(labels), groups=groups, cv=folds)
    score = balanced_accuracy_score(labels, predicted)
    print(f"balanced accuracy of HSV histograms + logistic regression: {score:.3f}")
    assert 1 / 7 + 0.1 < score < 0.85, score

"""Skin tone from the healthy skin: band edges, the palette baseline, the skin mask leaving out
lesion, vignette, hair and highlights, and too little skin."""
import cv2
import numpy as np
import pytest

from skinlab import healthy_skin, skintone
from skinlab.healthy_skin import SkinOptions


def lab_colour(lightness, a_star, b_star) -> tuple[int, int, int]:
    lab = np.array([[[lightness, a_star, b_star]]], np.float32)
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).reshape(3), 0, 1)
    return tuple(int(round(c * 255)) for c in rgb)


SKIN = lab_colour(65.0, 12.0, 15.0)  # ITA arctan(15 / 15) = 45 degrees: light, type II


def drawn(height=120, width=160):
    """Skin with a dark lesion, a black vignette in the corners, a hair and a highlight."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = SKIN
    lesion = np.zeros((height, width), np.uint8)
    cv2.ellipse(lesion, (80, 60), (28, 20), 0, 0, 360, 1, -1)
    image[lesion > 0] = lab_colour(35.0, 18.0, 25.0)
    yy, xx = np.mgrid[:height, :width]
    corners = np.hypot((xx + 0.5) / (width / 2) - 1, (yy + 0.5) / (height / 2) - 1) > 1.12
    image[corners] = (10, 8, 8)
    cv2.line(image, (10, 100), (150, 20), (40, 30, 25), 1)  # a hair across skin and lesion
    cv2.circle(image, (30, 60), 5, (252, 252, 252), -1)  # a specular highlight
    return image, lesion > 0, corners


@pytest.mark.parametrize(("ita", "band"), [(90, 0), (55.01, 0), (55, 1), (41, 2), (28.5, 2), (28, 3), (10, 4),
                                          (-29.9, 4), (-30, 5), (-80, 5)])
def test_band_edges_go_to_the_darker_side(ita, band):
    assert skintone.band_index(ita) == band
    assert skintone.fitzpatrick_from_ita(ita) == band + 1  # the same cut points by default


def test_band_cuts_are_params_and_checked():
    assert skintone.band_index(50, cuts=(60, 50, 40, 30, 20)) == 2
    with pytest.raises(ValueError, match=r"cuts must be 5 strictly decreasing angles"):
        skintone.band_index(0, cuts=(10, 20, 30, 40, 50))
    with pytest.raises(ValueError, match="ITA must be a finite"):
        skintone.band_index(float("nan"))


def test_palette_baseline_is_the_nearest_chart_colour_to_the_mean():
    for fitzpatrick, colour in enumerate(skintone.PALETTE, 1):
        assert skintone.palette_type(np.full((4, 5, 3), colour, np.uint8)) == fitzpatrick
    half = np.zeros((2, 2, 3), np.uint8)
    half[0] = skintone.PALETTE[0]
    half[1] = (0, 0, 0)  # a dark half (a vignette, a lesion) drags the mean of the whole image
    assert skintone.palette_type(half) == 5


def test_the_skin_mask_leaves_out_lesion_vignette_hair_and_highlight():
    image, lesion, corners = drawn()
    skin = healthy_skin.skin_mask(image, lesion)
    assert not (skin & lesion).any() and not (skin & corners).any()
    grown = cv2.dilate(lesion.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert not (skin & grown).any()  # the lesion's rim is left out too
    assert not skin[60, 30] and not skin[100, 10]  # the highlight, the hair
    colours = image[skin].astype(int)
    assert (np.abs(colours - SKIN).max(axis=1) <= 2).all()  # nothing but skin is left
    assert skin.sum() > 0.4 * skin.size


def test_the_estimate_is_the_skin_tone_where_the_whole_image_is_not():
    image, lesion, _ = drawn()
    estimate = healthy_skin.estimate(image, lesion)
    assert estimate.ita == pytest.approx(45.0, abs=1.0)
    assert (estimate.band, estimate.fitzpatrick, estimate.reason) == ("light", 2, "")
    assert abs(skintone.ita_from_rgb(image) - 45.0) > 5  # the whole image's mean colour is off
    assert skintone.palette_type(image) != 2


def test_too_little_skin_gives_no_estimate_and_says_why():
    image, _, _ = drawn()
    lesion = np.ones(image.shape[:2], bool)
    lesion[:3, :3] = False
    estimate = healthy_skin.estimate(image, lesion, SkinOptions(lesion_margin=0.0))
    assert estimate.ita is None and estimate.band is None and estimate.fitzpatrick is None
    assert estimate.reason.startswith("too little healthy skin: 0 of 19200 pixels (0.0%, needs 5%)")


def test_shades_of_gray_changes_the_tone_it_is_told_to_correct():
    image, lesion, _ = drawn()
    plain = healthy_skin.estimate(image, lesion)
    corrected = healthy_skin.estimate(image, lesion, SkinOptions(colour_constancy="shades_of_gray"))
    # the skin fills most of the image, so making the image's mean grey removes the skin's own yellow (b*)
    assert corrected.ita > plain.ita + 20
    with pytest.raises(ValueError, match="colour_constancy must be one of none, shades_of_gray"):
        healthy_skin.estimate(image, lesion, SkinOptions(colour_constancy="grey_world"))


def test_a_mask_of_another_size_is_refused_and_large_images_are_measured_small():
    image, lesion, _ = drawn()
    with pytest.raises(ValueError, match=r"lesion mask is 80x60, its image 160x120"):
        healthy_skin.skin_mask(image, lesion[::2, ::2])
    big, big_lesion = (cv2.resize(a, (640, 480), interpolation=cv2.INTER_NEAREST) for a in (image, lesion.astype(np.uint8)))
    estimate = healthy_skin.estimate(big, big_lesion > 0, SkinOptions(work_size=160))
    assert estimate.ita == pytest.approx(45.0, abs=1.0) and estimate.n_skin_pixels <= 160 * 120


def test_bands_and_types_have_their_own_cut_points():
    image, lesion, _ = drawn()
    estimate = healthy_skin.estimate(image, lesion, SkinOptions(band_cuts=(60, 50, 40, 30, 20),
                                                                fitzpatrick_cuts=(46, 44, 28, 10, -30)))
    assert (estimate.band, estimate.fitzpatrick) == ("intermediate", 1 + 1)  # ITA 45: band 40-50, type II (44-46)

"""ITA and Fitzpatrick type: boundary values and colours whose CIELAB values are known."""

import numpy as np
import pytest
from skimage.color import lab2rgb

from skinlab.skintone import fitzpatrick_from_ita, ita_from_lab, ita_from_rgb


@pytest.mark.parametrize(
    ("ita", "expected"),
    [
        (90.0, 1), (55.01, 1), (55.0, 2), (41.01, 2), (41.0, 3), (28.01, 3), (28.0, 4),
        (10.01, 4), (10.0, 5), (-29.99, 5), (-30.0, 6), (-90.0, 6),
    ],
)
def test_fitzpatrick_from_ita_boundaries(ita, expected):
    assert fitzpatrick_from_ita(ita) == expected


def test_fitzpatrick_from_ita_rejects_nan():
    with pytest.raises(ValueError, match="ITA"):
        fitzpatrick_from_ita(float("nan"))


def _rgb_of_lab(lightness: float, b_star: float, a_star: float = 10.0) -> np.ndarray:
    rgb = lab2rgb(np.array([[[lightness, a_star, b_star]]], np.float64))
    return np.round(rgb * 255).astype(np.uint8).reshape(1, 3)


def test_ita_from_lab_known_angles():
    assert ita_from_lab(70.0, 20.0) == pytest.approx(45.0)
    assert ita_from_lab(50.0, 15.0) == pytest.approx(0.0)
    assert ita_from_lab(30.0, 20.0) == pytest.approx(-45.0)
    assert ita_from_lab(80.0, 0.0) == pytest.approx(90.0)  # defined where b* is 0


def test_ita_from_rgb_of_a_known_colour():
    # L* = 70, b* = 20: arctan(20 / 20) = 45 degrees, up to uint8 rounding.
    pixels = np.repeat(_rgb_of_lab(70.0, 20.0), 50, axis=0)
    assert ita_from_rgb(pixels) == pytest.approx(45.0, abs=1.0)
    # L* = 30, b* = 20: -45 degrees, type VI.
    assert ita_from_rgb(_rgb_of_lab(30.0, 20.0)) == pytest.approx(-45.0, abs=1.0)


def test_ita_from_rgb_uses_the_mean_colour_not_the_mean_angle():
    # (70, 20) is 45 degrees and (50, 10) is 0 degrees: their mean angle is 22.5 but the angle
    # of the mean colour (L* 60, b* 15) is arctan(10 / 15) = 33.69 degrees.
    pixels = np.concatenate([_rgb_of_lab(70.0, 20.0), _rgb_of_lab(50.0, 10.0)])
    assert ita_from_rgb(pixels) == pytest.approx(33.69, abs=1.0)


def test_ita_from_rgb_accepts_an_image_shape():
    image = np.broadcast_to(_rgb_of_lab(70.0, 20.0).reshape(1, 1, 3), (4, 5, 3))
    assert ita_from_rgb(image) == pytest.approx(45.0, abs=1.0)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 3), np.float32), "uint8"),
        (np.zeros((4, 4), np.uint8), "3 RGB channels"),
        (np.zeros((0, 3), np.uint8), "empty"),
    ],
)
def test_ita_from_rgb_rejects_bad_input(pixels, message):
    with pytest.raises(ValueError, match=message):
        ita_from_rgb(pixels)

import cv2
import numpy as np
import pytest

from skinlab.data.preprocess import (
    center_crop_square,
    remove_hair,
    resize_mask,
    resize_square,
    shades_of_gray,
)


def smooth_skin(height=96, width=96):
    """A skin-coloured image with a gentle gradient, no structure a black-hat would pick up."""
    ramp = np.linspace(-12, 12, width, dtype=np.float32)[None, :, None]
    base = np.array([205, 160, 140], dtype=np.float32)[None, None, :]
    image = np.broadcast_to(base + ramp, (height, width, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def paint_hairs(image):
    hairy = image.copy()
    for start, end in [((5, 10), (90, 80)), ((10, 85), (85, 20)), ((48, 0), (52, 95))]:
        cv2.line(hairy, start, end, color=(40, 30, 25), thickness=2)
    under = np.any(hairy != image, axis=2)
    return hairy, under


# --- remove_hair -------------------------------------------------------------------------


def test_remove_hair_restores_the_background_under_thin_dark_lines():
    clean = smooth_skin()
    hairy, under = paint_hairs(clean)
    assert under.sum() > 300
    before = np.abs(hairy.astype(int) - clean.astype(int))[under].mean()
    result = remove_hair(hairy)
    after = np.abs(result.astype(int) - clean.astype(int))[under].mean()
    assert before > 100  # the hairs really were there
    assert after < 8


def test_remove_hair_leaves_a_hairless_image_nearly_unchanged():
    clean = smooth_skin()
    result = remove_hair(clean)
    assert np.abs(result.astype(int) - clean.astype(int)).max() <= 2


def test_remove_hair_keeps_a_lesion_wider_than_the_kernel():
    image = smooth_skin()
    cv2.circle(image, (48, 48), 25, color=(90, 60, 50), thickness=-1)
    result = remove_hair(image)
    inner = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(inner, (48, 48), 20, 255, thickness=-1)
    assert np.array_equal(result[inner > 0], image[inner > 0])


def test_remove_hair_preserves_shape_dtype_and_input():
    hairy, _ = paint_hairs(smooth_skin(64, 80))
    original = hairy.copy()
    result = remove_hair(hairy, kernel_size=9, threshold=15, inpaint_radius=2)
    assert result.shape == (64, 80, 3) and result.dtype == np.uint8
    assert np.array_equal(hairy, original)


@pytest.mark.parametrize(
    "kwargs, word",
    [({"kernel_size": 0}, "kernel_size"), ({"threshold": 300}, "threshold"),
     ({"inpaint_radius": 0}, "inpaint_radius")],
)  # fmt: skip
def test_remove_hair_rejects_bad_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        remove_hair(smooth_skin(16, 16), **kwargs)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.float32)],
)
def test_preprocessing_rejects_non_rgb_uint8_images(bad):
    with pytest.raises(ValueError, match="image"):
        remove_hair(bad)
    with pytest.raises(ValueError, match="image"):
        shades_of_gray(bad)
    with pytest.raises(ValueError, match="image"):
        resize_square(bad, 4)


# --- shades_of_gray ----------------------------------------------------------------------


def test_shades_of_gray_removes_a_colour_cast():
    rng = np.random.default_rng(0)
    grey = rng.integers(40, 200, size=(48, 48, 1)).astype(np.float32)
    cast = np.rint(grey * np.array([1.2, 1.0, 0.8], np.float32)).astype(np.uint8)
    means_before = cast.reshape(-1, 3).mean(axis=0)
    assert means_before[0] - means_before[2] > 40
    result = shades_of_gray(cast)
    means = result.reshape(-1, 3).mean(axis=0)
    assert means.max() - means.min() < 1.5
    assert result.dtype == np.uint8 and result.shape == cast.shape


def test_shades_of_gray_leaves_a_neutral_image_unchanged():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, size=(32, 32, 1), dtype=np.uint8)
    neutral = np.repeat(grey, 3, axis=2)
    assert np.array_equal(shades_of_gray(neutral), neutral)


def test_shades_of_gray_on_a_uniform_colour_gives_its_mean_grey():
    # Any p-norm of a constant channel is that constant: illuminant (200, 100, 60), mean 120,
    # gains (0.6, 1.2, 2.0) -> every channel becomes 120.
    image = np.full((4, 4, 3), (200, 100, 60), np.uint8)
    for power in (1, 6, np.inf):
        assert np.array_equal(shades_of_gray(image, power=power), np.full((4, 4, 3), 120, np.uint8))


def test_shades_of_gray_grey_world_by_hand():
    # p=1: channel means R=(100+200)/2=150, G=(50+100)/2=75, B=150; mean 125.
    # gains R=5/6, G=5/3, B=5/6.
    image = np.array([[[100, 50, 120], [200, 100, 180]]], np.uint8)
    expected = np.array([[[83, 83, 100], [167, 167, 150]]], np.uint8)
    assert np.array_equal(shades_of_gray(image, power=1), expected)


def test_shades_of_gray_clips_and_skips_black_channels():
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 200
    assert np.array_equal(shades_of_gray(image), image)  # no light seen in G and B: unchanged
    bright = np.array([[[255, 255, 10], [255, 255, 250]]], np.uint8)
    out = shades_of_gray(bright, power=1)
    assert out.dtype == np.uint8 and out.max() == 255


@pytest.mark.parametrize("power", [1, 2.5, 6, np.inf])
def test_shades_of_gray_matches_the_formula_on_random_pixels(power):
    # The implementation works on histograms; check it against the per-pixel definition.
    image = np.random.default_rng(2).integers(0, 256, size=(13, 7, 3), dtype=np.uint8)
    pixels = image.reshape(-1, 3).astype(np.float64) / 255
    if np.isinf(power):
        illuminant = pixels.max(axis=0)
    else:
        illuminant = np.mean(pixels**power, axis=0) ** (1 / power)
    expected = np.clip(np.rint(image * (illuminant.mean() / illuminant)), 0, 255)
    assert np.array_equal(shades_of_gray(image[:, ::-1], power), expected[:, ::-1].astype(np.uint8))


@pytest.mark.parametrize("power", [0.5, 0, -2, float("nan")])
def test_shades_of_gray_rejects_power_below_one(power):
    with pytest.raises(ValueError, match="power"):
        shades_of_gray(np.full((2, 2, 3), 100, np.uint8), power=power)


# --- resize ------------------------------------------------------------------------------


def test_center_crop_square_drops_the_sides_of_the_long_axis():
    wide = np.arange(4 * 10).reshape(4, 10)
    assert np.array_equal(center_crop_square(wide), wide[:, 3:7])
    tall = np.arange(9 * 4).reshape(9, 4)
    assert np.array_equal(center_crop_square(tall), tall[2:6, :])


def test_resize_square_crops_the_centre_then_resizes():
    image = np.zeros((60, 100, 3), np.uint8)
    image[:, :20] = (255, 0, 0)  # cropped away
    image[:, 20:80] = (0, 200, 0)  # the centred 60 x 60 square
    image[:, 80:] = (0, 0, 255)  # cropped away
    result = resize_square(image, 30)
    assert result.shape == (30, 30, 3) and result.dtype == np.uint8
    assert np.array_equal(result, np.full((30, 30, 3), (0, 200, 0), np.uint8))


def test_resize_square_averages_when_shrinking():
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 200
    image = np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)
    assert np.array_equal(resize_square(image, 4), np.full((4, 4, 3), 100, np.uint8))


def test_resize_square_of_the_right_size_returns_a_copy():
    image = np.full((10, 12, 3), 7, np.uint8)
    result = resize_square(image, 10)
    result[...] = 0
    assert image.min() == 7


def test_resize_mask_keeps_masks_binary_and_aligned_with_the_image():
    mask = np.zeros((60, 100), np.uint8)
    mask[10:40, 30:60] = 255
    image = np.repeat(mask[..., None], 3, axis=2)
    small_mask = resize_mask(mask, 23)
    assert small_mask.shape == (23, 23) and small_mask.dtype == np.uint8
    assert set(np.unique(small_mask)) == {0, 255}
    small_image = resize_square(image, 23)
    bright = small_image[..., 0] > 127
    covered = small_mask > 0
    iou = (bright & covered).sum() / (bright | covered).sum()
    assert iou > 0.95


def test_resize_rejects_bad_sizes_and_masks():
    with pytest.raises(ValueError, match="size"):
        resize_square(np.zeros((4, 4, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="size"):
        resize_mask(np.zeros((4, 4), np.uint8), 2.5)
    with pytest.raises(ValueError, match="mask"):
        resize_mask(np.zeros((4, 4, 3), np.uint8), 2)

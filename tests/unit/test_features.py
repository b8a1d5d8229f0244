"""Hand-crafted feature extractors: fixed lengths, hand-computed values and invariances."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skinlab.features import (
    FEATURE_SETS,
    BagOfWords,
    FeatureExtractor,
    color_moments,
    hog_features,
    hog_length,
    hsv_histogram,
    lbp_histogram,
    raw_pixels,
)
from skinlab.features.bow import dense_keypoints, sift_available

SIZES = (28, 64, 128)


# --- synthetic images -------------------------------------------------------------------------

def solid(rgb, size=16):
    return np.tile(np.array(rgb, np.uint8), (size, size, 1))


def grey_to_rgb(grey):
    return np.repeat(np.asarray(grey, np.uint8)[..., None], 3, axis=2)


def stripes(size=64, horizontal=True, period=8):
    """Bands period/2 px wide, alternating 0 and 255; horizontal bands vary along y."""
    band = (np.arange(size) // (period // 2)) % 2 * 255
    grey = np.tile(band[:, None], (1, size)) if horizontal else np.tile(band[None, :], (size, 1))
    return grey_to_rgb(grey)


def dots(size=64, period=8, radius=2):
    y, x = np.mgrid[:size, :size]
    inside = ((y % period) - period / 2) ** 2 + ((x % period) - period / 2) ** 2 <= radius**2
    return grey_to_rgb(inside * 255)


def noise(size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# --- fixed lengths ----------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_lengths_do_not_depend_on_image_size(size):
    image = noise(size)
    assert raw_pixels(image).shape == (16 * 16 * 3,)
    assert raw_pixels(image, size=8, color=False).shape == (64,)
    assert hsv_histogram(image).shape == (8 * 4 * 4,)
    assert color_moments(image).shape == (18,)
    assert hog_features(image).shape == (7 * 7 * 2 * 2 * 9,)
    assert lbp_histogram(image).shape == (10,)
    assert lbp_histogram(image, points=16, radius=2).shape == (18,)
    for vector in (raw_pixels(image), hsv_histogram(image), hog_features(image), lbp_histogram(image)):
        assert vector.dtype == np.float32


def test_hog_length_formula():
    assert hog_length(8, 9) == 1764
    assert hog_length(4, 6) == 3 * 3 * 4 * 6
    assert hog_features(noise(), cells=4, orientations=6).shape == (hog_length(4, 6),)


# --- raw pixels -------------------------------------------------------------------------------

def test_raw_pixels_of_a_2x2_block_image():
    colours = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [51, 102, 204]]], np.uint8)
    image = colours.repeat(2, axis=0).repeat(2, axis=1)  # 4x4, each colour a 2x2 block
    expected = colours.reshape(-1).astype(np.float32) / 255
    np.testing.assert_allclose(raw_pixels(image, size=2), expected, atol=1e-7)


def test_raw_pixels_averages_each_block():
    block = np.array([[10, 20], [30, 40]], np.uint8)
    image = grey_to_rgb(np.tile(block, (2, 2)))  # every 2x2 block averages to 25
    np.testing.assert_allclose(raw_pixels(image, size=2, color=False), np.full(4, 25 / 255), atol=1e-7)


def test_raw_pixels_grey_uses_luma_weights():
    # 0.299 * 255 = 76.2 -> 76
    np.testing.assert_allclose(raw_pixels(solid((255, 0, 0)), size=1, color=False), [76 / 255], atol=1e-7)


# --- colour -----------------------------------------------------------------------------------

def test_hsv_histogram_of_pure_red_is_one_bin():
    # red: hue 0 -> bin 0 of 8; saturation 255 -> bin 3 of 4; value 255 -> bin 3 of 4
    hist = hsv_histogram(solid((255, 0, 0)))
    expected = np.zeros(128, np.float32)
    expected[0 * 16 + 3 * 4 + 3] = 1.0
    np.testing.assert_array_equal(hist, expected)


def test_hsv_histogram_half_red_half_blue():
    # blue: OpenCV hue 240 / 2 = 120 -> bin 120 // 22.5 = 5 -> index 5 * 16 + 15 = 95
    image = np.concatenate([solid((255, 0, 0)), solid((0, 0, 255))], axis=0)
    hist = hsv_histogram(image)
    assert hist[15] == pytest.approx(0.5)
    assert hist[95] == pytest.approx(0.5)
    assert hist.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("size", SIZES)
def test_hsv_histogram_sums_to_one(size):
    assert hsv_histogram(noise(size)).sum() == pytest.approx(1.0, abs=1e-5)


def test_hsv_histogram_ignores_pixel_positions():
    image = noise(32)
    hist = hsv_histogram(image)
    np.testing.assert_array_equal(hsv_histogram(np.ascontiguousarray(image[:, ::-1])), hist)
    order = np.random.default_rng(1).permutation(32 * 32)
    shuffled = image.reshape(-1, 3)[order].reshape(image.shape)
    np.testing.assert_array_equal(hsv_histogram(shuffled), hist)


def test_color_moments_of_a_flat_grey():
    m = color_moments(solid((128, 128, 128)))
    # H, S, V: grey has hue 0, saturation 0, value 128; std and skewness are 0 everywhere
    np.testing.assert_allclose(m[:9], [0, 0, 0, 0, 0, 0, 128 / 255, 0, 0], atol=1e-6)
    # Lab: L* = 53.59 -> 53.59 * 255 / 100 = 136.6 -> 137; a and b are neutral (128)
    np.testing.assert_allclose(m[9:], [137 / 255, 0, 0, 128 / 255, 0, 0, 128 / 255, 0, 0], atol=1.01 / 255)


def test_color_moments_skewness_of_one_bright_pixel_in_four():
    image = grey_to_rgb([[0, 0], [0, 255]])
    v_mean, v_std, v_skew = color_moments(image)[6:9]
    # values 0, 0, 0, 1: mean 1/4, std sqrt(3)/4, third central moment 3/32 -> skew 2/sqrt(3)
    assert v_mean == pytest.approx(0.25)
    assert v_std == pytest.approx(np.sqrt(3) / 4)
    assert v_skew == pytest.approx(2 / np.sqrt(3), rel=1e-5)


# --- texture ----------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_hog_of_a_constant_image_is_zero(size):
    features = hog_features(solid((90, 60, 40), size))
    assert features.shape == (1764,)
    assert not features.any()


def test_hog_sees_stripe_orientation():
    def orientation_energy(image):
        return hog_features(image).reshape(7, 7, 2, 2, 9).sum(axis=(0, 1, 2, 3))

    horizontal = orientation_energy(stripes(horizontal=True))
    vertical = orientation_energy(stripes(horizontal=False))
    # 9 bins of 20 degrees: horizontal bands have vertical gradients (90 deg, bin 4),
    # vertical bands horizontal gradients (0 deg, bin 0)
    assert horizontal.argmax() == 4
    assert vertical.argmax() == 0
    assert np.abs(horizontal - vertical).sum() > 10


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("value", [0, 128, 255])
def test_lbp_of_a_constant_image_is_all_in_the_all_ones_bin(size, value):
    # every neighbour >= centre: 8 ones, a uniform pattern that skimage codes as 8 (= points)
    hist = lbp_histogram(solid((value,) * 3, size))
    expected = np.zeros(10, np.float32)
    expected[8] = 1.0
    np.testing.assert_array_equal(hist, expected)
    assert lbp_histogram(solid((value,) * 3, size), points=16, radius=2).argmax() == 16


def test_lbp_of_one_bright_pixel():
    grey = np.full((9, 9), 20, np.uint8)
    grey[4, 4] = 200
    hist = lbp_histogram(grey_to_rgb(grey))
    # the bright pixel has no neighbour >= itself (code 0); every other pixel sees only
    # equal or brighter neighbours (code 8)
    np.testing.assert_allclose(hist[[0, 8]], [1 / 81, 80 / 81], rtol=1e-6)
    assert hist.sum() == pytest.approx(1.0)


def test_lbp_is_rotation_invariant_and_normalised():
    image = noise(64, seed=3)
    hist = lbp_histogram(image)
    assert hist.sum() == pytest.approx(1.0, abs=1e-6)
    assert hist.max() < 0.5  # a random texture spreads over several codes
    rotated = lbp_histogram(np.ascontiguousarray(np.rot90(image)))
    assert np.abs(hist - rotated).sum() < 0.05


def test_lbp_tells_stripes_from_noise():
    assert np.abs(lbp_histogram(stripes()) - lbp_histogram(noise())).sum() > 0.5


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((8, 8), np.uint8), "shape (8, 8)"),
        (np.zeros((8, 8, 4), np.uint8), "shape (8, 8, 4)"),
        (np.zeros((8, 8, 3), np.float32), "float32"),
        ([[0, 0, 0]], "list"),
    ],
)
@pytest.mark.parametrize("function", [raw_pixels, hsv_histogram, color_moments, hog_features, lbp_histogram])
def test_bad_images_are_rejected_with_a_clear_error(function, bad, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        function(bad)


def test_bad_params_are_rejected():
    with pytest.raises(ValueError, match="cells must divide 64"):
        hog_features(noise(), cells=5)
    with pytest.raises(ValueError, match="bins must have 3"):
        hsv_histogram(noise(), bins=(8, 4))
    with pytest.raises(ValueError, match="size"):
        raw_pixels(noise(), size=0)


# --- bag of words -----------------------------------------------------------------------------

def textures():
    return [stripes(64, True), stripes(64, False), dots(64), dots(64, period=12, radius=3), noise(64)]


@pytest.fixture(scope="module")
def fitted_bow():
    return BagOfWords().fit(textures(), n_words=8, seed=0)


def test_dense_grid_counts():
    # 16-px patches every 8 px: centres 8, 16, ..., 56 -> 7 per side on 64 px, 15 on 128 px
    assert len(dense_keypoints(64, 64, step=8, size=16)) == 49
    assert len(dense_keypoints(128, 128, step=8, size=16)) == 225
    assert len(dense_keypoints(8, 8, step=8, size=16)) == 1  # never empty


def test_sift_descriptor_describes_its_own_patch(fitted_bow):
    # OpenCV's SIFT window is 6x the KeyPoint size: a size-16 keypoint would read the whole
    # 64-px image. With a 16-px patch, pixels 16 px away from the centre must not matter.
    if fitted_bow.detector != "sift":
        pytest.skip("no SIFT in this OpenCV build")
    image = noise(64)
    centre = 3 * 7 + 3  # the grid point at (32, 32)
    y, x = np.mgrid[:64, :64]
    distance = np.maximum(np.abs(y - 32), np.abs(x - 32))
    reference = fitted_bow.descriptors(image)[centre]
    for margin, should_change in ((16, False), (6, True)):
        changed = image.copy()
        changed[distance > margin] = 255 - changed[distance > margin]
        moved = np.abs(fitted_bow.descriptors(changed)[centre] - reference).max()
        assert (moved > 0) == should_change, (margin, moved)


@pytest.mark.parametrize("size, count", [(28, 49), (64, 49), (128, 225)])
def test_small_images_are_upscaled_before_description(fitted_bow, size, count):
    desc = fitted_bow.descriptors(noise(size))
    assert desc.shape[0] == count
    assert desc.dtype == np.float32


@pytest.mark.parametrize("size", SIZES)
def test_bow_histogram_has_n_words_and_sums_to_one(fitted_bow, size):
    hist = fitted_bow.transform(dots(size))
    assert hist.shape == (8,)
    assert hist.dtype == np.float32
    assert hist.sum() == pytest.approx(1.0)
    assert fitted_bow.n_words == 8


def test_bow_is_deterministic_for_a_seed(fitted_bow):
    again = BagOfWords().fit(iter(textures()), n_words=8, seed=0)  # a one-shot iterator is enough
    np.testing.assert_array_equal(again.vocabulary_, fitted_bow.vocabulary_)
    np.testing.assert_array_equal(again.transform(noise(seed=9)), fitted_bow.transform(noise(seed=9)))


def test_bow_survives_a_joblib_round_trip(fitted_bow, tmp_path):
    path = tmp_path / "bow.joblib"
    joblib.dump(fitted_bow, path)
    loaded = joblib.load(path)
    for image in textures():
        np.testing.assert_array_equal(loaded.transform(image), fitted_bow.transform(image))


def test_bow_tells_stripes_from_dots(fitted_bow):
    difference = np.abs(fitted_bow.transform(stripes()) - fitted_bow.transform(dots())).sum()
    assert difference > 1.0  # L1 distance between two histograms is at most 2


def test_bow_with_no_descriptors_gives_zeros(fitted_bow, monkeypatch):
    monkeypatch.setattr(fitted_bow, "descriptors", lambda image: np.zeros((0, 128), np.float32))
    hist = fitted_bow.transform(noise())
    assert hist.shape == (8,)
    assert not hist.any()


def test_bow_reservoir_keeps_at_most_max_descriptors():
    bow = BagOfWords().fit(textures(), n_words=4, seed=1, max_descriptors=60)  # 5 x 49 seen
    assert bow.vocabulary_.shape == (4, 128)
    again = BagOfWords().fit(textures(), n_words=4, seed=1, max_descriptors=60)
    np.testing.assert_array_equal(again.vocabulary_, bow.vocabulary_)


def test_bow_errors():
    with pytest.raises(NotFittedError):
        BagOfWords().transform(noise())
    with pytest.raises(ValueError, match="only 49 descriptors"):
        BagOfWords().fit([noise()], n_words=64)
    with pytest.raises(ValueError, match="unknown detector 'surf'"):
        BagOfWords(detector="surf")


def test_orb_fallback_works():
    bow = BagOfWords(detector="orb").fit(textures(), n_words=6, seed=0)
    assert bow.descriptors(noise(28)).shape == (49, 256)
    hist = bow.transform(dots())
    assert hist.shape == (6,)
    assert hist.sum() == pytest.approx(1.0)


def test_auto_detector_prefers_sift():
    assert BagOfWords().detector == ("sift" if sift_available() else "orb")


# --- registry ---------------------------------------------------------------------------------

def test_feature_sets_are_the_agreed_names():
    assert FEATURE_SETS == ("pixels_grey", "pixels_color", "hsv_hist", "hog", "lbp", "sift_bow")


def test_unknown_feature_set_names_it_and_lists_valid_names():
    with pytest.raises(ValueError) as error:
        FeatureExtractor("gabor")
    message = str(error.value)
    assert "'gabor'" in message
    for name in FEATURE_SETS:
        assert name in message


def test_unknown_param_is_rejected():
    with pytest.raises(ValueError, match="unknown param.*orientatons.*'hog'"):
        FeatureExtractor("hog", {"orientatons": 9})


def test_bad_param_value_fails_at_construction_naming_the_set():
    with pytest.raises(ValueError, match="feature set 'hog': cells must divide 64"):
        FeatureExtractor("hog", {"cells": 7})
    with pytest.raises(ValueError, match="feature set 'sift_bow': n_words must be an integer >= 2"):
        FeatureExtractor("sift_bow", {"n_words": 0})
    with pytest.raises(ValueError, match="feature set 'hsv_hist': bins must have 3"):
        FeatureExtractor("hsv_hist", {"bins": [8, 8]})


@pytest.mark.parametrize(
    "name, params, dim",
    [
        ("pixels_grey", {}, 256),
        ("pixels_color", {"size": 8}, 192),
        ("hsv_hist", {"bins": [4, 2, 2]}, 16),
        ("hog", {}, 1764),
        ("lbp", {"points": 16, "radius": 2}, 18),
        ("sift_bow", {"n_words": 8}, 8),
    ],
)
def test_extractor_dim_matches_its_vectors(name, params, dim):
    extractor = FeatureExtractor(name, params).fit(textures())
    assert extractor.dim == dim
    for size in SIZES:
        assert extractor.transform_one(noise(size)).shape == (dim,)
    matrix = extractor.transform(image for image in textures())  # a generator: streamed
    assert matrix.shape == (5, dim)
    assert matrix.dtype == np.float32
    assert extractor.transform([]).shape == (0, dim)


def test_fit_without_vocabulary_does_not_consume_images():
    images = iter(textures())
    FeatureExtractor("hog").fit(images)
    assert next(images).shape == (64, 64, 3)


def test_sift_bow_extractor_needs_fit_and_pickles():
    extractor = FeatureExtractor("sift_bow", {"n_words": 8})
    assert extractor.needs_fit and not FeatureExtractor("lbp").needs_fit
    with pytest.raises(NotFittedError):
        extractor.transform_one(noise())
    with pytest.raises(NotFittedError):
        extractor.transform([])
    extractor.fit(textures())
    loaded = pickle.loads(pickle.dumps(extractor))
    np.testing.assert_array_equal(loaded.transform(textures()), extractor.transform(textures()))
    assert loaded.dim == 8

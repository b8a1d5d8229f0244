import dataclasses
from collections import Counter

import numpy as np
import pytest

from skinlab.data.augment import (
    AugmentConfig,
    AugmentDraw,
    apply_draw,
    augment,
    balance_plan,
    brightness_contrast,
    down_up_scale,
    hue_saturation,
    sample_draw,
)

IDENTITY = AugmentConfig.identity()
GEOMETRIC_ONLY = dataclasses.replace(
    AugmentConfig(), brightness=0.0, contrast=0.0, hue=0.0, saturation=0.0, blur=0.0, downscale=0.0
)
PHOTOMETRIC_ALWAYS = dataclasses.replace(IDENTITY, brightness=0.2, contrast=0.2, hue=10.0,
                                         saturation=0.3, blur=1.0, downscale=1.0)  # fmt: skip

# One transform at a time, switched fully on.
SINGLE_TRANSFORMS = {
    "hflip": dict(hflip=1.0),
    "vflip": dict(vflip=1.0),
    "rot90": dict(rot90=1.0),
    "rotate": dict(rotate_degrees=30.0),
    "zoom": dict(zoom=(1.2, 1.5)),
    "brightness": dict(brightness=0.2),
    "contrast": dict(contrast=0.3),
    "hue": dict(hue=20.0),
    "saturation": dict(saturation=0.5),
    "blur": dict(blur=1.0),
    "downscale": dict(downscale=1.0),
}


def textured_image(height=40, width=40, seed=0):
    """Colourful, saturated noise: every transform visibly changes it."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(small, np.ones((4, 4, 1), np.uint8))[:height, :width])


def square_scene(size=64, top=10, left=14, side=16):
    image = np.full((size, size, 3), 30, np.uint8)
    image[top : top + side, left : left + side] = 230
    mask = np.zeros((size, size), np.uint8)
    mask[top : top + side, left : left + side] = 255
    return image, mask


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


# --- shapes, dtypes, identity, determinism ----------------------------------------------


@pytest.mark.parametrize("name", sorted(SINGLE_TRANSFORMS))
@pytest.mark.parametrize("shape", [(40, 40), (32, 48)])
def test_each_transform_preserves_shape_and_dtype_and_changes_the_image(name, shape):
    cfg = dataclasses.replace(IDENTITY, **SINGLE_TRANSFORMS[name])
    image = textured_image(*shape)
    mask = np.where(textured_image(*shape, seed=1)[..., 0] > 127, 255, 0).astype(np.uint8)
    out, out_mask = augment(image, mask, cfg, np.random.default_rng(3))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert out_mask.shape == mask.shape and out_mask.dtype == np.uint8
    assert set(np.unique(out_mask)) <= {0, 255}
    assert not np.array_equal(out, image)
    assert out.flags.c_contiguous and out_mask.flags.c_contiguous


def test_identity_config_returns_the_input_exactly_as_new_arrays():
    image = textured_image(30, 50)
    mask = np.zeros((30, 50), np.uint8)
    mask[5:20, 10:40] = 255
    out, out_mask = augment(image, mask, IDENTITY, np.random.default_rng(0))
    assert np.array_equal(out, image) and np.array_equal(out_mask, mask)
    assert not np.shares_memory(out, image) and not np.shares_memory(out_mask, mask)


def test_augment_does_not_modify_its_inputs():
    image, mask = square_scene()
    image_before, mask_before = image.copy(), mask.copy()
    cfg = dataclasses.replace(AugmentConfig(), blur=1.0, downscale=1.0)
    augment(image, mask, cfg, np.random.default_rng(0))
    assert np.array_equal(image, image_before) and np.array_equal(mask, mask_before)


def test_mask_may_be_none():
    out, out_mask = augment(textured_image(), None, AugmentConfig(), np.random.default_rng(0))
    assert out_mask is None and out.shape == (40, 40, 3)


def test_same_seed_same_output_and_different_seed_differs():
    image, mask = square_scene()
    a = augment(image, mask, AugmentConfig(), np.random.default_rng(42))
    b = augment(image, mask, AugmentConfig(), np.random.default_rng(42))
    c = augment(image, mask, AugmentConfig(), np.random.default_rng(43))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_every_call_uses_the_same_number_of_draws_whatever_the_config():
    rng_off = np.random.default_rng(5)
    rng_on = np.random.default_rng(5)
    off = sample_draw(dataclasses.replace(AugmentConfig(), blur=0.0, hflip=0.0), rng_off)
    on = sample_draw(dataclasses.replace(AugmentConfig(), blur=1.0, hflip=1.0), rng_on)
    assert off.angle == on.angle and off.scale == on.scale and off.brightness == on.brightness
    assert off.blur_kernel == 0 and on.blur_kernel in (3, 5)
    assert rng_off.random() == rng_on.random()


def test_sampled_values_stay_inside_the_configured_ranges():
    cfg = AugmentConfig()
    rng = np.random.default_rng(0)
    draws = [sample_draw(cfg, rng) for _ in range(300)]
    assert all(-30 <= d.angle <= 30 and 1.0 <= d.scale <= 1.25 for d in draws)
    assert all(abs(d.brightness) <= 0.15 * 255 and abs(d.hue_shift) <= 5 for d in draws)
    assert all(0.85 <= d.contrast <= 1.15 and 0.85 <= d.saturation <= 1.15 for d in draws)
    assert all(d.downscale == 1.0 or 0.5 <= d.downscale <= 0.9 for d in draws)
    assert {d.rot90_k for d in draws} == {0, 1, 2, 3}
    flips = sum(d.hflip for d in draws)
    assert 110 < flips < 190  # p = 0.5 of 300
    blurs = sum(d.blur_kernel > 0 for d in draws)
    assert 10 < blurs < 55  # p = 0.1 of 300


# --- geometry -----------------------------------------------------------------------------


def test_hflip_with_probability_one_is_fliplr():
    image, mask = square_scene()
    cfg = dataclasses.replace(IDENTITY, hflip=1.0)
    out, out_mask = augment(image, mask, cfg, np.random.default_rng(0))
    assert np.array_equal(out, np.fliplr(image)) and np.array_equal(out_mask, np.fliplr(mask))


def test_vflip_with_probability_one_is_flipud():
    image, mask = square_scene()
    cfg = dataclasses.replace(IDENTITY, vflip=1.0)
    out, out_mask = augment(image, mask, cfg, np.random.default_rng(0))
    assert np.array_equal(out, np.flipud(image)) and np.array_equal(out_mask, np.flipud(mask))


def test_rot90_turns_square_images_by_quarter_turns_and_non_square_by_half_turns():
    image = textured_image(32, 32)
    cfg = dataclasses.replace(IDENTITY, rot90=1.0)
    seen = set()
    for seed in range(30):
        out, _ = augment(image, None, cfg, np.random.default_rng(seed))
        matches = [k for k in (1, 2, 3) if np.array_equal(out, np.rot90(image, k))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {1, 2, 3}
    wide = textured_image(24, 40)
    for seed in range(10):
        out, _ = augment(wide, None, cfg, np.random.default_rng(seed))
        assert np.array_equal(out, np.rot90(wide, 2))


def test_masks_move_with_images_under_geometric_transforms():
    image, mask = square_scene(top=8, left=36, side=18)
    cfg = dataclasses.replace(GEOMETRIC_ONLY, hflip=0.5, vflip=0.5, rot90=0.5, zoom=(1.0, 1.4))
    for seed in range(12):
        out, out_mask = augment(image, mask, cfg, np.random.default_rng(seed))
        bright = out[..., 0] > 127
        covered = out_mask > 127
        assert bright.sum() > 100
        assert iou(bright, covered) > 0.9, seed


def test_zoom_two_doubles_the_side_of_a_centred_square():
    image, mask = square_scene(size=64, top=24, left=24, side=16)
    cfg = dataclasses.replace(IDENTITY, zoom=(2.0, 2.0))
    out, out_mask = augment(image, mask, cfg, np.random.default_rng(0))
    area_before = (image[..., 0] > 127).sum()
    area_after = (out[..., 0] > 127).sum()
    assert 3.6 < area_after / area_before < 4.4
    assert 3.6 < (out_mask > 0).sum() / (mask > 0).sum() < 4.4
    # Still centred: the bright block spans rows/cols 16..47.
    rows, cols = np.nonzero(out[..., 0] > 127)
    assert abs(rows.mean() - 31.5) < 1 and abs(cols.mean() - 31.5) < 1


def test_rotation_reflects_borders_instead_of_filling_black():
    image = np.full((40, 40, 3), 180, np.uint8)
    draw = AugmentDraw(angle=45.0)
    out, _ = apply_draw(image, None, draw)
    assert out.min() == 180  # a constant image stays constant, corners included


def test_rotation_by_90_degrees_matches_rot90():
    image, mask = square_scene(size=33, top=3, left=20, side=7)
    out, out_mask = apply_draw(image, mask, AugmentDraw(angle=90.0))
    assert np.array_equal(out, np.rot90(image, 1))
    assert np.array_equal(out_mask, np.rot90(mask, 1))


# --- photometry ---------------------------------------------------------------------------


def test_photometric_transforms_do_not_touch_the_mask():
    image, mask = square_scene()
    for seed in range(5):
        out, out_mask = augment(image, mask, PHOTOMETRIC_ALWAYS, np.random.default_rng(seed))
        assert np.array_equal(out_mask, mask)
        assert not np.array_equal(out, image)


def test_brightness_and_contrast_by_hand():
    two_tone = np.zeros((2, 2, 3), np.uint8)
    two_tone[0] = 50
    two_tone[1] = 150  # mean 100
    out = brightness_contrast(two_tone, brightness=10.0, contrast=1.5)
    assert np.all(out[0] == 35) and np.all(out[1] == 185)  # 100 + 1.5 * (-50 | 50) + 10
    flat = np.full((2, 2, 3), 250, np.uint8)
    assert np.all(brightness_contrast(flat, 20.0, 2.0) == 255)  # clipped, contrast moot
    assert np.all(brightness_contrast(flat, -300.0, 1.0) == 0)


def test_hue_shift_by_hand():
    red = np.full((2, 2, 3), (255, 0, 0), np.uint8)
    blue = np.full((2, 2, 3), (0, 0, 255), np.uint8)
    assert np.array_equal(hue_saturation(red, 60, 1.0), np.full((2, 2, 3), (0, 255, 0), np.uint8))
    assert np.array_equal(hue_saturation(blue, 60, 1.0), red)  # 120 + 60 wraps to 0
    assert np.array_equal(hue_saturation(red, -60, 1.0), blue)


def test_saturation_zero_gives_grey_and_one_keeps_colour():
    image = textured_image()
    grey = hue_saturation(image, 0, 0.0)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    # Double saturation of a half-saturated orange (255, 191, 128) saturates it fully.
    orange = np.full((1, 1, 3), (255, 191, 128), np.uint8)
    out = hue_saturation(orange, 0, 2.0)
    assert out[0, 0, 0] == 255 and out[0, 0, 2] <= 2


def test_blur_and_downscale_keep_a_flat_image_flat_and_smooth_a_checkerboard():
    flat = np.full((20, 20, 3), 77, np.uint8)
    checker = np.repeat((np.indices((20, 20)).sum(axis=0) % 2 * 255)[..., None], 3, 2)
    checker = checker.astype(np.uint8)
    for draw in (AugmentDraw(blur_kernel=5), AugmentDraw(downscale=0.5)):
        assert np.array_equal(apply_draw(flat, None, draw)[0], flat)
        smoothed = apply_draw(checker, None, draw)[0]
        assert smoothed.std() < 0.5 * checker.std()
    assert down_up_scale(checker, 0.5).shape == (20, 20, 3)


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("hflip", -0.1), ("vflip", 1.5), ("rot90", float("nan")), ("blur", -1), ("downscale", 2),
     ("rotate_degrees", -5), ("rotate_degrees", 400), ("brightness", -0.1), ("contrast", 1.2),
     ("saturation", 3), ("hue", -1), ("hue", 120), ("hflip", True), ("blur", "0.5"),
     ("zoom", (0.8, 1.2)), ("zoom", (1.3, 1.1)), ("zoom", (1.0,)), ("zoom", 1.2),
     ("zoom", (1.0, 10.0)), ("zoom", "12")],
)  # fmt: skip
def test_config_rejects_nonsense_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"AugmentConfig.{field}"):
        AugmentConfig(**{field: value})


def test_config_accepts_a_zoom_list_and_stores_a_tuple():
    cfg = AugmentConfig(zoom=[1.0, 1.5])
    assert cfg.zoom == (1.0, 1.5)
    assert cfg == AugmentConfig(zoom=(1.0, 1.5))


def test_augment_rejects_bad_images_and_mismatched_masks():
    image = textured_image()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="image"):
        augment(image.astype(np.float32), None, IDENTITY, rng)
    with pytest.raises(ValueError, match="mask"):
        augment(image, np.zeros((40, 41), np.uint8), IDENTITY, rng)
    with pytest.raises(ValueError, match="mask"):
        augment(image, np.zeros((40, 40), bool), IDENTITY, rng)


# --- balance_plan -------------------------------------------------------------------------

LABELS = ["nv"] * 5 + ["mel"] * 2 + ["df"]


def test_balance_none_lists_every_index_once():
    assert balance_plan(LABELS, "none", None, np.random.default_rng(0)) == list(range(8))


def test_oversample_to_max_brings_every_class_to_the_majority_count():
    plan = balance_plan(LABELS, "oversample", "max", np.random.default_rng(0))
    assert plan[:8] == list(range(8))  # originals first
    assert all(isinstance(i, int) for i in plan)
    assert Counter(LABELS[i] for i in plan) == {"nv": 5, "mel": 5, "df": 5}
    extras = Counter(plan[8:])
    assert extras[7] == 4  # the only df image, four extra copies
    assert sorted([extras[5], extras[6]]) == [1, 2]  # mel: round robin over its two images
    assert all(LABELS[i] != "nv" for i in plan[8:])


def test_oversample_to_an_int_target_does_not_reduce_larger_classes():
    plan = balance_plan(LABELS, "oversample", 3, np.random.default_rng(0))
    assert Counter(LABELS[i] for i in plan) == {"nv": 5, "mel": 3, "df": 3}
    assert balance_plan(LABELS, "oversample", 1, np.random.default_rng(0)) == list(range(8))


def test_oversample_uses_every_image_of_a_class_before_repeating_one():
    labels = ["a"] * 3 + ["b"] * 20
    plan = balance_plan(labels, "oversample", None, np.random.default_rng(1))  # None == "max"
    uses = Counter(plan[23:])
    assert sum(uses.values()) == 17
    assert sorted(uses.values()) == [5, 6, 6]  # 17 extras over 3 images: 6, 6, 5


def test_oversample_is_deterministic_per_seed():
    labels = ["a"] * 7 + ["b"] * 30 + ["c"] * 4
    a = balance_plan(labels, "oversample", "max", np.random.default_rng(9))
    b = balance_plan(labels, "oversample", "max", np.random.default_rng(9))
    c = balance_plan(labels, "oversample", "max", np.random.default_rng(10))
    assert a == b and a != c


def test_balance_plan_of_no_labels_is_empty():
    assert balance_plan([], "oversample", "max", np.random.default_rng(0)) == []


def test_balance_plan_rejects_unknown_modes_and_targets():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="undersample"):
        balance_plan(LABELS, "undersample", None, rng)
    with pytest.raises(ValueError, match="min"):
        balance_plan(LABELS, "oversample", "min", rng)
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ValueError, match="target"):
            balance_plan(LABELS, "oversample", bad, rng)

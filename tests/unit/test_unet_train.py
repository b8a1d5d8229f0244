"""The segment stage's U-Net fit: val Dice by hand, the best epoch's weights kept, early stopping
by its rule, a saved model that segments alike, and images of any size back at their size."""
import cv2
import numpy as np
import pytest

from skinlab import unet_train
from skinlab.evaluation.segmentation import dice
from skinlab.params import CnnAugment, SegmentUnet
from tests.unit.test_segmentation_data import discs

TINY = SegmentUnet(image_size=32, base_filters=4, depth=2, epochs=4, patience=1, batch_size=4, learning_rate=0.01,
                   augment=CnnAugment(zoom_max=1.0, brightness=0.05, contrast=0.1, saturation=0, hue=0))


class Fixed:
    """A stand-in model: the same probability map for every image of a batch."""

    def __init__(self, prob):
        self.prob = np.asarray(prob, np.float32)

    def __call__(self, images, training=False):
        return np.repeat(self.prob[None, ..., None], len(images), axis=0)


def test_val_dice_is_the_mean_per_image_hard_dice():
    truth_a = np.zeros((4, 4), np.float32)
    truth_a[:2, :2] = 1  # 4 pixels
    truth_b = np.zeros((4, 4), np.float32)  # empty
    prob = np.zeros((4, 4))
    prob[:2, :1] = 0.9  # 2 of a's pixels
    prob[3, 3] = 0.5  # at the threshold: lesion
    batches = [(np.zeros((2, 4, 4, 3)), np.stack([truth_a, truth_b])[..., None])]
    # a: 2 * 2 / (4 + 3) ; b: the empty truth against 3 predicted pixels scores 0
    assert unet_train.val_dice(Fixed(prob), batches, 0.5) == pytest.approx((4 / 7 + 0.0) / 2)
    assert unet_train.val_dice(Fixed(prob), batches, 0.95) == pytest.approx((0.0 + 1.0) / 2)  # nothing predicted


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("unet_fit")
    return unet_train.fit(TINY, discs(root, "train", 8, seed=1), discs(root, "val", 4, seed=2), seed=0), root


def test_the_best_val_epoch_is_kept_and_the_stop_follows_patience(fitted):
    result, root = fitted
    values = [row["val_dice"] for row in result.curve]
    assert [row["epoch"] for row in result.curve] == list(range(1, len(values) + 1))
    assert result.best_epoch == 1 + int(np.argmax(values)) and result.best_val_dice == max(values)
    best, wait, stop = -1.0, 0, TINY.epochs  # the rule replayed on the curve gives its length
    for epoch, value in enumerate(values, 1):
        best, wait = (value, 0) if value > best else (best, wait + 1)
        if wait >= TINY.patience:
            stop = epoch
            break
    assert len(values) == stop
    again = unet_train.val_dice(result.model, unet_train.segmentation_data.eval_dataset(
        *discs(root, "val", 4, seed=2), 32, 4), TINY.threshold)
    assert again == pytest.approx(result.best_val_dice)  # the returned weights are the best epoch's
    assert result.best_val_dice > 0.5 and (result.n_train, result.n_val) == (8, 4)


def test_a_saved_model_segments_alike_at_any_image_size(fitted, tmp_path):
    result, root = fitted
    result.model.save(tmp_path / "unet.keras")
    live, loaded = unet_train.Segmenter(result.model), unet_train.load(tmp_path / "unet.keras")
    for name in ("train", "val"):
        for path, mask_path in zip(*discs(root, name, 2, seed=3)):
            rgb = cv2.imread(path)[:, :, ::-1]
            big = cv2.resize(rgb, (90, 70), interpolation=cv2.INTER_LINEAR)
            for image in (rgb, big):
                mask = live(image)
                assert mask.shape == image.shape[:2] and mask.dtype == bool
                assert np.array_equal(mask, loaded(image))
            assert dice(cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE) > 127, live(rgb)) > 0.5


def test_a_fit_starts_from_initial_weights_when_given(fitted):
    result, root = fitted
    start = result.model.get_weights()
    still = TINY.model_copy(update={"epochs": 1, "learning_rate": 1e-12})  # Adam's steps are ~1e-12: no change
    again = unet_train.fit(still, discs(root, "train", 8, seed=1), discs(root, "val", 4, seed=2), seed=0,
                           initial_weights=start)
    for variable, initial in zip(again.model.weights, start):
        if variable.trainable:  # (batch-norm statistics move in training whatever the learning rate)
            np.testing.assert_allclose(np.asarray(variable), initial, atol=1e-6)
    fresh = unet_train.fit(still, discs(root, "train", 8, seed=1), discs(root, "val", 4, seed=2), seed=0)
    moved = [float(np.abs(np.asarray(v) - w).max()) for v, w in zip(fresh.model.weights, start) if v.trainable]
    assert max(moved) > 0.01  # without initial_weights the fit starts elsewhere
    other = TINY.model_copy(update={"base_filters": 2})
    with pytest.raises(ValueError, match=r"the initial weights do not fit the U-Net of segment.unet "
                                         r"\(encoder plain, base_filters 2, depth 2\)"):
        unet_train.fit(other, discs(root, "train", 8, seed=1), discs(root, "val", 4, seed=2), seed=0,
                       initial_weights=start)


def test_a_fit_without_train_or_val_masks_is_refused(tmp_path):
    train = discs(tmp_path, "train", 2, seed=1)
    with pytest.raises(ValueError, match=r"needs train and val images with ground-truth masks \(got 2 train, 0 val\)"):
        unet_train.fit(TINY, train, ([], []), seed=0)


def _keras_map(kernel=None):
    """A stand-in U-Net: the red channel / 255 as the lesion probability (kernel None), or a sigmoid
    of a fixed 3x3 convolution of it (a map that is not mirror-symmetric). Plain layers, so it
    saves and loads like the real one."""
    import keras

    image = keras.Input((16, 16, 3))
    red = keras.layers.Conv2D(1, 1, use_bias=False)
    layers = [red]
    if kernel is not None:
        layers.append(keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", use_bias=False))
    out = image
    for layer in layers:
        out = layer(out)
    model = keras.Model(image, out)
    red.set_weights([np.array([1 / 255, 0, 0], np.float32).reshape(1, 1, 3, 1)])
    if kernel is not None:
        layers[1].set_weights([np.asarray(kernel, np.float32).reshape(3, 3, 1, 1)])
    return model


def test_flips_tta_is_the_mean_of_the_four_mirrored_predictions():
    model = _keras_map(kernel=[[4, -2, 0], [1, 3, -5], [0, 2, 6]])  # lop-sided: mirroring changes the map
    rgb = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    plain = unet_train.Segmenter(model)
    views = [plain.probability(rgb),
             plain.probability(rgb[:, ::-1])[:, ::-1],
             plain.probability(rgb[::-1])[::-1],
             plain.probability(rgb[::-1, ::-1])[::-1, ::-1]]
    assert not np.allclose(views[0], views[1], atol=1e-3)  # the views differ, so the test can fail
    flips = unet_train.Segmenter(model, tta="flips")
    np.testing.assert_allclose(flips.probability(rgb), np.mean(views, axis=0), atol=1e-6)
    with pytest.raises(ValueError, match=r"unknown U-Net tta 'rot'; valid: none, flips"):
        unet_train.Segmenter(model, tta="rot")


def test_clean_fills_holes_and_keeps_the_central_component(tmp_path):
    model = _keras_map()
    disc = np.zeros((16, 16), np.uint8)
    cv2.circle(disc, (8, 8), 5, 1, -1)
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = disc * 255  # the lesion: red 255 = probability 1
    rgb[7:9, 7:9, 0] = 0  # a hole in it
    rgb[0:2, 14:16, 0] = 255  # a speck in a corner
    raw = unet_train.Segmenter(model)(rgb)
    assert not raw[8, 8] and raw[0, 15]  # without clean: the hole and the speck are kept
    cleaned = unet_train.Segmenter(model, clean=True)(rgb)
    assert np.array_equal(cleaned, disc.astype(bool))  # hole filled, speck dropped, nothing else moved
    blank = unet_train.Segmenter(model, clean=True)(np.zeros((16, 16, 3), np.uint8))
    assert blank.shape == (16, 16) and not blank.any()  # nothing predicted stays nothing
    model.save(tmp_path / "unet.keras")
    loaded = unet_train.load(tmp_path / "unet.keras", 0.5, "flips", True)
    assert (loaded.tta, loaded.clean) == ("flips", True)
    assert np.array_equal(loaded(rgb), cleaned)  # this stand-in is mirror-symmetric: flips change nothing


def test_average_is_the_mean_of_its_members_and_saves_as_one_network(tmp_path):
    first = _keras_map(kernel=[[4, -2, 0], [1, 3, -5], [0, 2, 6]])
    second = _keras_map(kernel=[[-1, 0, 2], [3, -4, 1], [0, 5, -2]])
    third = _keras_map()  # no sigmoid: red / 255
    rgb = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    parts = [np.asarray(model(rgb)) for model in (first, second, third)]
    assert not np.allclose(parts[0], parts[1], atol=1e-3)  # the members differ, so the mean is not any of them
    ensemble = unet_train.average([first, second, third])
    assert [layer.name for layer in ensemble.layers[1:4]] == ["member1", "member2", "member3"]
    np.testing.assert_allclose(np.asarray(ensemble(rgb)), np.mean(parts, axis=0), atol=1e-6)
    ensemble.save(tmp_path / "unet.keras")
    loaded = unet_train.load(tmp_path / "unet.keras", 0.5, "flips", True)
    live = unet_train.Segmenter(ensemble, 0.5, "flips", True)
    np.testing.assert_allclose(loaded.probability(rgb[0]), live.probability(rgb[0]), atol=1e-6)
    assert np.array_equal(loaded(rgb[0]), live(rgb[0]))


def test_members_are_fits_with_consecutive_seeds_averaged_into_one_network(fitted):
    result, root = fitted
    train, val = discs(root, "train", 8, seed=1), discs(root, "val", 4, seed=2)
    one = unet_train.fit_members(TINY, train, val, seed=0)  # members: 1 is the plain fit, bit for bit
    assert one.members is None and one.curve == result.curve and one.best_epoch == result.best_epoch
    assert all(np.array_equal(a, b) for a, b in zip(one.model.get_weights(), result.model.get_weights()))
    pair = unet_train.fit_members(TINY.model_copy(update={"members": 2}), train, val, seed=0)
    second = unet_train.fit(TINY, train, val, seed=1)
    assert pair.best_epoch is None and [m["seed"] for m in pair.members] == [0, 1]
    assert pair.members[1] == {"member": 2, "seed": 1, "epochs": len(second.curve), "best_epoch": second.best_epoch,
                               "best_val_dice": second.best_val_dice}
    assert pair.members[0]["best_val_dice"] == result.best_val_dice
    assert pair.curve == [{**row, "member": 1} for row in result.curve] + [{**row, "member": 2} for row in second.curve]
    images = np.stack([cv2.resize(cv2.imread(path)[:, :, ::-1], (32, 32)) for path in val[0]]).astype(np.float32)
    expected = (np.asarray(result.model(images)) + np.asarray(second.model(images))) / 2
    np.testing.assert_allclose(np.asarray(pair.model(images)), expected, atol=1e-5)
    val_ds = unet_train.segmentation_data.eval_dataset(val[0], val[1], 32, 4)
    assert pair.best_val_dice == pytest.approx(unet_train.val_dice(pair.model, val_ds, TINY.threshold))
    assert (pair.n_train, pair.n_val) == (8, 4) and pair.seconds > 0

"""bench.segment_prior_unet: the 4-channel U-Net starts as the pre-trained one, image, true mask and
Otsu's mask keep one geometry through augmentation, and the comparison pairs images by id."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bench import segment_prior_unet as prior_unet
from skinlab.params import CnnAugment, SegmentUnet
from tests.unit.test_segmentation_data import discs

TINY = SegmentUnet(image_size=32, base_filters=4, depth=2, epochs=1, patience=1, batch_size=4)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    import keras

    from skinlab.models.unet import build_unet

    keras.utils.set_random_seed(3)
    source = build_unet(TINY.image_size, TINY.base_filters, TINY.depth)
    for layer in source.layers:  # non-trivial batch-norm statistics, so copying them is tested too
        if layer.name.endswith("_bn"):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * 1.5, beta + 0.1, mean + 0.02, var * 0.5])
    path = tmp_path_factory.mktemp("prior") / "pretrained.weights.h5"
    source.save_weights(path)
    return source, path


def test_before_fine_tuning_the_prior_unet_is_the_pretrained_one_whatever_the_prior(pretrained):
    source, path = pretrained
    model = prior_unet.build(TINY, path)
    rgb = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    expected = np.asarray(source(rgb, training=False))
    assert expected.std() > 1e-3  # a network that answers something, not a constant
    for value in (0.0, 255.0):
        x = np.concatenate([rgb, np.full((2, 32, 32, 1), value, np.float32)], axis=-1)
        assert np.allclose(np.asarray(model(x, training=False)), expected, atol=1e-5)
    assert model.get_layer("enc0_conv1").get_weights()[0].shape == (3, 3, 4, TINY.base_filters)
    assert not np.any(model.get_layer("enc0_conv1").get_weights()[0][:, :, 3])


def test_the_prior_channel_reaches_the_output_once_its_weights_are_not_zero(pretrained):
    """The channel is wired in: zero weights hide it (above), non-zero ones let it move the output."""
    _, path = pretrained
    model = prior_unet.build(TINY, path)
    kernel = model.get_layer("enc0_conv1").get_weights()[0]
    kernel[:, :, 3] = 0.05
    model.get_layer("enc0_conv1").set_weights([kernel])
    rgb = np.random.default_rng(1).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    off = np.asarray(model(np.concatenate([rgb, np.zeros((1, 32, 32, 1), np.float32)], -1), training=False))
    on = np.asarray(model(np.concatenate([rgb, np.full((1, 32, 32, 1), 255.0, np.float32)], -1), training=False))
    assert not np.allclose(off, on)


def _items(root, prior_of, n=6, size=32):
    """Disc images (a bright disc, its true mask) and a prior file per image from `prior_of(k, masks)`."""
    images, masks = discs(root, "train", n, seed=4, size=size)
    items = [SimpleNamespace(image=i, mask=m, image_id=f"im{k}") for k, (i, m) in enumerate(zip(images, masks))]
    return items, {item.image_id: prior_of(k, masks) for k, item in enumerate(items)}


def _turns(mask):
    """The eight flips and quarter turns of a square mask."""
    for k in range(4):
        yield np.rot90(mask, k)
        yield np.rot90(mask, k)[:, ::-1]


def _as_loaded(path):
    return np.asarray(prior_unet.segmentation_data.load_pair(path, path, 32)[1])[..., 0] > 0.5


def test_flips_and_turns_move_the_otsu_mask_read_from_its_own_file_like_the_image(tmp_path):
    # the prior is the NEXT image's disc: a stream that read the true mask's file, or moved the prior
    # by another draw, puts something else in channel 4
    items, prior = _items(tmp_path, lambda k, masks: masks[(k + 1) % len(masks)])
    truths = [_as_loaded(str(i.mask)) for i in items]
    priors = [_as_loaded(prior[i.image_id]) for i in items]
    geometry = CnnAugment(hflip=0.5, vflip=0.5, rot90=0.5, zoom_max=1.0, brightness=0.1, contrast=0.1,
                          saturation=0, hue=0)
    moved = 0
    for x, truth in prior_unet._stream(items, prior, 32, 3, seed=0, augment=geometry).take(4):
        x, truth = np.asarray(x), np.asarray(truth)[..., 0] > 0.5
        assert x.shape == (3, 32, 32, 4) and set(np.unique(x[..., 3])) <= {0.0, 255.0}
        for image, lesion, otsu in zip(x[..., :3], truth, x[..., 3] > 0):
            assert image[lesion].mean() > image[~lesion].mean() + 60  # the bright disc is where the true mask is
            found = [(k, j) for k in range(len(items)) for j, t in enumerate(_turns(truths[k]))
                     if np.array_equal(t, lesion)]
            assert found, "an augmented true mask is no flip or turn of any image's mask"
            assert any(np.array_equal(list(_turns(priors[k]))[j], otsu) for k, j in found)
            moved += all(j > 0 for _, j in found)
    assert moved >= 3  # 12 draws: most were flipped or turned


def test_the_zoom_crop_moves_image_truth_and_otsu_alike(tmp_path):
    # the prior is a copy of the true mask in another file: after any zoom they must still agree
    def copy(k, masks):
        target = tmp_path / "otsu" / f"im{k}.png"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(open(masks[k], "rb").read())
        return str(target)

    items, prior = _items(tmp_path, copy)
    zoom = CnnAugment(hflip=0.5, vflip=0.5, rot90=0.5, zoom_max=1.5, brightness=0, contrast=0, saturation=0, hue=0)
    for x, truth in prior_unet._stream(items, prior, 32, 3, seed=1, augment=zoom).take(4):
        assert np.array_equal(np.asarray(x)[..., 3] / 255.0, np.asarray(truth)[..., 0])


def test_without_augmentation_channel_four_is_the_prior_file_as_the_truth_is_loaded(tmp_path):
    items, prior = _items(tmp_path, lambda k, masks: masks[(k + 1) % len(masks)])
    x, truth = next(iter(prior_unet._stream(items, prior, 32, 6, seed=0, augment=None)))
    x, truth = np.asarray(x), np.asarray(truth)
    for k, item in enumerate(items):
        assert np.array_equal(x[k, ..., 3] > 0, _as_loaded(prior[item.image_id]))
        assert np.array_equal(truth[k, ..., 0] > 0.5, _as_loaded(str(item.mask)))


def test_probability_prepares_the_otsu_channel_as_the_stream_does(pretrained, tmp_path):
    """What the network sees at inference (72 px RGB and Otsu mask, resized to 32 here) is what the
    un-augmented training stream gives it; with flips, the four views' maps are mirrored back."""
    import cv2

    _, path = pretrained
    model = prior_unet.build(TINY, path)
    kernel = model.get_layer("enc0_conv1").get_weights()[0]
    kernel[:, :, 3] = 0.05  # so a wrong Otsu channel (unscaled, unresized) shows in the output
    model.get_layer("enc0_conv1").set_weights([kernel])
    items, prior = _items(tmp_path, lambda k, masks: masks[(k + 1) % len(masks)], n=2, size=72)  # resized to 32
    x, _ = next(iter(prior_unet._stream(items, prior, 32, 2, seed=0, augment=None)))
    expected = np.asarray(model(x, training=False))[..., 0]
    for k, item in enumerate(items):
        rgb = cv2.cvtColor(cv2.imread(str(item.image)), cv2.COLOR_BGR2RGB)
        otsu = cv2.imread(prior[item.image_id], cv2.IMREAD_GRAYSCALE) > 127
        assert np.allclose(prior_unet.probability(model, rgb, otsu, 32, flips=False), expected[k], atol=1e-5)
        flipped = prior_unet.probability(model, rgb, otsu, 32, flips=True)
        views = [np.asarray(model(np.asarray(x)[k:k + 1, ::a, ::b], training=False))[0, ::a, ::b, 0]
                 for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
        assert np.allclose(flipped, np.mean(views, axis=0), atol=1e-5)


def test_compare_pairs_images_by_id_and_counts_the_better_ones():
    mine = pd.DataFrame({"image_id": ["a", "b", "c"], "lesion_id": ["L1", "L2", "L3"], "dice": [0.9, 0.8, 0.7]})
    other = pd.DataFrame({"image_id": ["c", "a", "b"], "dice": [0.6, 0.95, 0.8]})  # shuffled
    found = prior_unet.compare(mine, other, "otsu", seed=0)
    assert found["images"] == 3 and found["better"] == 1  # c only; b ties
    assert found["diff"] == pytest.approx(((0.9 - 0.95) + 0 + (0.7 - 0.6)) / 3)
    assert found["prior_unet"] == pytest.approx(0.8) and found["otsu"] == pytest.approx(0.7833333)
    assert found["low"] <= found["diff"] <= found["high"]


def test_compare_refuses_a_duplicate_image_or_one_without_a_score():
    mine = pd.DataFrame({"image_id": ["a", "b"], "lesion_id": ["L1", "L2"], "dice": [0.9, 0.8]})
    with pytest.raises(ValueError, match="compare with otsu: an image_id appears twice"):
        prior_unet.compare(mine, pd.DataFrame({"image_id": ["a", "a", "b"], "dice": [0.9, 0.8, 0.7]}), "otsu", 0)
    with pytest.raises(ValueError, match="compare with plain_unet: 1 of 2 images have no plain_unet score"):
        prior_unet.compare(mine, pd.DataFrame({"image_id": ["a"], "dice": [0.9]}), "plain_unet", 0)


def test_unet_params_the_four_channel_copy_cannot_reproduce_stop_with_their_values():
    prior_unet.check(TINY)  # plain, no dropout, one member: fine
    for change, named in (({"dropout": 0.2}, "0.2"), ({"members": 2}, "2"),
                          ({"encoder": "mobilenet_v3_small"}, "mobilenet_v3_small")):
        with pytest.raises(SystemExit, match=f"needs segment.unet encoder plain, dropout 0 and members 1 .*{named}"):
            prior_unet.check(TINY.model_copy(update=change))


def test_plain_scores_at_another_threshold_stop_naming_the_file(tmp_path):
    path = tmp_path / "learning_curve_scores.csv"
    pd.DataFrame({"image_id": ["a", "a", "b"], "fraction": [0.5, 1.0, 1.0], "threshold": [0.6, 0.6, 0.6],
                  "dice": [0.8, 0.9, 0.7]}).to_csv(path, index=False)
    rows = prior_unet.plain_rows(path, 0.6)
    assert list(rows.image_id) == ["a", "b"] and list(rows.dice) == [0.9, 0.7]  # the largest share only
    with pytest.raises(SystemExit, match=r"learning_curve_scores.csv was scored at threshold 0.6, not the params' 0.5$"):
        prior_unet.plain_rows(path, 0.5)

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


def test_image_true_mask_and_otsu_keep_one_geometry_through_augmentation(tmp_path):
    images, masks = discs(tmp_path, "train", 6, seed=4)
    items = [SimpleNamespace(image=i, mask=m, image_id=f"im{n}") for n, (i, m) in enumerate(zip(images, masks))]
    prior = {item.image_id: item.mask for item in items}  # Otsu's mask = the true one here: they must stay equal
    geometry = CnnAugment(hflip=0.5, vflip=0.5, rot90=0.5, zoom_max=1.15, brightness=0.1, contrast=0.1,
                          saturation=0, hue=0)
    stream = prior_unet._stream(items, prior, 32, 3, seed=0, augment=geometry)
    moved = 0
    for x, truth in stream.take(4):
        x, truth = np.asarray(x), np.asarray(truth)
        assert x.shape == (3, 32, 32, 4) and truth.shape == (3, 32, 32, 1)
        assert set(np.unique(x[..., 3])) <= {0.0, 255.0}
        assert np.array_equal(x[..., 3] / 255.0, truth[..., 0])
        for image, lesion in zip(x[..., :3], truth[..., 0] > 0.5):  # the bright disc is where both masks are
            if lesion.any() and (~lesion).any():
                assert image[lesion].mean() > image[~lesion].mean() + 60
        moved += 1
    plain = prior_unet._stream(items, prior, 32, 3, seed=0, augment=None)
    x, truth = next(iter(plain))
    assert np.array_equal(np.asarray(x)[..., 3] / 255.0, np.asarray(truth)[..., 0]) and moved == 4


def test_compare_pairs_images_by_id_and_counts_the_better_ones():
    mine = pd.DataFrame({"image_id": ["a", "b", "c"], "lesion_id": ["L1", "L2", "L3"], "dice": [0.9, 0.8, 0.7]})
    other = pd.DataFrame({"image_id": ["c", "a", "b"], "dice": [0.6, 0.95, 0.8]})  # shuffled
    found = prior_unet.compare(mine, other, "otsu", seed=0)
    assert found["images"] == 3 and found["better"] == 1  # c only; b ties
    assert found["diff"] == pytest.approx(((0.9 - 0.95) + 0 + (0.7 - 0.6)) / 3)
    assert found["prior_unet"] == pytest.approx(0.8) and found["otsu"] == pytest.approx(0.7833333)
    assert found["low"] <= found["diff"] <= found["high"]

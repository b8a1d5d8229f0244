"""Grad-CAM: shape and range for every architecture, and it finds an object a tiny model learned."""
from __future__ import annotations

import numpy as np
import pytest

from skinlab import gradcam
from skinlab.models import cnn


@pytest.mark.parametrize("arch", ["compact", "mobilenet_v3_small", "efficientnet_b0"])
def test_heatmap_has_the_image_size_and_lies_in_0_1(arch):
    model = cnn.build(arch, 32, 7, filters=(8, 16))
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    cam, explained = gradcam.heatmap(model, image)
    assert cam.shape == (32, 32) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1
    assert explained == int(np.argmax(model(image[None]).numpy()))
    cam3, explained3 = gradcam.heatmap(model, image, class_index=3)
    assert explained3 == 3 and cam3.shape == (32, 32)


def test_metadata_models_need_their_row_and_bad_shapes_are_named():
    model = cnn.build("compact", 16, 7, metadata_dim=4, filters=(4,))
    image = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ValueError, match="fuses metadata"):
        gradcam.heatmap(model, image)
    cam, _ = gradcam.heatmap(model, image, metadata=np.array([1, 0, 0, 1], np.float32))
    assert cam.shape == (16, 16)
    with pytest.raises(ValueError, match="H x W x 3"):
        gradcam.heatmap(model, np.zeros((16, 16), np.float32))


def planted(rng, n):
    """Grey noise; class 1 carries a bright 8x8 square somewhere, class 0 does not."""
    images = rng.uniform(90, 150, (n, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    boxes = rng.integers(0, 24, (n, 2))
    for image, label, (top, left) in zip(images, labels, boxes):
        if label:
            image[top:top + 8, left:left + 8] = 250
    return images, labels, boxes


def test_heatmap_highlights_the_planted_object_the_model_learned():
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images, labels, _ = planted(rng, 400)
    model = cnn.build("compact", 32, 2, filters=(8, 16), dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=8, batch_size=32, verbose=0)
    test_images, test_labels, boxes = planted(np.random.default_rng(1), 60)
    assert (model.predict(test_images, verbose=0).argmax(axis=1) == test_labels).mean() > 0.95  # it learned
    ratios = []
    for image, (top, left) in zip(test_images[test_labels == 1], boxes[test_labels == 1]):
        cam, explained = gradcam.heatmap(model, image, class_index=1)
        inside = np.zeros(cam.shape, bool)
        inside[top:top + 8, left:left + 8] = True
        ratios.append(cam[inside].mean() / max(cam[~inside].mean(), 1e-6))
    assert np.median(ratios) > 3  # the evidence for class 1 sits on the square


def test_overlay_is_an_rgb_image_of_the_same_size():
    image = np.full((10, 12, 3), 128, np.float32)
    cam = np.zeros((10, 12), np.float32)
    cam[0, 0] = 1
    out = gradcam.overlay(image, cam)
    assert out.shape == (10, 12, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], out[5, 5])

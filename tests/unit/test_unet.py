"""U-Net builder: output shape, parameters counted by hand, depth checks, the offline-weights error."""

import numpy as np
import pytest

from skinlab.models import cnn, unet
from tests.helpers import keras_offline


def double_conv(c_in: int, c: int) -> int:
    """Two 3x3 convolutions without bias, each followed by BatchNormalization (4 per channel)."""
    return 9 * c_in * c + 4 * c + 9 * c * c + 4 * c


def plain_unet_params(base: int, depth: int) -> int:
    total, c_in = 0, 3
    for level in range(depth):
        total += double_conv(c_in, base * 2**level)
        c_in = base * 2**level
    total += double_conv(c_in, base * 2**depth)  # bottleneck
    for level in range(depth):
        width = base * 2**level
        total += 2 * 2 * (2 * width) * width + width  # Conv2DTranspose 2x2 with bias
        total += double_conv(2 * width, width)  # after concatenating the skip
    return total + base + 1  # 1x1 sigmoid head


def test_smallest_unet_counted_by_hand():
    # encoder 284, bottleneck 928, up 132, decoder 464, head 5
    assert plain_unet_params(4, 1) == 284 + 928 + 132 + 464 + 5 == 1813
    model = unet.build_unet(16, base_filters=4, depth=1)
    assert tuple(model.input.shape) == (None, 16, 16, 3)
    assert tuple(model.output.shape) == (None, 16, 16, 1)
    assert model.count_params() == 1813


@pytest.mark.parametrize(("size", "base", "depth"), [(32, 8, 2), (48, 4, 3)])
def test_plain_unet_shapes_and_parameters(size, base, depth):
    model = unet.build_unet(size, base_filters=base, depth=depth, dropout=0.2)
    assert tuple(model.output.shape) == (None, size, size, 1)
    assert model.count_params() == plain_unet_params(base, depth)
    assert tuple(model.get_layer("bottleneck_conv2").output.shape) == (None, size // 2**depth, size // 2**depth,
                                                                       base * 2**depth)
    probabilities = model(np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")).numpy()
    assert probabilities.min() >= 0 and probabilities.max() <= 1


def test_default_is_the_reported_size():
    model = unet.build_unet()
    assert tuple(model.output.shape) == (None, 128, 128, 1)
    assert model.count_params() == plain_unet_params(16, 4) == 1_945_521


def test_mobilenet_encoder_without_weights():
    model = unet.build_unet(64, base_filters=8, depth=4, encoder="mobilenet_v3_small")
    assert tuple(model.output.shape) == (None, 64, 64, 1)
    backbone = model.get_layer(unet.BACKBONE)
    # skips at strides 2, 4, 8 and the bottleneck at 16
    assert [tuple(o.shape)[1] for o in backbone.outputs] == [32, 16, 8, 4]
    assert 0 < backbone.count_params() < 939_120  # the stride-32 stage is left out at depth 4


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(image_size=32, depth=5), r"depth 5 is too deep for image_size 32.*largest depth for 32: 4"),
    (dict(image_size=100, depth=3), r"depth 3 is too deep for image_size 100: the size must be a multiple of"),
    (dict(image_size=256, depth=6, encoder="mobilenet_v3_small"), r"too deep for mobilenet_v3_small"),
    (dict(depth=0), r"depth must be an integer >= 1 \(got 0\)"),
    (dict(encoder="resnet"), r"unknown unet encoder 'resnet'"),
    (dict(weights="imagenet"), r"plain encoder trains from scratch"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
])
def test_bad_arguments_fail_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        unet.build_unet(**kwargs)


def test_imagenet_offline_fails_at_once_saying_where_to_put_the_file(monkeypatch, tmp_path):
    """No network: Keras' download raises as it does offline (as in test_cnn_models.py)."""
    calls = keras_offline(monkeypatch, tmp_path)
    with pytest.raises(cnn.WeightsUnavailable) as error:
        unet.build_unet(64, encoder="mobilenet_v3_small", weights="imagenet", weights_key="segment_unet.weights")
    message = str(error.value)
    assert unet.WeightsUnavailable is cnn.WeightsUnavailable
    assert len(calls) == 1  # one attempt, no retry loop
    file = calls[0].rsplit("/", 1)[-1]
    assert file.endswith(".h5") and file in message
    assert str(tmp_path / "keras_home" / "models") in message
    assert "offline" in message and "segment_unet.weights: none" in message
    assert "train_cnn" not in message

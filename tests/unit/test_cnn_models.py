"""Builders of train_cnn: output shape and parameter count, and the offline-weights error."""

import pytest

from skinlab.models import cnn
from tests.helpers import keras_offline

# Parameters counted by hand for compact(filters=(8, 16)), 7 classes: convolutions have no bias,
# each BatchNormalization holds 4 per channel, then Dense(128) `embedding` and Dense(7).
BLOCK1 = 3 * 3 * 3 * 8 + 4 * 8 + 3 * 3 * 8 * 8 + 4 * 8  # 856
BLOCK2 = 3 * 3 * 8 * 16 + 4 * 16 + 3 * 3 * 16 * 16 + 4 * 16  # 3584
BLOCK2_SEPARABLE = (3 * 3 * 8 + 8 * 16) + 4 * 16 + (3 * 3 * 16 + 16 * 16) + 4 * 16  # 728
HEAD = (16 * 128 + 128) + (128 * 7 + 7)
# keras.applications backbones without top (published counts) plus the same head on their width.
APPLICATIONS = {"mobilenet_v3_small": (939_120, 576), "mobilenet_v3_large": (2_996_352, 960),
                "efficientnet_b0": (4_049_571, 1280)}


def test_compact_output_and_parameters_by_hand():
    model = cnn.build("compact", 32, 7, filters=(8, 16))
    assert tuple(model.output.shape) == (None, 7)
    assert tuple(model.get_layer("embedding").output.shape) == (None, 128)
    assert model.count_params() == BLOCK1 + BLOCK2 + HEAD == 7519


def test_compact_separable_and_metadata_fusion():
    separable = cnn.build("compact", 32, 7, filters=(8, 16), separable=True)
    assert separable.count_params() == BLOCK1 + BLOCK2_SEPARABLE + HEAD
    fused = cnn.build("compact", 32, 7, filters=(8, 16), metadata_dim=19)
    assert [tuple(i.shape) for i in fused.inputs] == [(None, 32, 32, 3), (None, 19)]
    metadata_dense = 19 * 32 + 32
    embedding = (16 + 32) * 128 + 128
    assert fused.count_params() == BLOCK1 + BLOCK2 + metadata_dense + embedding + 128 * 7 + 7


def test_default_compact_is_the_known_recipe_size():
    model = cnn.build("compact", 64, 7, filters=(32, 64, 128, 192))
    features = model.count_params() - (192 * 128 + 128) - (128 * 7 + 7)
    assert round(features / 1e6, 2) == 0.84


@pytest.mark.parametrize("arch", sorted(APPLICATIONS))
def test_application_builders(arch):
    model = cnn.build(arch, 32, 7, weights="none")
    backbone, width = APPLICATIONS[arch]
    assert tuple(model.output.shape) == (None, 7)
    assert model.get_layer(cnn.BACKBONE).count_params() == backbone
    assert model.count_params() == backbone + (width * 128 + 128) + (128 * 7 + 7)


def test_bad_arch_and_weights():
    with pytest.raises(ValueError, match="unknown arch 'resnet'"):
        cnn.build("resnet", 32, 7)
    with pytest.raises(ValueError, match="from scratch"):
        cnn.build("compact", 32, 7, weights="imagenet")


def test_imagenet_offline_fails_at_once_saying_where_to_put_the_file(monkeypatch, tmp_path):
    """No network: Keras' download raises as it does offline; the message names the file and folder."""
    calls = keras_offline(monkeypatch, tmp_path)
    with pytest.raises(cnn.WeightsUnavailable) as error:
        cnn.build("mobilenet_v3_small", 32, 7, weights="imagenet")
    message = str(error.value)
    assert len(calls) == 1  # one attempt, no retry loop
    file = calls[0].rsplit("/", 1)[-1]
    assert file.endswith(".h5") and file in message
    assert str(tmp_path / "keras_home" / "models") in message
    assert "offline" in message and "train_cnn.weights: none" in message

"""Pure Keras builders for train_cnn: a name in params maps to one builder (like features/registry.py).

Every builder takes float32 RGB in 0..255 (each model rescales inside, so the input pipeline
is the same for all) and returns an *uncompiled* keras.Model whose layer `pool` averages the
last feature map (its input is what Grad-CAM explains), whose layer `embedding` is the
penultimate feature vector and whose output is a softmax over the classes. With metadata, the
model has two inputs, `image` and `metadata`, fused by concatenation before `embedding`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

ARCHS = ("compact", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
BACKBONE = "backbone"  # layer name of a keras.applications backbone (frozen during the head phase)
# Keras' default 0.99 needs several hundred steps before the moving statistics used at
# inference fit; a small data set gives ~30 steps per epoch, so the compact net uses 0.9.
BN_MOMENTUM = 0.9


class WeightsUnavailable(RuntimeError):
    """ImageNet weights could not be downloaded; the message says how to place them by hand."""


def compact_features(image, filters: Sequence[int] = (32, 64, 128, 192), separable: bool = False):
    """Double-conv blocks (conv-BN-ReLU twice, then max-pool) ending in global average pooling.

    Sized for a 2-core CPU: the default four blocks of 32-192 filters hold 0.84 M parameters.
    `separable` swaps the convolutions after the first block for depthwise-separable ones,
    about 8x fewer multiplies, which buys a larger input at the same cost.
    """
    import keras
    from keras import layers

    x = layers.Rescaling(1.0 / 255.0, name="rescale")(image)
    for block, width in enumerate(filters):
        for conv in range(2):
            name = f"block{block + 1}_conv{conv + 1}"
            if separable and block > 0:
                x = layers.SeparableConv2D(width, 3, padding="same", use_bias=False, name=name)(x)
            else:
                x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
            x = layers.ReLU(name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
    return keras.layers.GlobalAveragePooling2D(name="pool")(x)


def _application(name: str) -> Callable:
    def features(image, weights: str = "none", **_):
        from keras import applications, layers

        builder = {"mobilenet_v3_small": applications.MobileNetV3Small,
                   "mobilenet_v3_large": applications.MobileNetV3Large,
                   "efficientnet_b0": applications.EfficientNetB0}[name]
        kwargs = {"include_preprocessing": True} if name.startswith("mobilenet") else {}
        try:
            backbone = builder(include_top=False, weights=None if weights == "none" else weights,
                               input_shape=tuple(image.shape[1:]), pooling=None, **kwargs)
        except Exception as error:  # keras.utils.get_file raises a bare Exception when offline
            if weights != "imagenet" or not is_download_error(error):
                raise
            raise WeightsUnavailable(offline_message(name, error)) from error
        backbone.name = BACKBONE
        # pooled outside the backbone, so its last feature map is a tensor of this model (Grad-CAM)
        return layers.GlobalAveragePooling2D(name="pool")(backbone(image))

    return features


_FEATURES: dict[str, Callable] = {"compact": compact_features,
                                  **{name: _application(name) for name in ARCHS[1:]}}


def build(arch: str, image_size: int, n_classes: int, weights: str = "none", metadata_dim: int = 0,
          dropout: float = 0.2, filters: Sequence[int] = (32, 64, 128, 192), separable: bool = False):
    """An uncompiled classifier; `metadata_dim` > 0 adds the second input."""
    import keras
    from keras import layers

    if arch not in _FEATURES:
        raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")
    if weights not in ("none", "imagenet"):
        raise ValueError(f"weights must be 'none' or 'imagenet' (got {weights!r})")
    if arch == "compact" and weights != "none":
        raise ValueError("the compact arch trains from scratch: weights must be 'none'")
    image = keras.Input((image_size, image_size, 3), name="image")
    if arch == "compact":
        x = compact_features(image, filters, separable)
    else:
        x = _FEATURES[arch](image, weights=weights)
    inputs = [image]
    if metadata_dim:
        metadata = keras.Input((metadata_dim,), name="metadata")
        m = layers.Dense(32, activation="relu", name="metadata_dense")(metadata)
        x = layers.Concatenate(name="fuse")([x, m])
        inputs.append(metadata)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(128, activation="relu", name="embedding")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs if metadata_dim else image, outputs, name=arch)


def offline_message(arch: str, error: Exception) -> str:
    url = _url_in(str(error))
    file = url.rsplit("/", 1)[-1] if url else "the weights file"
    where = f" from {url}" if url else ""
    return (f"train_cnn.weights: imagenet: could not download the ImageNet weights of {arch} (offline? {error}). "
            f"Download {file}{where} on a machine with internet and place it in {keras_models_dir()} "
            f"(Keras then finds it without a download), or set train_cnn.weights: none.")


def keras_models_dir() -> str:
    """Where Keras looks for downloaded weights: $KERAS_HOME/models, by default ~/.keras/models/."""
    try:
        from keras.src.backend.config import keras_home
    except ImportError:  # a Keras without this private helper: its documented default
        return "~/.keras/models/"
    return str(keras_home()).rstrip("/") + "/models/"


def _url_in(text: str) -> str | None:
    match = re.search(r"https?://\S+?(?=:?\s|$)", text)
    return match.group(0).rstrip(":") if match else None


def is_download_error(error: Exception) -> bool:
    import urllib.error

    return isinstance(error, (urllib.error.URLError, OSError)) or "URL fetch failure" in str(error)

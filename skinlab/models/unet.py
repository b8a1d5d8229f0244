"""Pure Keras builder of a U-Net for lesion segmentation (Ronneberger et al. 2015, small).

Like the classifiers in `cnn.py`, the model takes float32 RGB in 0..255 and rescales inside,
so the input pipeline is the same for every encoder, and it is returned *uncompiled*. Its
output `mask` is a (size, size, 1) sigmoid: the probability that a pixel is lesion.

`depth` is the number of 2x down-samplings: the bottleneck is size / 2**depth pixels wide,
which must be a whole number of at least 2 (skip connections need the exact halves back).
Level i (0 = full size) of the decoder has `base_filters * 2**i` filters.

Encoders:
- `plain`: conv-BN-ReLU twice then max-pool per level, trained from scratch. The default
  (16 filters, depth 4) holds 1.95 M parameters, most of them in the 8x8 bottleneck, and
  costs about 0.76 G multiply-adds per 128 px image, spread about evenly over the levels.
- `mobilenet_v3_small`: keras.applications MobileNetV3Small without top (layer `backbone`);
  its feature maps at strides 2 .. 2**(depth-1) are the skips and the one at stride 2**depth
  the bottleneck (depth <= 5); the full-size skip is the rescaled image. With
  `weights: imagenet` and no network it raises `cnn.WeightsUnavailable`, as the classifier does.
"""
from __future__ import annotations

from skinlab.models import cnn

ENCODERS = ("plain", "mobilenet_v3_small")
BACKBONE = cnn.BACKBONE  # layer name of the pretrained encoder (frozen by the caller, if at all)
BN_MOMENTUM = cnn.BN_MOMENTUM  # few steps per epoch on small data sets, as for the compact classifier
MAX_MOBILENET_DEPTH = 5  # MobileNetV3Small ends at stride 32
WeightsUnavailable = cnn.WeightsUnavailable  # the same error as the classifier's, so callers catch one


def build_unet(image_size: int = 128, base_filters: int = 16, depth: int = 4, dropout: float = 0.0,
               encoder: str = "plain", weights: str = "none", weights_key: str = "train_unet.weights"):
    """An uncompiled U-Net: (size, size, 3) RGB 0..255 -> (size, size, 1) lesion probability.

    `weights_key` is the params key named in the offline-weights message.
    """
    import keras
    from keras import layers

    _check(image_size, base_filters, depth, dropout, encoder, weights)
    image = keras.Input((image_size, image_size, 3), name="image")
    if encoder == "plain":
        skips, x = _plain_encoder(image, base_filters, depth)
    else:
        skips, x = _mobilenet_encoder(image, depth, weights, weights_key)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for level in reversed(range(depth)):
        width = base_filters * 2**level
        x = layers.Conv2DTranspose(width, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _double_conv(x, width, f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(image, outputs, name=f"unet_{encoder}")


def _check(image_size, base_filters, depth, dropout, encoder, weights) -> None:
    for name, value in (("image_size", image_size), ("base_filters", base_filters), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"unet {name} must be an integer >= 1 (got {value!r})")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"unet dropout must be in [0, 1) (got {dropout!r})")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown unet encoder {encoder!r}; valid: {', '.join(ENCODERS)}")
    if weights not in ("none", "imagenet"):
        raise ValueError(f"weights must be 'none' or 'imagenet' (got {weights!r})")
    if encoder == "plain" and weights != "none":
        raise ValueError("the plain encoder trains from scratch: weights must be 'none'")
    if encoder == "mobilenet_v3_small" and depth > MAX_MOBILENET_DEPTH:
        raise ValueError(f"unet depth {depth} is too deep for mobilenet_v3_small (at most {MAX_MOBILENET_DEPTH})")
    stride = 2**depth
    if image_size % stride or image_size // stride < 2:
        raise ValueError(f"unet depth {depth} is too deep for image_size {image_size}: the size must be a "
                         f"multiple of 2**depth = {stride} and leave a bottleneck of at least 2 pixels "
                         f"(largest depth for {image_size}: {_max_depth(image_size)})")


def _max_depth(image_size: int) -> int:
    depth = 0
    while image_size % 2 ** (depth + 1) == 0 and image_size // 2 ** (depth + 1) >= 2:
        depth += 1
    return depth


def _double_conv(x, width: int, name: str):
    from keras import layers

    for conv in (1, 2):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv{conv}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_conv{conv}_bn")(x)
        x = layers.ReLU(name=f"{name}_conv{conv}_relu")(x)
    return x


def _plain_encoder(image, base_filters: int, depth: int):
    from keras import layers

    x = layers.Rescaling(1.0 / 255.0, name="rescale")(image)
    skips = []
    for level in range(depth):
        x = _double_conv(x, base_filters * 2**level, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    return skips, _double_conv(x, base_filters * 2**depth, "bottleneck")


def _mobilenet_encoder(image, depth: int, weights: str, weights_key: str):
    import keras
    from keras import applications, layers

    size = image.shape[1]
    try:
        backbone = applications.MobileNetV3Small(include_top=False, weights=None if weights == "none" else weights,
                                                 input_shape=(size, size, 3), include_preprocessing=True)
    except Exception as error:  # keras.utils.get_file raises a bare Exception when offline
        if weights != "imagenet" or not cnn.is_download_error(error):
            raise
        message = cnn.offline_message("mobilenet_v3_small", error).replace("train_cnn.weights", weights_key)
        raise WeightsUnavailable(message) from error
    strides = [2**level for level in range(1, depth + 1)]
    features = [_last_at(backbone, size // stride).output for stride in strides]
    encoder = keras.Model(backbone.inputs, features, name=BACKBONE)
    maps = encoder(image)
    maps = maps if isinstance(maps, (list, tuple)) else [maps]
    full_size = layers.Rescaling(1.0 / 255.0, name="rescale")(image)
    return [full_size, *maps[:-1]], maps[-1]


def _last_at(backbone, side: int):
    """The backbone's last layer whose feature map is `side` pixels wide: the end of that stride."""
    found = None
    for layer in backbone.layers:
        shape = getattr(layer, "output", None)
        shape = None if shape is None else tuple(shape.shape)
        if shape is not None and len(shape) == 4 and shape[1] == side and "squeeze_excite" not in layer.name:
            found = layer
    if found is None:
        raise ValueError(f"mobilenet_v3_small has no feature map {side} pixels wide")
    return found


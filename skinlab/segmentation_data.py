"""What a U-Net needs around it: (image, mask) pairs streamed from disk, a loss, a metric, and
the map from its output back to the image.

The pipeline follows `data/tfdata.py`: only the file paths are held in memory, each element is
decoded from its files, resized and, for training, augmented on the fly with stateless random
ops (a fresh draw every epoch; the same seed gives the same stream), then batched and prefetched.
Unlike the classifier's input, the image is resized whole, not centre-cropped, so a prediction
covers the whole image and `upsample_mask` maps it back onto the image's own pixels.

Masks read as `io.read_mask` reads them (a pixel above 127 is lesion), are area-resized and
thresholded at 0.5, and arrive as float32 (size, size, 1) in {0, 1}. Augmentation draws one
geometry (flips, 90-degree turns, zoom crop) for image and mask together, by transforming them
as one 4-channel tensor; the photometric changes then touch the image only. Its settings are a
`CnnAugment` (params.py), with the same meaning as for train_cnn.

The loss and metric are plain functions of (y_true, y_pred) returning one value per image, as
Keras expects. They are not registered with Keras: load a saved model with `compile=False`
or pass them as `custom_objects`.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from skinlab.checks import check_positive_int
from skinlab.data.tfdata import NO_AUGMENT
from skinlab.params import CnnAugment

MASK_THRESHOLD = 0.5  # a resized mask pixel at least half lesion is lesion
SMOOTH = 1.0  # soft Dice's additive smoothing: two empty masks agree (1.0), as in evaluation.segmentation


def _columns(image_paths: Sequence[str], mask_paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    images = np.array([str(p) for p in image_paths], dtype=str)
    masks = np.array([str(p) for p in mask_paths], dtype=str)
    if len(images) != len(masks):
        raise ValueError(f"{len(images)} image paths but {len(masks)} mask paths")
    return images, masks


def load_image(path, size: int):
    """Decode (JPEG, PNG, BMP, GIF) and area-resize the whole image: float32 (size, size, 3), 0..255."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="area")
    return tf.ensure_shape(image, (size, size, 3))


def load_pair(image_path, mask_path, size: int):
    """(image float32 0..255, mask float32 {0, 1}) at (size, size); an error names both files
    when the mask's size differs from the image's (resizing both would hide the mismatch)."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(image_path), channels=3, expand_animations=False)
    mask = tf.io.decode_image(tf.io.read_file(mask_path), channels=1, expand_animations=False)
    image_hw, mask_hw = tf.shape(image)[:2], tf.shape(mask)[:2]
    check = tf.debugging.Assert(tf.reduce_all(tf.equal(image_hw, mask_hw)),
                                ["image and mask sizes differ:", image_path, image_hw, mask_path, mask_hw])
    with tf.control_dependencies([check]):
        lesion = tf.cast(mask > 127, tf.float32)
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="area")
    lesion = tf.image.resize(lesion, (size, size), method="area")
    lesion = tf.cast(lesion >= MASK_THRESHOLD, tf.float32)
    return tf.ensure_shape(image, (size, size, 3)), tf.ensure_shape(lesion, (size, size, 1))


def augment_pair(image, mask, seed, cfg: CnnAugment):
    """One stateless draw of flips, turns and zoom for image and mask together, then brightness,
    contrast, saturation and hue on the image alone. Seed slots match `tfdata.augment`."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=10)
    size = image.shape[0]
    x = tf.concat([image / 255.0, mask], axis=-1)  # identical geometry by construction

    def chance(i, p):
        return tf.random.stateless_uniform([], seeds[i]) < p

    if cfg.hflip:
        x = tf.cond(chance(0, cfg.hflip), lambda: tf.image.flip_left_right(x), lambda: x)
    if cfg.vflip:
        x = tf.cond(chance(1, cfg.vflip), lambda: tf.image.flip_up_down(x), lambda: x)
    if cfg.rot90:
        k = tf.random.stateless_uniform([], seeds[2], 1, 4, dtype=tf.int32)
        x = tf.cond(chance(3, cfg.rot90), lambda: tf.image.rot90(x, k), lambda: x)
    if cfg.zoom_max > 1.0:
        zoom = tf.random.stateless_uniform([], seeds[4], 1.0, cfg.zoom_max)
        side = tf.cast(tf.round(size / zoom), tf.int32)
        x = tf.image.stateless_random_crop(x, tf.stack([side, side, 4]), seeds[5])
        x = tf.image.resize(x, (size, size), method="bilinear")
    image, mask = x[..., :3], tf.cast(x[..., 3:] >= MASK_THRESHOLD, tf.float32)
    if cfg.brightness:
        image = tf.image.stateless_random_brightness(image, cfg.brightness, seeds[6])
    if cfg.contrast:
        image = tf.image.stateless_random_contrast(image, 1.0 - cfg.contrast, 1.0 + cfg.contrast, seeds[7])
    if cfg.saturation:
        image = tf.image.stateless_random_saturation(tf.clip_by_value(image, 0, 1), 1.0 - cfg.saturation,
                                                     1.0 + cfg.saturation, seeds[8])
    if cfg.hue:
        image = tf.image.stateless_random_hue(tf.clip_by_value(image, 0, 1), cfg.hue, seeds[9])
    image = tf.clip_by_value(image, 0.0, 1.0) * 255.0
    return tf.ensure_shape(image, (size, size, 3)), tf.ensure_shape(mask, (size, size, 1))


def train_dataset(image_paths: Sequence[str], mask_paths: Sequence[str], size: int, batch_size: int,
                  seed: int, cfg: CnnAugment = NO_AUGMENT):
    """Endless stream of (image, mask) batches, every pair once per pass, reshuffled each pass;
    fit with tfdata.steps_per_epoch()."""
    import tensorflow as tf

    images, masks = _columns(image_paths, mask_paths)
    if len(images) == 0:
        raise ValueError("the training split is empty")
    ds = tf.data.Dataset.from_tensor_slices((images, masks))
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    draws = tf.data.Dataset.random(seed=seed).batch(2)

    def element(paths, draw):
        image, mask = load_pair(paths[0], paths[1], size)
        return augment_pair(image, mask, draw, cfg)

    ds = tf.data.Dataset.zip((ds, draws)).map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def eval_dataset(image_paths: Sequence[str], mask_paths: Sequence[str] | None, size: int, batch_size: int):
    """(image, mask) batches in file order, not augmented; images alone when `mask_paths` is None."""
    import tensorflow as tf

    if mask_paths is None:
        ds = tf.data.Dataset.from_tensor_slices(np.array([str(p) for p in image_paths], dtype=str))
        ds = ds.map(lambda path: load_image(path, size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = tf.data.Dataset.from_tensor_slices(_columns(image_paths, mask_paths))
        ds = ds.map(lambda image, mask: load_pair(image, mask, size), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def soft_dice(y_true, y_pred, smooth: float = SMOOTH):
    """Per-image (2 sum(t p) + s) / (sum t + sum p + s) over probabilities: 1 = perfect."""
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    axes = tuple(range(1, len(y_pred.shape)))
    overlap = ops.sum(y_true * y_pred, axis=axes)
    total = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return (2.0 * overlap + smooth) / (total + smooth)


def dice_bce_loss(y_true, y_pred):
    """Per-image mean binary cross-entropy + (1 - soft Dice): the cross-entropy gives every pixel
    a gradient from the start, the Dice term keeps a small lesion from being outvoted by skin."""
    import keras
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    bce = keras.losses.binary_crossentropy(y_true, y_pred)  # mean over the last (channel) axis
    pixel_axes = tuple(range(1, len(bce.shape)))
    if pixel_axes:
        bce = ops.mean(bce, axis=pixel_axes)
    return bce + (1.0 - soft_dice(y_true, y_pred))


def upsample_mask(prob, height: int, width: int, threshold: float = 0.5) -> np.ndarray:
    """A predicted (size, size[, 1]) probability map resized to (height, width) and thresholded
    (probability >= threshold is lesion): a bool mask on the image's own pixels."""
    height, width = check_positive_int("height", height), check_positive_int("width", width)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1 (got {threshold!r})")
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim == 3 and prob.shape[2] == 1:
        prob = prob[:, :, 0]
    if prob.ndim != 2 or min(prob.shape) < 1:
        raise ValueError(f"prob must be a (H, W) or (H, W, 1) probability map, got shape {prob.shape}")
    shrinking = height < prob.shape[0] or width < prob.shape[1]
    resized = cv2.resize(prob, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return resized.reshape(height, width) >= threshold

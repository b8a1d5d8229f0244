"""tf.data input pipeline for train_cnn: images stream from disk, never a whole set in memory.

Each element is decoded from its file, centre-cropped to a square and resized to the CNN's own
size (area interpolation, as the augment stage does), augmented on the fly for training with
stateless random ops (every epoch draws anew; the same seed gives the same stream), then
batched and prefetched. Only the file paths, labels, loss weights and the small metadata
vectors are held in memory. Images are float32 RGB in 0..255; each model rescales inside.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab.data.schema import CLASSES
from skinlab.params import CnnAugment

NO_AUGMENT = CnnAugment(hflip=0, vflip=0, rot90=0, zoom_max=1.0, brightness=0, contrast=0, saturation=0, hue=0)


@dataclasses.dataclass
class Table:
    """What the pipeline keeps in memory for one split: paths and labels, not pixels."""

    paths: np.ndarray  # absolute image paths (str)
    labels: np.ndarray  # class index per image (int32, CLASSES order)
    metadata: np.ndarray  # (n, d) float32, d = 0 without metadata

    def __len__(self) -> int:
        return len(self.paths)


def table(root: str | Path, frame: pd.DataFrame, metadata: np.ndarray | None = None) -> Table:
    """Index of one split: `frame` has `image` (relative to root) and `dx` columns."""
    root = Path(root)
    paths = np.array([str(root / relative) for relative in frame["image"]], dtype=str)
    labels = np.array([CLASSES.index(dx) for dx in frame["dx"]], dtype=np.int32)
    if metadata is None:
        metadata = np.zeros((len(frame), 0), np.float32)
    if len(metadata) != len(frame):
        raise ValueError(f"metadata has {len(metadata)} rows for {len(frame)} images")
    return Table(paths, labels, metadata.astype(np.float32))


def class_weights(labels: np.ndarray, mode: str, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Loss weight per class from the training counts, scaled so the mean weight per image is 1.

    `balanced` is N / (K n_c), as sklearn's; `sqrt` its square root, a gentler push towards the
    rare classes that keeps the nevi from being ignored; `none` all ones. Absent classes get 0.
    """
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    if mode == "none":
        weights = np.ones(n_classes)
    elif mode in ("sqrt", "balanced"):
        present = counts > 0
        weights = np.zeros(n_classes)
        weights[present] = counts.sum() / (present.sum() * counts[present])
        if mode == "sqrt":
            weights = np.sqrt(weights)
    else:
        raise ValueError(f"class_weight must be none, sqrt or balanced (got {mode!r})")
    mean = (weights * counts).sum() / counts.sum()
    return (weights / mean).astype(np.float32)


def load_image(path, size: int):
    """Decode (JPEG, PNG, BMP, GIF), centre-crop to a square, resize: float32 (size, size, 3), 0..255."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    image = tf.image.crop_to_bounding_box(image, top, left, side, side)
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="area")
    return tf.ensure_shape(image, (size, size, 3))


def augment(image, seed, cfg: CnnAugment):
    """Stateless random flips, 90-degree turns, zoom, brightness, contrast, saturation, hue."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=10)
    size = image.shape[0]
    x = image / 255.0

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
        x = tf.image.stateless_random_crop(x, tf.stack([side, side, 3]), seeds[5])
        x = tf.image.resize(x, (size, size), method="bilinear")
    if cfg.brightness:
        x = tf.image.stateless_random_brightness(x, cfg.brightness, seeds[6])
    if cfg.contrast:
        x = tf.image.stateless_random_contrast(x, 1.0 - cfg.contrast, 1.0 + cfg.contrast, seeds[7])
    if cfg.saturation:
        x = tf.image.stateless_random_saturation(tf.clip_by_value(x, 0, 1), 1.0 - cfg.saturation,
                                                 1.0 + cfg.saturation, seeds[8])
    if cfg.hue:
        x = tf.image.stateless_random_hue(tf.clip_by_value(x, 0, 1), cfg.hue, seeds[9])
    return tf.ensure_shape(tf.clip_by_value(x, 0.0, 1.0) * 255.0, (size, size, 3))


def _inputs(image, metadata, with_metadata: bool):
    return {"image": image, "metadata": metadata} if with_metadata else image


def train_dataset(data: Table, size: int, batch_size: int, seed: int, cfg: CnnAugment = NO_AUGMENT,
                  weights: np.ndarray | None = None, sampling: str = "shuffle", image_weights: np.ndarray | None = None,
                  mixup: float = 0.0):
    """Endless training stream of (inputs, one-hot label, loss weight) batches; fit with steps_per_epoch().

    An image's loss weight is its class's entry of `weights` times its own entry of
    `image_weights` (fairness_eval's skin-tone balancing; None: 1 for every image).

    `shuffle`: every image once per pass, reshuffled each pass. `balanced`: each element draws
    its class uniformly, then an image of that class (every class equally often per batch on
    average, rare classes repeated, with a fresh augmentation each time).

    `mixup` > 0 blends each batch with itself reversed (see mix_batch); 0 leaves the stream as is.
    """
    import tensorflow as tf

    if len(data) == 0:
        raise ValueError("the training split is empty")
    weights = np.ones(len(CLASSES), np.float32) if weights is None else np.asarray(weights, np.float32)
    per_image = weights[data.labels]
    if image_weights is not None:
        image_weights = np.asarray(image_weights, np.float32)
        if image_weights.shape != (len(data),) or not np.isfinite(image_weights).all() or (image_weights < 0).any():
            raise ValueError(f"image_weights must be {len(data)} finite non-negative numbers (got shape {image_weights.shape})")
        per_image = per_image * image_weights
    columns = (data.paths, data.labels, per_image, data.metadata)
    if sampling == "shuffle":
        ds = tf.data.Dataset.from_tensor_slices(columns)
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True).repeat()
    elif sampling == "balanced":
        parts = []
        for c in np.unique(data.labels):
            keep = data.labels == c
            part = tf.data.Dataset.from_tensor_slices(tuple(column[keep] for column in columns))
            parts.append(part.shuffle(int(keep.sum()), seed=seed + int(c), reshuffle_each_iteration=True).repeat())
        ds = tf.data.Dataset.sample_from_datasets(parts, weights=[1.0 / len(parts)] * len(parts), seed=seed)
    else:
        raise ValueError(f"sampling must be shuffle or balanced (got {sampling!r})")
    draws = tf.data.Dataset.random(seed=seed).batch(2)
    with_metadata = data.metadata.shape[1] > 0

    def element(row, draw):
        path, label, weight, metadata = row
        image = augment(load_image(path, size), draw, cfg)
        return _inputs(image, metadata, with_metadata), tf.one_hot(label, len(CLASSES)), weight

    ds = tf.data.Dataset.zip((ds, draws)).map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size)
    if mixup > 0:
        mix_draws = tf.data.Dataset.random(seed=seed + 7919).batch(2)
        ds = tf.data.Dataset.zip((ds, mix_draws)).map(
            lambda batch, draw: mix_batch(*batch, draw, mixup), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def mix_batch(inputs, labels, weights, seed, alpha: float):
    """Mixup (Zhang et al. 2018): element i becomes lam_i * element i + (1 - lam_i) * element n-1-i of
    the same batch, lam_i ~ Beta(alpha, alpha) drawn statelessly from `seed`; the image, the
    metadata, the one-hot label and the loss weight are blended alike."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2)
    n = tf.shape(labels)[0]
    a = tf.random.stateless_gamma([n], seeds[0], alpha=alpha)
    b = tf.random.stateless_gamma([n], seeds[1], alpha=alpha)
    lam = a / tf.maximum(a + b, 1e-12)

    def blend(x):
        shape = tf.concat([[n], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0)
        weight = tf.cast(tf.reshape(lam, shape), x.dtype)
        return weight * x + (1 - weight) * tf.reverse(x, axis=[0])

    return tf.nest.map_structure(blend, inputs), blend(labels), blend(weights)


def eval_dataset(data: Table, size: int, batch_size: int):
    """(inputs, one-hot label) batches in file order, not augmented: val and test."""
    import tensorflow as tf

    with_metadata = data.metadata.shape[1] > 0
    ds = tf.data.Dataset.from_tensor_slices((data.paths, data.labels, data.metadata))

    def element(path, label, metadata):
        return _inputs(load_image(path, size), metadata, with_metadata), tf.one_hot(label, len(CLASSES))

    ds = ds.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """One epoch sees about every training image once."""
    return max(1, math.ceil(n / batch_size))

"""The segment stage's U-Net: fit on the train images that have a ground-truth mask, keep the
weights of the best val Dice, and segment one image at its own size.

The fit streams (image, mask) pairs from disk (`segmentation_data`), with one random geometry
for both and photometry on the image only, under a Dice + cross-entropy loss and Adam with a
cosine-decayed learning rate. After each epoch every val pair is predicted and scored by the
hard Dice at the network's size (the same per-image Dice as the stage's scores, on the resized
masks); the best epoch's weights are kept and training stops after `patience` epochs without a
better one. Seeded and op-deterministic, like train_cnn: the same params give the same weights.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import typing
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from skinlab import segmentation, segmentation_data
from skinlab.data import tfdata
from skinlab.evaluation import segmentation as seg_metrics
from skinlab.models import unet
from skinlab.params import SegmentUnet

log = logging.getLogger(__name__)
CURVE_COLUMNS = ("epoch", "learning_rate", "loss", "val_dice")
WEIGHTS_KEY = "segment.unet.weights"
TTA_MODES = typing.get_args(SegmentUnet.model_fields["tta"].annotation)  # ("none", "flips"), as params.py declares


@dataclasses.dataclass
class UnetResult:
    model: object
    curve: list[dict]  # one row per epoch (CURVE_COLUMNS; with a "member" number in an ensemble's)
    best_epoch: int | None  # None for an ensemble (each member has its own: `members`)
    best_val_dice: float
    seconds: float
    n_train: int
    n_val: int
    pretraining: dict | None = None  # unet_pretrain's summary with its "curve" and "seconds", when pre-trained
    members: list[dict] | None = None  # an ensemble's fits (member, seed, epochs, best_epoch, best_val_dice); None for one


def val_dice(model, val_ds, threshold: float) -> float:
    """Mean per-image hard Dice of the thresholded prediction against the resized val masks."""
    values = []
    for images, masks in val_ds:
        prob = np.asarray(model(images, training=False))
        for truth, pred in zip(np.asarray(masks), prob):
            values.append(seg_metrics.dice(truth[..., 0] > 0.5, pred[..., 0] >= threshold))
    return float(np.mean(values))


def _monitor(val_ds, cfg: SegmentUnet, curve: list, run=None, prefix: str = "unet"):
    import keras

    class DiceMonitor(keras.callbacks.Callback):
        """Scores val Dice after each epoch, keeps the best weights, stops after `patience`."""

        def __init__(self):
            super().__init__()
            self.best_value, self.best_epoch, self.best_weights, self.wait = -np.inf, 0, None, 0
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, "learning_rate": float(np.asarray(self.model.optimizer.learning_rate)),
                   "loss": float((logs or {}).get("loss", np.nan)), "val_dice": val_dice(self.model, val_ds, cfg.threshold)}
            curve.append(row)
            if row["val_dice"] > self.best_value:
                self.best_value, self.best_epoch, self.wait = row["val_dice"], epoch + 1, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= cfg.patience:
                    self.model.stop_training = True
            if run is not None:
                run.log_metrics({f"{prefix}_loss": row["loss"], f"{prefix}_val_dice": row["val_dice"],
                                 f"{prefix}_learning_rate": row["learning_rate"]}, step=epoch + 1)
            log.info("%s epoch %d: loss %.4f, val Dice %.3f, %.1fs", prefix, epoch + 1, row["loss"], row["val_dice"],
                     time.perf_counter() - self.started)

    return DiceMonitor()


def fit(cfg: SegmentUnet, train: tuple[Sequence, Sequence], val: tuple[Sequence, Sequence], seed: int,
        run=None, initial_weights: list | None = None, log_prefix: str = "unet") -> UnetResult:
    """Train on (image paths, mask paths) pairs; the model holds the weights of the best val epoch.

    `initial_weights` (`model.get_weights()` of a network built from the same cfg, e.g. one
    pre-trained on other images) replace the random initialisation; ValueError naming the
    segment.unet params if they do not fit. Each epoch reaches MLflow as `<log_prefix>_loss`,
    `_val_dice` and `_learning_rate`."""
    import keras
    import tensorflow as tf

    if not len(train[0]) or not len(val[0]):
        raise ValueError(f"the U-Net needs train and val images with ground-truth masks "
                         f"(got {len(train[0])} train, {len(val[0])} val)")
    keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow
    tf.config.experimental.enable_op_determinism()
    train_ds = segmentation_data.train_dataset(train[0], train[1], cfg.image_size, cfg.batch_size, seed, cfg.augment)
    val_ds = segmentation_data.eval_dataset(val[0], val[1], cfg.image_size, cfg.batch_size)
    steps = tfdata.steps_per_epoch(len(train[0]), cfg.batch_size)
    model = unet.build_unet(cfg.image_size, cfg.base_filters, cfg.depth, cfg.dropout, cfg.encoder, cfg.weights,
                            weights_key=WEIGHTS_KEY)
    if initial_weights is not None:
        try:
            model.set_weights(initial_weights)
        except ValueError as error:
            raise ValueError(f"the initial weights do not fit the U-Net of segment.unet (encoder {cfg.encoder}, "
                             f"base_filters {cfg.base_filters}, depth {cfg.depth}): were they made with other "
                             f"params? ({error})") from None
    decay = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.epochs * steps)
    model.compile(optimizer=keras.optimizers.Adam(decay),
                  loss=segmentation_data.dice_bce_loss)
    curve: list[dict] = []
    monitor = _monitor(val_ds, cfg, curve, run, log_prefix)
    started = time.perf_counter()
    model.fit(train_ds, epochs=cfg.epochs, steps_per_epoch=steps, callbacks=[monitor], verbose=0)
    if monitor.best_weights is not None:  # None only when every val Dice was NaN
        model.set_weights(monitor.best_weights)
    return UnetResult(model, curve, monitor.best_epoch, float(monitor.best_value), time.perf_counter() - started,
                      len(train[0]), len(val[0]))


def fit_members(cfg: SegmentUnet, train: tuple[Sequence, Sequence], val: tuple[Sequence, Sequence], seed: int,
                run=None, initial_weights: list | None = None) -> UnetResult:
    """`cfg.members` fits from the same start (`initial_weights`, or each its own random one), with
    seeds seed, seed + 1, ...; one member is returned as `fit` returns it. Several become one
    network that outputs the mean of their probabilities (`average`); its result has every
    member's curve (a "member" column), the members' best epochs and val Dice in `members`, and as
    best_val_dice the ensemble's own val Dice at the network's size. Each member's epochs reach
    MLflow as `unet_member<k>_*`."""
    if cfg.members == 1:
        return fit(cfg, train, val, seed, run, initial_weights)
    fits, curve, members = [], [], []
    for k in range(1, cfg.members + 1):
        result = fit(cfg, train, val, seed + k - 1, run, initial_weights, log_prefix=f"unet_member{k}")
        log.info("U-Net member %d of %d (seed %d): best epoch %d, val Dice %.4f", k, cfg.members, seed + k - 1,
                 result.best_epoch, result.best_val_dice)
        fits.append(result)
        curve += [{**row, "member": k} for row in result.curve]
        members.append({"member": k, "seed": seed + k - 1, "epochs": len(result.curve), "best_epoch": result.best_epoch,
                        "best_val_dice": result.best_val_dice})
    model = average([result.model for result in fits])
    val_ds = segmentation_data.eval_dataset(val[0], val[1], cfg.image_size, cfg.batch_size)
    return UnetResult(model, curve, None, val_dice(model, val_ds, cfg.threshold), sum(r.seconds for r in fits),
                      fits[0].n_train, fits[0].n_val, members=members)


def average(models: Sequence) -> object:
    """One Keras network whose output is the mean of `models`' outputs (same input shape); saved
    and loaded like one U-Net. It holds uncompiled copies of the members (a compiled member would
    save its custom loss, which `load` does not know), named member1, member2, ..."""
    import keras

    image = keras.Input(models[0].input_shape[1:], name="image")
    copies = []
    for k, model in enumerate(models, 1):
        copy = keras.Model.from_config(model.get_config())  # (clone_model would compile it again)
        copy.set_weights(model.get_weights())
        copy.name = f"member{k}"
        copies.append(copy)
    outputs = keras.layers.Average(name="mask_mean")([copy(image) for copy in copies])
    return keras.Model(image, outputs, name=f"unet_ensemble{len(models)}")


class Segmenter:
    """`fn(rgb) -> bool mask` at the image's size: area-resize to the network's size (as the
    training stream does), predict, upsample the probability and threshold it. The resize and
    the forward pass run as one compiled graph (traced once per image size).

    `tta="flips"` averages the probability over the image and its horizontal, vertical and double
    mirror (one batch of four, each map mirrored back). `clean=True` then fills holes and keeps
    the one component the classical methods keep (`segmentation.keep_central`: the largest
    trade-off of area and distance from the centre, or one filling half the frame)."""

    def __init__(self, model, threshold: float = 0.5, tta: str = "none", clean: bool = False):
        import tensorflow as tf

        if tta not in TTA_MODES:
            raise ValueError(f"unknown U-Net tta {tta!r}; valid: {', '.join(TTA_MODES)}")
        self.model, self.threshold, self.tta, self.clean = model, threshold, tta, bool(clean)
        self.size = int(model.input_shape[1])
        flips = tta == "flips"

        @tf.function(reduce_retracing=True)
        def forward(rgb):
            image = tf.image.resize(tf.cast(rgb[None], tf.float32), (self.size, self.size), method="area")
            if not flips:
                return model(image, training=False)[0, ..., 0]
            views = tf.concat([image, image[:, :, ::-1], image[:, ::-1], image[:, ::-1, ::-1]], axis=0)
            prob = model(views, training=False)[..., 0]
            return (prob[0] + prob[1, :, ::-1] + prob[2, ::-1] + prob[3, ::-1, ::-1]) / 4.0

        self._forward = forward

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """The (size, size) lesion probability of an RGB image (any size, uint8 or float 0..255)."""
        return np.asarray(self._forward(np.ascontiguousarray(np.asarray(rgb)[..., :3])))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        mask = segmentation_data.upsample_mask(self.probability(rgb), height, width, self.threshold)
        if self.clean and mask.any():
            mask = segmentation.keep_central(ndimage.binary_fill_holes(mask))
        return mask


def load(path: str | Path, threshold: float = 0.5, tta: str = "none", clean: bool = False) -> Segmenter:
    """A saved U-Net (`models/segment/unet.keras`) as a Segmenter."""
    import keras

    return Segmenter(keras.models.load_model(path, compile=False), threshold, tta, clean)

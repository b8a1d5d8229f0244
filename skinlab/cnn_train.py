"""The train_cnn fit loop: AdamW with warm-up and cosine decay, label smoothing, class-weighted
or focal loss, model selection and early stopping on val balanced accuracy (or val macro AUC)
with test-time augmentation, and two phases for pretrained backbones.

Reproducible: `deterministic(seed)` seeds Python, NumPy and TensorFlow and turns on TensorFlow's
op determinism; the input pipeline draws from stateless seeds, so the same params give the same
weights and metrics bit for bit on the same machine and library versions.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time

import numpy as np

from skinlab.data import tfdata
from skinlab.data.schema import CLASSES
from skinlab.evaluation import calibration
from skinlab.evaluation.classification import classification_report
from skinlab.models import cnn
from skinlab.params import TrainCnn
from skinlab.tta import DIHEDRAL, TTA_VIEWS, combine_views

log = logging.getLogger(__name__)
CURVE_COLUMNS = ("epoch", "phase", "learning_rate", "loss", "val_loss", "val_balanced_accuracy", "val_macro_auc")


def deterministic(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow
    tf.config.experimental.enable_op_determinism()


@dataclasses.dataclass
class TrainResult:
    model: object
    curve: list[dict]  # one row per epoch (CURVE_COLUMNS)
    best_epoch: int
    best_value: float
    seconds: float


def _view(image, turns: int, mirrored: bool):
    import tensorflow as tf

    if mirrored:
        image = tf.image.flip_left_right(image)
    return tf.image.rot90(image, turns) if turns else image


def predict_views(model, dataset, views=DIHEDRAL) -> dict[tuple, np.ndarray]:
    """Class probabilities in dataset order for each view (quarter turns, mirrored) of the images."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(inputs):
        image = inputs["image"] if isinstance(inputs, dict) else inputs
        outs = []
        for turns, mirrored in views:
            variant = _view(image, turns, mirrored)
            outs.append(model({**inputs, "image": variant} if isinstance(inputs, dict) else variant, training=False))
        return tf.stack(outs)

    parts = np.concatenate([step(batch[0]).numpy() for batch in dataset], axis=1).astype(np.float64)
    return {view: parts[i] for i, view in enumerate(views)}


def predict(model, dataset, tta: str = "none") -> np.ndarray:
    """Class probabilities in dataset order, averaged over the views of `tta` (none | flips | dihedral)."""
    return combine_views(predict_views(model, dataset, TTA_VIEWS[tta]), tta)


def embeddings(model, dataset) -> np.ndarray:
    """Penultimate-layer features (layer `embedding`) in dataset order, float32."""
    import keras

    embed = keras.Model(model.inputs, model.get_layer("embedding").output)
    return np.concatenate([embed(batch[0], training=False).numpy() for batch in dataset]).astype(np.float32)


def _callback_base():
    import keras

    return keras.callbacks.Callback


class WeightAverage(_callback_base()):
    """Exponential moving average of all the model's weights (BatchNorm statistics included).

    Updated after every training step with decay min(`decay`, (1 + n) / (10 + n)) after n steps,
    so the first steps are not frozen in; `swapped()` puts the average into the model for a while.
    """

    def __init__(self, decay: float):
        super().__init__()
        self.decay, self.steps, self.average = decay, 0, None

    def on_train_batch_end(self, batch, logs=None):
        weights = self.model.get_weights()
        if self.average is None:
            self.average = [w.astype(np.float64) for w in weights]
            self.dtypes = [w.dtype for w in weights]
        else:
            d = min(self.decay, (1 + self.steps) / (10 + self.steps))
            for avg, w in zip(self.average, weights):
                avg *= d
                avg += (1 - d) * w
        self.steps += 1

    def averaged(self) -> list[np.ndarray]:
        return [avg.astype(dtype) for avg, dtype in zip(self.average, self.dtypes)]

    @contextlib.contextmanager
    def swapped(self):
        live = self.model.get_weights()
        self.model.set_weights(self.averaged())
        try:
            yield
        finally:
            self.model.set_weights(live)


class ValidationMonitor(_callback_base()):
    """Scores val after each epoch (with TTA), keeps the best weights, stops after `patience`.

    Appends one row per epoch to `curve` and sends it to MLflow with the epoch as step. With an
    `average` (WeightAverage), scores and keeps the averaged weights instead of the live ones.
    """

    def __init__(self, val_ds, y_val: np.ndarray, cfg: TrainCnn, run=None, curve=None, average=None):
        super().__init__()
        self.val_ds, self.y_val, self.cfg, self.run, self.average = val_ds, y_val, cfg, run, average
        self.curve = [] if curve is None else curve
        self.best_value, self.best_epoch, self.best_weights, self.wait = -np.inf, 0, None, 0
        self.phase, self.started = "train", time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.average is not None and self.average.average is not None:
            with self.average.swapped():
                self._score(epoch, logs)
        else:
            self._score(epoch, logs)

    def _score(self, epoch, logs):
        proba = predict(self.model, self.val_ds, self.cfg.tta)
        report = classification_report([CLASSES[i] for i in self.y_val], proba, CLASSES)
        row = {"epoch": epoch + 1, "phase": self.phase,
               "learning_rate": float(np.asarray(self.model.optimizer.learning_rate)),
               "loss": float(logs.get("loss", np.nan)) if logs else float("nan"),
               "val_loss": calibration.nll(self.y_val, proba),
               "val_balanced_accuracy": report["balanced_accuracy"],
               "val_macro_auc": report["macro_auc_ovr"] or 0.0}
        self.curve.append(row)
        value = row[self.cfg.monitor]
        if value > self.best_value:
            self.best_value, self.best_epoch, self.wait = value, epoch + 1, 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.cfg.patience:
                self.model.stop_training = True
        if self.run is not None:
            self.run.log_metrics({k: v for k, v in row.items() if k not in ("epoch", "phase")}, step=epoch + 1)
        log.info("epoch %d (%s): loss %.4f, val bacc %.3f, val AUC %.3f, %.1fs", epoch + 1, self.phase, row["loss"],
                 row["val_balanced_accuracy"], row["val_macro_auc"], time.perf_counter() - self.started)


def loss_function(cfg: TrainCnn):
    import keras

    if cfg.loss == "focal":
        return keras.losses.CategoricalFocalCrossentropy(gamma=cfg.focal_gamma, label_smoothing=cfg.label_smoothing)
    return keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)


def schedule(peak: float, warmup_steps: int, total_steps: int):
    """Linear warm-up from 0 to `peak`, then cosine decay to 0 at `total_steps`."""
    import keras

    decay = max(1, total_steps - warmup_steps)
    if warmup_steps:
        return keras.optimizers.schedules.CosineDecay(0.0, decay, warmup_target=peak, warmup_steps=warmup_steps)
    return keras.optimizers.schedules.CosineDecay(peak, decay)


def compile_model(model, cfg: TrainCnn, peak: float, warmup_steps: int, total_steps: int) -> None:
    import keras

    optimizer = keras.optimizers.AdamW(learning_rate=schedule(peak, warmup_steps, total_steps),
                                       weight_decay=cfg.weight_decay)
    model.compile(optimizer=optimizer, loss=loss_function(cfg))


def unfreeze_top(backbone, n_layers: int) -> int:
    """Make the top `n_layers` of a backbone trainable, BatchNormalization kept frozen; returns how many."""
    import keras

    backbone.trainable = True
    layers = backbone.layers
    count = 0
    for index, layer in enumerate(layers):
        top = index >= len(layers) - n_layers
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)
        count += int(layer.trainable and bool(layer.weights))
    return count


def train(cfg: TrainCnn, train: tfdata.Table, val: tfdata.Table, seed: int, strategy=None, run=None,
          image_weights: np.ndarray | None = None) -> TrainResult:
    """Fit a model from params; the returned model holds the weights of the best val epoch.
    `image_weights` multiply each training image's class weight in the loss."""
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    weights = tfdata.class_weights(train.labels, cfg.class_weight)
    train_ds = tfdata.train_dataset(train, cfg.image_size, cfg.batch_size, seed, cfg.augment, weights, cfg.sampling,
                                    image_weights, cfg.mixup)
    val_ds = tfdata.eval_dataset(val, cfg.image_size, cfg.batch_size)
    steps = tfdata.steps_per_epoch(len(train), cfg.batch_size)
    with strategy.scope():
        model = cnn.build(cfg.arch, cfg.image_size, len(CLASSES), cfg.weights, train.metadata.shape[1],
                          cfg.dropout, cfg.filters, cfg.separable)
    average = WeightAverage(cfg.weight_average) if cfg.weight_average > 0 else None
    monitor = ValidationMonitor(val_ds, val.labels, cfg, run, average=average)
    callbacks = [monitor] if average is None else [average, monitor]
    started = time.perf_counter()
    pretrained = cfg.weights == "imagenet"
    head_epochs = min(cfg.head_epochs, cfg.epochs) if pretrained else 0
    if head_epochs:
        monitor.phase = "head"
        model.get_layer(cnn.BACKBONE).trainable = False
        with strategy.scope():
            compile_model(model, cfg, cfg.learning_rate, min(cfg.warmup_epochs, head_epochs) * steps, head_epochs * steps)
        model.fit(train_ds, epochs=head_epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=0)
    if cfg.epochs > head_epochs and not (head_epochs and model.stop_training):
        peak = cfg.learning_rate
        if head_epochs:
            monitor.phase = "fine_tune"
            opened = unfreeze_top(model.get_layer(cnn.BACKBONE), cfg.fine_tune_layers)
            log.info("fine-tuning the top %d layers of the backbone (%d with weights)", cfg.fine_tune_layers, opened)
            peak *= cfg.fine_tune_lr_factor
        remaining = cfg.epochs - head_epochs
        with strategy.scope():
            compile_model(model, cfg, peak, min(cfg.warmup_epochs, remaining) * steps, remaining * steps)
        model.fit(train_ds, epochs=cfg.epochs, initial_epoch=head_epochs, steps_per_epoch=steps,
                  callbacks=callbacks, verbose=0)
    if monitor.best_weights is not None:
        model.set_weights(monitor.best_weights)
    return TrainResult(model, monitor.curve, monitor.best_epoch, float(monitor.best_value), time.perf_counter() - started)

"""WeightAverage: the exponential moving average of the weights that train_cnn validates and keeps."""
from __future__ import annotations

import numpy as np

from skinlab.cnn_train import WeightAverage


def tiny_model():
    import keras

    inputs = keras.Input((3,))
    x = keras.layers.Dense(2, name="dense")(inputs)
    return keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(x))


def test_average_follows_the_warm_started_decay_and_swaps_back():
    model = tiny_model()
    average = WeightAverage(0.5)
    average.set_model(model)
    rng = np.random.default_rng(0)
    expected = None
    for step in range(6):
        weights = [rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()]
        model.set_weights(weights)
        average.on_train_batch_end(step)
        if expected is None:
            expected = [w.astype(np.float64) for w in weights]
        else:
            d = min(0.5, (1 + step) / (10 + step))  # step = the number of earlier updates
            expected = [d * e + (1 - d) * w for e, w in zip(expected, weights)]
    assert average.steps == 6
    # BatchNorm's moving statistics are averaged too, not only the trainable weights
    assert len(average.averaged()) == len(model.get_weights()) == 6
    for got, want in zip(average.averaged(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    live = model.get_weights()
    with average.swapped():
        for got, want in zip(model.get_weights(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-6)
    for got, want in zip(model.get_weights(), live):
        np.testing.assert_array_equal(got, want)


def test_first_steps_are_not_frozen_in():
    model = tiny_model()
    average = WeightAverage(0.999)
    average.set_model(model)
    zeros = [np.zeros_like(w) for w in model.get_weights()]
    ones = [np.ones_like(w) for w in model.get_weights()]
    model.set_weights(zeros)
    average.on_train_batch_end(0)
    model.set_weights(ones)
    for step in range(1, 40):
        average.on_train_batch_end(step)
    # a plain 0.999 decay would still sit near 0.04; the warm start has moved most of the way
    assert all(np.all(w > 0.7) for w in average.averaged())


def test_validation_scores_and_keeps_the_averaged_weights():
    import keras
    import tensorflow as tf

    from skinlab.cnn_train import ValidationMonitor
    from skinlab.params import TrainCnn

    image = keras.Input((4, 4, 3))
    x = keras.layers.GlobalAveragePooling2D()(image)
    model = keras.Model(image, keras.layers.Dense(7, activation="softmax")(x))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    labels = np.arange(14) % 7
    images = np.random.default_rng(1).uniform(0, 255, (14, 4, 4, 3)).astype(np.float32)
    val = tf.data.Dataset.from_tensor_slices((images, np.eye(7)[labels])).batch(5)
    average = WeightAverage(0.9)
    monitor = ValidationMonitor(val, labels, TrainCnn(tta=False), average=average)
    for callback in (average, monitor):
        callback.set_model(model)
    average.on_train_batch_end(0)
    model.set_weights([w + 1 for w in model.get_weights()])  # the live weights move on
    average.on_train_batch_end(1)
    live = model.get_weights()
    monitor.on_epoch_end(0, {"loss": 1.0})
    for kept, averaged in zip(monitor.best_weights, average.averaged()):
        np.testing.assert_array_equal(kept, averaged)
    assert not np.array_equal(monitor.best_weights[0], live[0])
    for now, before in zip(model.get_weights(), live):  # training continues from the live weights
        np.testing.assert_array_equal(now, before)

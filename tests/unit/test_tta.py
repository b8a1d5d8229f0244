"""Test-time augmentation: the views, their average, and the param's old true/false spelling."""
from __future__ import annotations

import numpy as np
import pytest

from skinlab import tta
from skinlab.params import TrainCnn


def asymmetric(size: int = 5) -> np.ndarray:
    return np.arange(size * size * 3, dtype=np.float32).reshape(size, size, 3)


def test_views_are_the_eight_symmetries_and_flips_are_the_mirrors():
    image = asymmetric()
    views = {v: tta.view(image, *v) for v in tta.DIHEDRAL}
    assert len({arr.tobytes() for arr in views.values()}) == 8
    flips = [tta.view(image, *v) for v in tta.TTA_VIEWS["flips"]]
    np.testing.assert_array_equal(flips[0], image)
    np.testing.assert_array_equal(flips[1], image[:, ::-1])  # left-right mirror
    np.testing.assert_array_equal(flips[2], image[::-1])  # up-down mirror
    assert set(tta.TTA_VIEWS["flips"]) < set(tta.DIHEDRAL) and tta.TTA_VIEWS["none"] == ((0, False),)


def test_numpy_views_match_the_tensorflow_ones():
    import tensorflow as tf

    from skinlab.cnn_train import _view

    image = asymmetric()
    for v in tta.DIHEDRAL:
        np.testing.assert_array_equal(_view(tf.constant(image[None]), *v).numpy()[0], tta.view(image, *v))


def test_combine_averages_and_renormalises():
    per_view = {v: np.tile([[0.5, 0.5]], (2, 1)) for v in tta.DIHEDRAL}
    per_view[(0, True)] = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(tta.combine_views(per_view, "none"), [[0.5, 0.5]] * 2)
    np.testing.assert_allclose(tta.combine_views(per_view, "flips"), [[2 / 3, 1 / 3], [1 / 3, 2 / 3]])
    np.testing.assert_allclose(tta.combine_views(per_view, "dihedral"), [[9 / 16, 7 / 16], [7 / 16, 9 / 16]])
    with pytest.raises(ValueError, match="unknown test-time augmentation 'rotate'"):
        tta.combine_views(per_view, "rotate")
    with pytest.raises(ValueError, match="not predicted"):
        tta.combine_views({(0, False): per_view[(0, False)]}, "flips")


def test_predict_averages_the_model_over_the_views():
    import keras
    import tensorflow as tf

    from skinlab import cnn_train

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    images = np.random.default_rng(0).uniform(0, 1, (4, 6, 6, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(4))).batch(3)
    one = {v: model(np.stack([tta.view(im, *v) for im in images])).numpy() for v in tta.DIHEDRAL}
    for mode in tta.TTA_MODES:
        expected = np.mean([one[v] for v in tta.TTA_VIEWS[mode]], axis=0)
        np.testing.assert_allclose(cnn_train.predict(model, dataset, mode), expected / expected.sum(1, keepdims=True),
                                   rtol=1e-5)
    assert not np.allclose(cnn_train.predict(model, dataset, "none"), cnn_train.predict(model, dataset, "dihedral"))


def test_old_boolean_spelling_still_reads():
    assert TrainCnn(tta=True).tta == "flips" and TrainCnn(tta=False).tta == "none"
    assert TrainCnn(tta="dihedral").tta == "dihedral"

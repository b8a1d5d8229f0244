"""TFLite export: the converted models give the Keras model's probabilities, with both input kinds."""
from __future__ import annotations

import numpy as np
import pytest

from skinlab import export
from skinlab.models import cnn


def test_float_and_quantised_tflite_agree_with_keras_on_a_fused_model():
    import keras

    keras.utils.set_random_seed(0)
    model = cnn.build("compact", 24, 7, metadata_dim=3, filters=(8, 16))
    rng = np.random.default_rng(0)
    inputs = {"image": rng.uniform(0, 255, (6, 24, 24, 3)).astype(np.float32),
              "metadata": rng.integers(0, 2, (6, 3)).astype(np.float32)}
    reference = model(inputs, training=False).numpy()
    content = export.to_tflite(model)
    tflite = export.TfliteModel(content)
    assert tflite.inputs == ["image", "metadata"]
    check = export.agreement(reference, tflite.predict(inputs))
    assert check["n_images"] == 6 and check["top1_disagreements"] == 0 and check["max_abs_difference"] < 1e-5
    quantised = export.to_tflite(model, quantize=True)
    assert len(quantised) < len(content)  # int8 weights
    assert export.agreement(reference, export.TfliteModel(quantised).predict(inputs))["max_abs_difference"] < 0.1
    with pytest.raises(ValueError, match="missing \\['metadata'\\]"):
        tflite.predict(inputs["image"])


def test_agreement_names_the_rows_whose_top_class_differs():
    a = np.array([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    b = np.array([[0.6, 0.4], [0.7, 0.3], [0.5, 0.5]])
    check = export.agreement(a, b)
    assert check["top1_disagreements"] == 1 and check["top1_disagreement_rows"] == [1]
    assert check["max_abs_difference"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        export.agreement(a, b[:2])

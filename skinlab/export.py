"""TFLite export of a trained train_cnn model, and the check that it agrees with the Keras model.

`to_tflite` converts (float32, or with dynamic-range quantisation: int8 weights, float
activations); `TfliteModel` runs a converted model one image at a time with the same inputs as
the Keras model (`image`, and `metadata` for fused models); `agreement` compares two sets of
probabilities of the same images.
"""
from __future__ import annotations

import numpy as np


def to_tflite(model, quantize: bool = False) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: weights to int8
    return converter.convert()


class TfliteModel:
    """A converted model behind the interface of the Keras one: probabilities for a batch of inputs."""

    def __init__(self, content: bytes):
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moves to ai_edge_litert
            warnings.simplefilter("ignore")
            self.interpreter = tf.lite.Interpreter(model_content=content)
        self.runner = self.interpreter.get_signature_runner()
        self.inputs = list(self.interpreter.get_signature_list()["serving_default"]["inputs"])

    def predict(self, inputs) -> np.ndarray:
        """`inputs`: an image batch (N x H x W x 3, RGB 0..255) or {"image": ..., "metadata": ...}."""
        inputs = inputs if isinstance(inputs, dict) else {"image": inputs}
        missing = sorted(set(self.inputs) - set(inputs))
        if missing:
            raise ValueError(f"TFLite model needs inputs {self.inputs}; missing {missing}")
        n = len(inputs["image"])
        rows = []
        for i in range(n):
            one = {name: np.asarray(inputs[name][i:i + 1], np.float32) for name in self.inputs}
            rows.append(next(iter(self.runner(**one).values()))[0])
        return np.asarray(rows, np.float64).reshape(n, -1)


def predict_dataset(model: TfliteModel, dataset) -> np.ndarray:
    """Probabilities for every batch of an eval dataset ((inputs, label) batches), in order."""
    parts = []
    for inputs, _ in dataset:
        batch = {k: v.numpy() for k, v in inputs.items()} if isinstance(inputs, dict) else inputs.numpy()
        parts.append(model.predict(batch))
    return np.concatenate(parts)


def agreement(reference: np.ndarray, other: np.ndarray) -> dict:
    """Largest absolute probability difference, and the images whose top-1 class differs."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"agreement: shapes differ {reference.shape} vs {other.shape}")
    differs = np.flatnonzero(reference.argmax(axis=1) != other.argmax(axis=1))
    return {"n_images": int(len(reference)), "max_abs_difference": float(np.abs(reference - other).max(initial=0.0)),
            "top1_disagreements": int(len(differs)), "top1_disagreement_rows": [int(i) for i in differs[:20]]}

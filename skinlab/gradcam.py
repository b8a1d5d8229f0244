"""Grad-CAM (Selvaraju et al. 2017): where in the image the evidence for a class lies.

Works for every builder of skinlab/models/cnn.py: each pools its last feature map in a layer
named `pool`, and the map going into it is what is explained. The class score differentiated is
the log of the class probability (the softmax's gradient vanishes on confident images; the
log's does not). Anything that shows a diagnosis with its evidence (plots, a web app) calls this.
"""
from __future__ import annotations

import numpy as np

FEATURE_LAYER = "pool"  # the map *entering* this layer is explained


def grad_model_of(model):
    import keras

    return keras.Model(model.inputs, [model.get_layer(FEATURE_LAYER).input, model.output])


def heatmap(model, image: np.ndarray, class_index: int | None = None, metadata: np.ndarray | None = None,
            grad_model=None) -> tuple[np.ndarray, int]:
    """(heat map in [0, 1] with the image's height and width, the class explained).

    `image`: one H x W x 3 float image as the model takes it (RGB 0..255, at the model's input
    size). `class_index`: the class to explain (default: the predicted one). `metadata`: the
    encoded row, for models that fuse it. A map with no positive evidence is all zeros.
    """
    import tensorflow as tf

    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"gradcam: expected one H x W x 3 image, got shape {image.shape}")
    grad_model = grad_model or grad_model_of(model)
    x = tf.convert_to_tensor(image[None])
    inputs = x
    if len(model.inputs) > 1:
        if metadata is None:
            raise ValueError("gradcam: this model fuses metadata; pass its encoded row")
        inputs = {"image": x, "metadata": tf.convert_to_tensor(np.asarray(metadata, np.float32)[None])}
    with tf.GradientTape() as tape:
        features, proba = grad_model(inputs, training=False)
        if class_index is None:
            class_index = int(tf.argmax(proba[0]))
        score = tf.math.log(proba[:, class_index] + 1e-12)
    grads = tape.gradient(score, features)
    weights = tf.reduce_mean(grads, axis=(1, 2))  # one weight per channel
    cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0]
    cam = tf.image.resize(cam[..., None], image.shape[:2], method="bilinear")[..., 0].numpy()
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    return np.clip(cam, 0.0, 1.0).astype(np.float32), class_index


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image (RGB 0..255) with the heat map blended over it as a JET colour map, uint8 RGB."""
    import cv2

    colours = cv2.applyColorMap(np.uint8(255 * np.clip(cam, 0, 1)), cv2.COLORMAP_JET)[..., ::-1]
    blend = (1 - alpha) * np.asarray(image, np.float32) + alpha * colours.astype(np.float32)
    return np.clip(blend, 0, 255).astype(np.uint8)


def pick_examples(y_true: np.ndarray, y_pred: np.ndarray, classes) -> list[tuple[str, str, int | None]]:
    """Per class, the first image predicted right and the first predicted wrong (None where none).

    Returns (class, "correct" | "wrong", row index) triples, classes in order.
    """
    picks = []
    for c in classes:
        for kind, hit in (("correct", True), ("wrong", False)):
            rows = np.flatnonzero((y_true == c) & ((y_pred == c) == hit))
            picks.append((c, kind, int(rows[0]) if len(rows) else None))
    return picks


def examples_figure(panels: list[tuple[str, np.ndarray | None]], title: str, columns: int = 2):
    """A grid of (caption, overlay image or None) panels with the not-a-medical-device footer."""
    from skinlab.evaluation import plots

    rows = -(-len(panels) // columns)
    fig = plots.figure(figsize=(2.4 * columns, 2.3 * rows + 0.6))
    for index, (caption, picture) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, index + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if picture is None:
            ax.text(0.5, 0.5, "no such image", ha="center", va="center", fontsize=7, color="grey")
        else:
            ax.imshow(picture)
        ax.set_title(caption, fontsize=7)
    fig.suptitle(title, fontsize=9)
    return plots.finish(fig, plots.FOOTER)

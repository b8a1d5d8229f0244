"""What the web app serves, loaded once: the CNN (TFLite for the probabilities, Keras for Grad-CAM),
its model card, the lesion segmenter of `segment` and the skin-tone settings of params.yaml.

`Bundle.predict(rgb)` runs the pipeline's own recipe on one image: centre square crop, area
resize to the card's image size, the card's test-time views averaged, temperature scaling; then
the lesion mask, the skin tone of the skin around it, and optionally Grad-CAM. It keeps no state
between calls: one request's image can never reach another's answer.
"""
from __future__ import annotations

import dataclasses
import hashlib
import threading
from pathlib import Path

import cv2
import numpy as np

from skinlab import healthy_skin, io, skin_tone_report
from skinlab.data.schema import CLASSES, MALIGNANT
from skinlab.evaluation.calibration import scale
from skinlab.tta import view


class ModelMissing(FileNotFoundError):
    """A file the app needs is not there; the message says which command builds it."""


@dataclasses.dataclass(frozen=True)
class Paths:
    cnn: Path = Path("models/cnn")
    segment: Path = Path("models/segment")
    params: Path = Path("params.yaml")


def square_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre square crop and area resize to (size, size): float32 RGB 0..255, as tfdata.load_image."""
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = rgb[top:top + side, left:left + side]
    return cv2.resize(crop.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


def _require(path: Path, builds: str) -> Path:
    if not path.exists():
        raise ModelMissing(f"{path} not found: run `{builds}` first (or point the app at another folder)")
    return path


class Bundle:
    def __init__(self, paths: Paths = Paths()):
        from skinlab import params
        from skinlab.export import TfliteModel

        card_path = _require(paths.cnn / "model_card.json", "make run (dvc repro train_cnn)")
        self.card = io.read_json(card_path)
        self.version = hashlib.sha256(card_path.read_bytes()).hexdigest()[:12]
        if self.card.get("metadata"):
            raise ModelMissing(f"{card_path}: the model fuses metadata ({', '.join(self.card['metadata'])}); "
                               "the app serves image-only models (train_cnn.metadata: [])")
        tflite = paths.cnn / "model.tflite"
        self.fast = TfliteModel(tflite.read_bytes()) if tflite.exists() else None
        self._keras_path = _require(paths.cnn / "model.keras", "make run (dvc repro train_cnn)")
        self._keras, self._grad, self._lock = None, None, threading.Lock()
        self._fast_lock = threading.Lock()  # a TFLite interpreter runs one call at a time
        self.size = int(self.card["image_size"])
        self.views = [tuple(v) for v in self.card["tta"]["views"]]
        self.temperature = float(self.card.get("temperature") or 1.0)
        cfg = params.load(paths.params) if paths.params.exists() else params.parse({})
        self.skin = skin_tone_report.options(cfg.skin_tone_classify)  # as skin_tone_classify measures
        self.segmenter, self.segment_method = self._segmenter(paths.segment, cfg)

    def _segmenter(self, folder: Path, cfg):
        from skinlab import segment_methods, unet_train

        card = io.read_json(folder / "card.json") if (folder / "card.json").exists() else {"chosen": "otsu"}
        chosen = card["chosen"]
        if chosen == "unet":
            unet = card.get("params", {}).get("unet", {})
            path = _require(folder / "unet.keras", "make run (dvc repro segment)")
            return unet_train.load(path, float(unet.get("threshold", 0.5)), unet.get("tta", "none"),
                                   bool(unet.get("clean", False))), chosen
        return segment_methods.build(chosen, cfg.segment, cfg.base.seed), chosen

    @property
    def keras(self):
        """The Keras model, loaded on first use (Grad-CAM, or probabilities when there is no TFLite file)."""
        with self._lock:
            if self._keras is None:
                import keras

                from skinlab.gradcam import grad_model_of

                self._keras = keras.models.load_model(self._keras_path, compile=False)
                self._grad = grad_model_of(self._keras)
        return self._keras

    def probabilities(self, rgb: np.ndarray, path: str = "tflite") -> np.ndarray:
        """Calibrated class probabilities (CLASSES order) of one RGB image, averaged over the card's views."""
        x = square_resize(rgb, self.size)
        batch = np.stack([view(x, turns, mirrored) for turns, mirrored in self.views]).astype(np.float32)
        if path == "tflite" and self.fast is not None:
            with self._fast_lock:
                proba = self.fast.predict(batch)
        else:
            proba = np.asarray(self.keras(batch, training=False), np.float64)
        mean = proba.mean(axis=0, keepdims=True)
        mean /= mean.sum()
        return scale(mean, self.temperature)[0] if self.temperature != 1.0 else mean[0]

    def gradcam(self, rgb: np.ndarray, class_index: int) -> np.ndarray:
        """Grad-CAM of `class_index` on the model's input, resized to the centre square of the image."""
        from skinlab.gradcam import heatmap

        model = self.keras
        cam, _ = heatmap(model, square_resize(rgb, self.size), class_index, grad_model=self._grad)
        return cam

    def predict(self, rgb: np.ndarray, path: str = "tflite", explain: bool = False) -> dict:
        proba = self.probabilities(rgb, path)
        order = np.argsort(-proba)
        mask = np.asarray(self.segmenter(rgb), bool)
        tone = healthy_skin.estimate(rgb, mask if mask.any() else None, self.skin)
        result = {"probabilities": {c: float(p) for c, p in zip(CLASSES, proba)},
                  "top_class": CLASSES[int(order[0])],
                  "malignant_risk": float(sum(proba[CLASSES.index(c)] for c in MALIGNANT)),
                  "skin_tone": {"ita": tone.ita, "band": tone.band, "fitzpatrick": tone.fitzpatrick,
                                "reason": tone.reason or None},
                  "mask": mask, "lesion_found": bool(mask.any())}
        if explain:
            result["heatmap"] = self.gradcam(rgb, int(order[0]))
        return result

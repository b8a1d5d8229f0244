"""The app tests' fixtures: a tiny CNN trained here, the app over it (TestClient), and a real
uvicorn server on loopback for the tests that need one (streaming, browser)."""
from __future__ import annotations

import socket
import threading
import time

import cv2
import numpy as np
import pytest

from skinlab import io
from skinlab.data.schema import CLASSES


def lesion(seed: int, size=(96, 128)) -> np.ndarray:
    """RGB uint8: skin-coloured background with a dark blotch somewhere near the centre."""
    rng = np.random.default_rng(seed)
    image = np.empty((*size, 3), np.float32)
    image[:] = rng.uniform([170, 120, 100], [230, 180, 150])
    y, x = np.mgrid[:size[0], :size[1]]
    cy, cx, r = size[0] * rng.uniform(0.35, 0.65), size[1] * rng.uniform(0.35, 0.65), min(size) * rng.uniform(0.15, 0.3)
    image[(y - cy) ** 2 + (x - cx) ** 2 < r ** 2] *= rng.uniform(0.3, 0.6)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def encode(rgb: np.ndarray, ext: str = ".jpg") -> bytes:
    return io.encode_image(rgb, ext)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """A compact CNN at 24 px trained for a few steps, exported as the pipeline exports it."""
    import keras

    from skinlab import export
    from skinlab.models import cnn

    root = tmp_path_factory.mktemp("app_models")
    keras.utils.set_random_seed(0)
    model = cnn.build("compact", 24, len(CLASSES), filters=(8, 16))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = np.stack([cv2.resize(lesion(i), (24, 24), interpolation=cv2.INTER_AREA) for i in range(64)]).astype(np.float32)
    model.fit(x, rng.integers(0, len(CLASSES), 64), epochs=2, batch_size=16, verbose=0)
    (root / "cnn").mkdir()
    model.save(root / "cnn" / "model.keras")
    (root / "cnn" / "model.tflite").write_bytes(export.to_tflite(model))
    io.write_json(root / "cnn" / "model_card.json", {
        "arch": "compact", "classes": list(CLASSES), "image_size": 24, "metadata": [], "temperature": 1.5,
        "tta": {"mode": "flips", "views": [[0, False], [0, True], [2, True]]},
        "calibration": {"method": "temperature"}, "test_metrics": {"balanced_accuracy": 0.2},
        "trained_on": "a test's random images", "intended_use": "tests", "disclaimer": "Not a medical device."})
    (root / "segment").mkdir()
    io.write_json(root / "segment" / "card.json", {"chosen": "otsu"})
    return root


@pytest.fixture(scope="session")
def client(models):
    from fastapi.testclient import TestClient

    from skinlab.app.api import create_app
    from skinlab.app.model import Bundle, Paths
    from skinlab.app.upload import UploadLimits

    bundle = Bundle(Paths(models / "cnn", models / "segment", models / "no_params.yaml"))
    return TestClient(create_app(bundle, UploadLimits(max_bytes=200_000, max_pixels=2_000_000)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(client):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=10)

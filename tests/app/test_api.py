"""The web app's API on a tiny CNN trained in the test: answers, every kind of bad upload refused
with a 4xx JSON error (and the service answering after each), odd but valid images handled,
no request reaching another's answer, nothing written to disk."""
from __future__ import annotations

import io as pyio
import struct
import threading
import zlib

import cv2
import numpy as np
import pytest

from skinlab.data.schema import CLASSES
from tests.app.conftest import encode, lesion


def predict(client, data: bytes, name="x.jpg", mime="image/jpeg", query=""):
    return client.post(f"/api/predict{query}", files={"file": (name, data, mime)})


def assert_alive(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert predict(client, encode(lesion(1))).status_code == 200


def test_health_and_model_card_carry_the_model_version(client):
    health = client.get("/healthz")
    card = client.get("/api/model").json()
    assert health.status_code == 200 and card["model_version"] == health.json()["model_version"]
    assert health.headers["x-model-version"] == card["model_version"]
    assert card["trained_on"] == "a test's random images" and "Not a medical device" in card["disclaimer"]
    assert card["fast_path"] == "tflite" and card["segmentation"] == "otsu"


def test_a_prediction_has_calibrated_probabilities_risk_outline_and_tone(client):
    response = predict(client, encode(lesion(2)), query="?explain=true")
    assert response.status_code == 200
    body = response.json()
    proba = body["probabilities"]
    assert list(proba) == list(CLASSES) and sum(proba.values()) == pytest.approx(1.0)
    assert body["top_class"] == max(proba, key=proba.get)
    assert body["malignant_risk"] == pytest.approx(proba["mel"] + proba["bcc"] + proba["akiec"])
    assert body["lesion_found"] and body["outline"] and all(len(p) >= 3 for p in body["outline"])
    assert body["mask_png"].startswith("data:image/png;base64,") and body["heatmap_png"].startswith("data:image/png")
    assert body["heatmap_box"] == [16, 0, 96, 96]  # the centre square of a 96 x 128 image
    assert body["skin_tone"]["band"] is not None and body["model_version"] == response.headers["x-model-version"]
    assert "Not a medical device" in body["disclaimer"] and body["trained_on"] == "a test's random images"


def test_tflite_and_keras_paths_agree(client):
    data = encode(lesion(3), ".png")
    fast = predict(client, data, "x.png", "image/png").json()["probabilities"]
    slow = predict(client, data, "x.png", "image/png", "?path=keras").json()["probabilities"]
    assert max(abs(fast[c] - slow[c]) for c in CLASSES) < 1e-4


def test_the_probabilities_are_the_models_own_recipe(client, models):
    """Centre crop, area resize, the card's three views averaged, then temperature 1.5."""
    import keras

    from skinlab.evaluation.calibration import scale
    from skinlab.tta import view

    rgb = lesion(4)
    model = keras.models.load_model(models / "cnn" / "model.keras", compile=False)
    x = cv2.resize(rgb[:, 16:112].astype(np.float32), (24, 24), interpolation=cv2.INTER_AREA)
    views = np.stack([view(x, 0, False), view(x, 0, True), view(x, 2, True)])
    mean = np.asarray(model(views)).mean(axis=0, keepdims=True)
    expected = scale(mean / mean.sum(), 1.5)[0]
    got = predict(client, encode(rgb, ".png"), "x.png", "image/png", "?path=keras").json()["probabilities"]
    np.testing.assert_allclose([got[c] for c in CLASSES], expected, atol=1e-5)


@pytest.mark.parametrize("variant", ["grey", "rgba", "16bit"])
def test_grey_rgba_and_16_bit_images_are_read_as_rgb(client, variant):
    rgb = lesion(5)
    if variant == "grey":
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        data = cv2.imencode(".png", grey)[1].tobytes()
        reference = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    elif variant == "rgba":
        data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA))[1].tobytes()
        reference = rgb
    else:  # 12-bit samples in a 16-bit file, as cameras store them
        data = cv2.imencode(".png", (cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 4095 // 255))[1].tobytes()
        reference = rgb
    got = predict(client, data, "x.png", "image/png").json()["probabilities"]
    want = predict(client, encode(reference, ".png"), "x.png", "image/png").json()["probabilities"]
    assert max(abs(got[c] - want[c]) for c in CLASSES) < 0.02


def test_an_exif_rotated_jpeg_is_judged_upright(client):
    from PIL import Image

    rgb = lesion(6)
    stored = np.rot90(rgb, 1)  # what a camera held sideways stores; EXIF 6 says: turn 90 degrees clockwise
    buffer = pyio.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(stored)).save(buffer, "JPEG", quality=95, exif=exif)
    rotated = predict(client, buffer.getvalue()).json()
    upright = predict(client, encode(rgb, ".jpg")).json()
    assert rotated["image"] == {"width": 128, "height": 96}
    assert max(abs(rotated["probabilities"][c] - upright["probabilities"][c]) for c in CLASSES) < 0.02


def png_bomb(width=30000, height=30000) -> bytes:
    """A PNG of a few hundred bytes whose header declares width x height pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


BAD = {
    "empty": (b"", "image/jpeg", 400, "empty"),
    "not an image": (b"this is a text file, not a photo" * 10, "image/jpeg", 400, "corrupt_image"),
    "truncated jpeg": (None, "image/jpeg", 400, "truncated"),
    "corrupt png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 300, "image/png", 400, "corrupt_image"),
    "decompression bomb": (png_bomb(), "image/png", 413, "too_many_pixels"),
    "gif": (b"GIF89a" + b"\x00" * 200, "image/gif", 415, "unsupported_format"),
    "heic": (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200, "image/heic", 415, "unsupported_format"),
    "too small": (encode(np.zeros((8, 8, 3), np.uint8), ".png"), "image/png", 422, "too_small"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_uploads_get_a_4xx_json_error_and_the_service_keeps_answering(client, case):
    data, mime, status, code = BAD[case]
    if data is None:
        full = encode(lesion(7), ".jpg")
        data = full[: len(full) // 2]
    response = predict(client, data, "upload.bin", mime)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["detail"] and "Traceback" not in response.text
    assert body["model_version"]
    assert_alive(client)


def test_an_oversized_upload_is_refused_by_size_and_the_service_keeps_answering(client):
    too_big = encode(np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8), ".png")
    assert len(too_big) > 200_000
    for response in (predict(client, too_big, "big.png", "image/png"),
                     client.post("/api/predict", content=too_big, headers={"content-type": "image/png"})):
        assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert_alive(client)


def test_a_chunked_upload_is_refused_while_it_streams(live_server):
    """No Content-Length: the server counts the body as it arrives and answers 413 although the
    body never ends (the final empty chunk is never sent: a server that read the whole upload
    first would still be waiting). The TestClient reads whole bodies, so this runs uvicorn."""
    import select
    import socket

    host, port = live_server
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        sent, answer = 0, b""
        chunk = b"%x\r\n" % 10_000 + b"\xff" * 10_000 + b"\r\n"
        while sent < 5_000_000:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 10_000
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_wrong_requests_are_named(client):
    response = client.post("/api/predict", content=b"abc", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "multipart/form-data" in response.json()["detail"]
    response = client.post("/api/predict", files={"photo": ("x.jpg", encode(lesion(8)), "image/jpeg")})
    assert response.status_code == 422 and response.json()["error"] == "missing_file"
    response = client.post("/api/predict", content=b"--xyz\r\nbroken", headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert response.status_code in (400, 422)
    response = predict(client, encode(lesion(8)), query="?path=gpu")
    assert response.status_code == 422 and "path" in response.json()["detail"]
    assert client.get("/api/nothing").status_code == 404
    assert_alive(client)


def test_concurrent_requests_get_their_own_answers(client):
    images = {i: encode(lesion(20 + i), ".png") for i in range(8)}
    query = {i: "?path=keras&explain=true" if i % 2 else "" for i in images}  # both paths at once
    alone = {i: predict(client, data, "x.png", "image/png", query[i]).json()["probabilities"] for i, data in images.items()}
    results, errors = {}, []

    def worker(i):
        try:
            for _ in range(3):
                answer = predict(client, images[i], "x.png", "image/png", query[i]).json()["probabilities"]
                results.setdefault(i, []).append(answer)
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, answers in results.items():
        for answer in answers:
            assert answer == alone[i]


def test_uploads_are_not_written_to_disk(client, monkeypatch, tmp_path):
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was spooled to a temporary file")

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    # FastAPI's UploadFile would spool a form's file to a temporary file; this app parses the stream in memory
    assert predict(client, encode(lesion(9, (200, 260))), "x.jpg", "image/jpeg").status_code == 200


def test_the_page_is_served_without_external_resources(client):
    page = client.get("/")
    assert page.status_code == 200 and "Not a medical device" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200 and "https://" not in response.text


def test_the_openapi_schema_describes_the_upload(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert {"/healthz", "/api/model", "/api/predict"} <= set(schema["paths"])


def test_a_missing_model_names_the_command_that_builds_it(tmp_path):
    from skinlab.app.model import Bundle, ModelMissing, Paths

    with pytest.raises(ModelMissing, match="model_card.json not found: run `make run"):
        Bundle(Paths(tmp_path / "cnn", tmp_path / "segment", tmp_path / "params.yaml"))

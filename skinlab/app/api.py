"""The FastAPI service: one page (GET /), the JSON API (POST /api/predict, GET /api/model,
GET /healthz) and its OpenAPI schema. Every error is a JSON body {"error", "detail"} with a 4xx
status; nothing of an upload is written to disk or logged."""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from skinlab.app.upload import UploadError, UploadLimits, decode, read_body

STATIC = Path(__file__).parent / "static"
DISPLAY_SIDE = 512  # the mask, outline and heat map come back at most this large (the image keeps its aspect)
DISCLAIMER = ("Not a medical device: for research and teaching only. Do not use it to diagnose, treat or decide "
              "on care.")

PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}}}}}


def png_data(image: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA
                                                                                  if image.shape[2] == 4 else cv2.COLOR_RGB2BGR))
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode()


def display_scale(height: int, width: int) -> float:
    return min(1.0, DISPLAY_SIDE / max(height, width))


def outline(mask: np.ndarray, factor: float) -> list[list[list[float]]]:
    """The lesion's outer contours as polygons [[x, y], ...] in display pixels."""
    small = cv2.resize(mask.astype(np.uint8), None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) \
        if factor < 1 else mask.astype(np.uint8)
    contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [[[float(x), float(y)] for x, y in c[:, 0]] for c in contours if len(c) >= 3]


def heat_overlay(rgb: np.ndarray, cam: np.ndarray, factor: float) -> tuple[str, list[int]]:
    """Grad-CAM over the centre square the model saw: PNG (RGBA, transparent where cold) and its box."""
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    size = max(1, round(side * factor))
    cam = cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(np.uint8(255 * np.clip(cam, 0, 1)), cv2.COLORMAP_JET)[..., ::-1]
    rgba = np.dstack([colours, np.uint8(180 * np.clip(cam, 0, 1))])
    box = [round(left * factor), round(top * factor), size, size]
    return png_data(rgba), box


def create_app(bundle, limits: UploadLimits = UploadLimits()):
    app = FastAPI(title="skinlab", version=bundle.version,
                  description=f"Skin-lesion classifier of the skinlab pipeline. {DISCLAIMER}")
    headers = {"X-Model-Version": bundle.version, "Cache-Control": "no-store"}

    def error(status: int, code: str, detail: str) -> JSONResponse:
        return JSONResponse({"error": code, "detail": detail, "model_version": bundle.version}, status, headers)

    @app.exception_handler(UploadError)
    async def _upload(_, exc: UploadError):
        return error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def _http(_, exc: HTTPException):
        return error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(_, exc: Exception):  # a bug of ours: say so, without a stack trace
        return error(500, "internal_error", "the server could not process this image")

    @app.get("/healthz")
    def healthz():
        return JSONResponse({"status": "ok", "model_version": bundle.version}, headers=headers)

    @app.get("/api/model")
    def model_card():
        card = {**bundle.card, "model_version": bundle.version, "segmentation": bundle.segment_method,
                "fast_path": "tflite" if bundle.fast is not None else "keras", "disclaimer": DISCLAIMER,
                "max_upload_bytes": limits.max_bytes, "max_pixels": limits.max_pixels}
        return JSONResponse(card, headers=headers)

    @app.post("/api/predict", openapi_extra=PREDICT_BODY)
    async def predict(request: Request, explain: bool = False, masks: bool = True,
                      path: Literal["tflite", "keras"] = "tflite"):
        data, name = await read_body(request, limits)
        rgb = await run_in_threadpool(decode, data, name, limits)  # decoding is CPU work: off the event loop
        result = await run_in_threadpool(bundle.predict, rgb, path, explain)
        height, width = rgb.shape[:2]
        factor = display_scale(height, width)
        mask = result.pop("mask")
        body = {**result, "model_version": bundle.version, "trained_on": bundle.card.get("trained_on"),
                "disclaimer": DISCLAIMER, "image": {"width": width, "height": height},
                "display": {"width": round(width * factor), "height": round(height * factor)},
                "outline": outline(mask, factor)}
        if masks:
            small = cv2.resize(mask.astype(np.uint8) * 255, (body["display"]["width"], body["display"]["height"]),
                               interpolation=cv2.INTER_NEAREST)
            body["mask_png"] = png_data(small)
        if explain:
            body["heatmap_png"], body["heatmap_box"] = heat_overlay(rgb, result.pop("heatmap"), factor)
            body.pop("heatmap", None)
        return JSONResponse(body, headers=headers)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers=headers)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app

"""An uploaded image, read from the request stream and checked before a pixel is decoded.

The body is counted while it arrives and refused as soon as it passes the limit (a declared
Content-Length over it is refused before reading anything); multipart bodies are parsed as a
stream by python-multipart, so nothing is spooled to disk. Every refusal is an UploadError with
an HTTP status and a message that says what is wrong; none carries a stack trace.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from skinlab import io
from skinlab.data import images

MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers allowed beyond the image's own bytes


@dataclasses.dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 16


class UploadError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _too_big(limits: UploadLimits) -> UploadError:
    return UploadError(413, "too_large", f"the upload is larger than {limits.max_bytes / 1e6:g} MB")


async def read_body(request, limits: UploadLimits, field: str = "file") -> tuple[bytes, str]:
    """(the image's bytes, its file name) from a multipart form field `field`, or from a raw
    `image/*` or `application/octet-stream` body."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    mime, options = parse_options_header(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes + MULTIPART_OVERHEAD:
        raise _too_big(limits)
    if mime == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise UploadError(400, "bad_request", "multipart/form-data without a boundary")
        return await _multipart(request, boundary, limits, field, MultipartParser)
    if mime.startswith(b"image/") or mime == b"application/octet-stream":
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limits.max_bytes:
                raise _too_big(limits)
        return bytes(data), "upload"
    raise UploadError(415, "unsupported_media_type",
                      f"send the image as multipart/form-data (field '{field}') or as an image/* body, "
                      f"not {mime.decode(errors='replace') or 'no content type'}")


async def _multipart(request, boundary: bytes, limits: UploadLimits, field: str, parser_class) -> tuple[bytes, str]:
    state = {"headers": {}, "name": b"", "value": b"", "current": None, "found": None, "filename": "upload"}
    parts: dict[bytes, bytearray] = {}

    def on_header_field(data, start, end):
        state["name"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["name"].lower()] = state["value"]
        state["name"], state["value"] = b"", b""

    def on_headers_finished():
        from python_multipart.multipart import parse_options_header

        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"")
        state["current"] = name
        parts.setdefault(name, bytearray())
        if name == field.encode():
            state["filename"] = disposition.get(b"filename", b"upload").decode(errors="replace") or "upload"

    def on_part_data(data, start, end):
        buffer = parts[state["current"]]
        buffer += data[start:end]
        if len(buffer) > limits.max_bytes:
            raise _too_big(limits)

    def on_part_begin():
        state["headers"] = {}

    parser = parser_class(boundary, {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                                     "on_header_value": on_header_value, "on_header_end": on_header_end,
                                     "on_headers_finished": on_headers_finished, "on_part_data": on_part_data})
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limits.max_bytes + MULTIPART_OVERHEAD:
                raise _too_big(limits)
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except Exception as error:  # python-multipart's own errors: a malformed body
        raise UploadError(400, "bad_request", f"malformed multipart body: {type(error).__name__}") from None
    if field.encode() not in parts:
        raise UploadError(422, "missing_file", f"no form field '{field}' with an image")
    return bytes(parts[field.encode()]), state["filename"]


def _truncated(fmt: str, data: bytes) -> bool:
    """A JPEG without its end marker or a PNG without its IEND chunk: OpenCV would decode the
    part that arrived and fill the rest with grey, and the model would judge a half image."""
    if fmt == "jpeg":
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "png":
        return b"IEND" not in data[-64:]
    return False


def decode(data: bytes, name: str, limits: UploadLimits) -> np.ndarray:
    """RGB uint8 of an uploaded image: EXIF orientation applied, grey/RGBA/16-bit converted."""
    if not data:
        raise UploadError(400, "empty", f"{name}: the upload is empty")
    try:
        header = images.read_header(data, name)
        if _truncated(header.format, data):
            raise UploadError(400, "truncated", f"{name}: the {header.format} file is truncated (incomplete upload?)")
        decoded = images.decode(data, name, images.Limits(limits.max_pixels, limits.min_side))
        return io.to_rgb(decoded.image, name)
    except images.ImageRefused as error:
        status = {"too_large": 413, "unsupported_format": 415, "too_small": 422}.get(error.kind, 400)
        message = str(error).replace("download.max_image_pixels", "the server's pixel limit").replace(
            "download.min_image_side", "the smallest side allowed")
        raise UploadError(status, "too_many_pixels" if error.kind == "too_large" else error.kind, message) from None
    except io.ImageError as error:
        raise UploadError(400, "corrupt_image", str(error)) from None

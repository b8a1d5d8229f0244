"""Atomic writers and image I/O: a killed stage never leaves a half-written output that looks complete.

Images are RGB inside the library; the BGR of OpenCV stays in this module.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pandas as pd


class ImageError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


class MaskError(ImageError):
    """A mask file that cannot be decoded or does not fit its image."""


def _tmp_sibling(path: Path) -> Path:
    """A new empty file beside `path`, with the mode a plain open() would give (umask applies).

    tempfile.mkstemp would make it 0600, and os.replace keeps that mode on the final file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        name = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return name
    raise FileExistsError(f"{path.parent}: cannot create a temporary file for {path.name}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling to write to; it replaces `path` only if the block succeeds."""
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def to_jsonable(value):
    """numpy scalars and arrays to plain Python, so json can write them."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_json(path: str | Path, data) -> None:
    """Sorted, indented, and a NaN fails loudly instead of writing invalid JSON."""
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=True, allow_nan=False)
    write_text(path, text + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory as `path.tmp/`, then swap it in; on failure the old one stays."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_dir(tmp, path)


def swap_dir(tmp: Path, path: Path) -> None:
    """Replace `path` by the finished directory `tmp`, so a complete folder is always in place."""
    old = path.with_name(path.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if old.exists():
        shutil.rmtree(old)


def md5_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def decode_unchanged(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes as stored (BGR/BGRA/grey, any depth); error names the file."""
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_UNCHANGED) if array.size else None
    if image is None:
        raise ImageError(f"{name}: cannot decode image (corrupt, empty or not an image)")
    return image


def to_rgb(image: np.ndarray, name: str = "<bytes>") -> np.ndarray:
    """A decoded OpenCV image to RGB uint8 (grey, RGBA and 16-bit are converted)."""
    if image.dtype == np.uint16:
        image = to_8bit(image)
    elif image.dtype != np.uint8:
        raise ImageError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise ImageError(f"{name}: unsupported number of channels {image.shape[2]}")


def used_bits(image: np.ndarray) -> int:
    """How many bits of a 16-bit image its samples use: 8, 10, 12, 14 or 16.

    Cameras and scanners store 10-, 12- or 14-bit data (and converters store 8-bit data) in
    16-bit files; dividing by 257 would turn those nearly or entirely black.
    """
    top = int(image.max()) if image.size else 0
    return next(bits for bits in (8, 10, 12, 14, 16) if top < 1 << bits)


def to_8bit(image: np.ndarray) -> np.ndarray:
    """A 16-bit image scaled to uint8 by the bit depth its samples use (see used_bits)."""
    scale = 255.0 / ((1 << used_bits(image)) - 1)
    return np.clip(np.rint(image.astype(np.float32) * scale), 0, 255).astype(np.uint8)


def is_rgb8(image: np.ndarray) -> bool:
    """Whether a decoded image is already 8-bit with 3 channels (its file can be kept as is)."""
    return image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to RGB uint8."""
    return to_rgb(decode_unchanged(data, name), name)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8; a clear error names the file if it is not readable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: image file not found") from None
    return decode_image(data, str(path))


def read_mask(path: str | Path) -> np.ndarray:
    """Read a binary mask as uint8 0/255 (any non-zero pixel is lesion)."""
    path = Path(path)
    if not path.is_file():
        raise MaskError(f"{path}: mask file not found")
    data = np.fromfile(path, dtype=np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if mask is None:
        raise MaskError(f"{path}: cannot decode mask")
    return np.where(mask > 127, 255, 0).astype(np.uint8)


def check_mask_size(mask: np.ndarray, image_shape: tuple, mask_name, image_name=None) -> None:
    """MaskError naming the mask (and its image) when the mask's height and width differ from the image's."""
    if tuple(mask.shape[:2]) != tuple(image_shape[:2]):
        image = f"its image {image_name} is" if image_name else "image is"
        raise MaskError(f"{mask_name}: mask is {mask.shape[1]}x{mask.shape[0]}, "
                        f"{image} {image_shape[1]}x{image_shape[0]}")


def encode_image(image: np.ndarray, ext: str = ".png", quality: int = 95) -> bytes:
    """Encode an RGB (or single-channel) uint8 image; ext picks the format."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext.lower() in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(ext, image, params)
    if not ok:
        raise ImageError(f"cannot encode image as {ext}")
    return buffer.tobytes()


def write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> None:
    path = Path(path)
    write_bytes(path, encode_image(image, path.suffix or ".png", quality))

"""One imported image, checked before it is decoded: format, pixel count, size, EXIF orientation.

The header is read with Pillow's format plugins, which parse only the header; the pixels are
decoded once by OpenCV. A 100 KB PNG can declare 30000 x 30000 pixels (a decompression bomb),
so the limit is checked before any pixel is decoded.
"""
from __future__ import annotations

import dataclasses
import io as pyio
import os
from pathlib import Path

import numpy as np

from skinlab import io

# Formats the folder source reads, by file extension (webp through OpenCV's libwebp).
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SUPPORTED_TEXT = ", ".join(ext[1:] for ext in EXTENSIONS)
# ISO base media brands of HEIF/AVIF files, which neither OpenCV nor Pillow read here.
HEIF_BRANDS = {b"heic": "heic", b"heix": "heic", b"hevc": "heic", b"heim": "heic", b"heis": "heic",
               b"mif1": "heif", b"msf1": "heif", b"avif": "avif", b"avis": "avif"}


class ImageRefused(io.ImageError):
    """An image refused for a stated reason; `kind` is the metrics counter it goes to."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class Limits:
    max_pixels: int = 50_000_000
    min_side: int = 16


@dataclasses.dataclass(frozen=True)
class Header:
    format: str  # jpeg, png, bmp, tiff, webp
    width: int
    height: int
    orientation: int  # EXIF orientation 1-8; 1 is upright


@dataclasses.dataclass
class Decoded:
    """A decoded image (OpenCV channel order, any depth) and what was done to make it usable."""

    image: np.ndarray
    orientation: int = 1  # the EXIF orientation applied (1: none)
    rescaled_bits: int = 0  # 16-bit samples that used this many bits, scaled to 8 bits

    @property
    def changed(self) -> bool:
        """Whether the pixels differ from the file's own, so its bytes cannot be kept as they are."""
        return self.orientation != 1 or self.rescaled_bits > 0


def sniff(data: bytes) -> str | None:
    """The format the bytes hold, from their magic number (None: not a known image format)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return HEIF_BRANDS.get(data[8:12], "iso media")
    if data[:4] in (b"GIF8",):
        return "gif"
    return None


def _plugin(fmt: str):
    from PIL import BmpImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin

    return {"jpeg": JpegImagePlugin.JpegImageFile, "png": PngImagePlugin.PngImageFile,
            "bmp": BmpImagePlugin.BmpImageFile, "tiff": TiffImagePlugin.TiffImageFile,
            "webp": WebPImagePlugin.WebPImageFile}[fmt]


def read_header(data: bytes, name: str) -> Header:
    """Format, size and orientation from the header alone; no pixel is decoded.

    The format plugin is called directly: PIL.Image.open would itself refuse large images
    (its own decompression-bomb limit) before we could name the size and our param.
    """
    fmt = sniff(data)
    if fmt is None:
        raise ImageRefused(f"{name}: cannot decode image (corrupt, empty or not an image)", "corrupt_image")
    if fmt not in ("jpeg", "png", "bmp", "tiff", "webp"):
        raise ImageRefused(f"{name}: unsupported format {fmt} (supported: {SUPPORTED_TEXT})", "unsupported_format")
    try:
        image = _plugin(fmt)(pyio.BytesIO(data))
        width, height = image.size
        orientation = 1
        if fmt in ("jpeg", "tiff", "webp"):  # PNG's own getexif would decode every pixel
            orientation = int(image.getexif().get(0x0112, 1) or 1)
    except (SyntaxError, OSError, ValueError, EOFError, KeyError, IndexError, TypeError) as error:
        raise ImageRefused(f"{name}: cannot decode image (corrupt {fmt} header: {error})", "corrupt_image") from None
    return Header(fmt, int(width), int(height), orientation if 1 <= orientation <= 8 else 1)


def check_size(header: Header, name: str, limits: Limits) -> None:
    pixels = header.width * header.height
    size = f"{header.width} x {header.height} px"
    if pixels > limits.max_pixels:
        raise ImageRefused(
            f"{name}: {size} ({pixels / 1e6:.1f} megapixels) is more than download.max_image_pixels "
            f"({limits.max_pixels / 1e6:g} megapixels); not decoded", "too_large")
    if min(header.width, header.height) < limits.min_side:
        raise ImageRefused(f"{name}: {size} is smaller than download.min_image_side ({limits.min_side} px)", "too_small")


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to a decoded array, as image viewers display it."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    if orientation not in ops:
        return image
    return np.ascontiguousarray(ops[orientation](image))


def decode(data: bytes, name: str, limits: Limits) -> Decoded:
    """Check the header against the limits, decode, apply the EXIF orientation, scale 16 bits to 8.

    Raises ImageRefused (or io.ImageError) naming `name`.
    """
    header = read_header(data, name)
    check_size(header, name, limits)
    image = io.decode_unchanged(data, name)
    result = Decoded(orient(image, header.orientation), header.orientation)
    if result.image.dtype == np.uint16:
        result.rescaled_bits = io.used_bits(result.image)
        result.image = io.to_8bit(result.image)
    return result


def check_mask_size(path: str | os.PathLike, limits: Limits) -> None:
    """Refuse a mask over the pixel limit from its header, before io.read_mask decodes it."""
    try:
        header = read_header(Path(path).read_bytes(), str(path))
        check_size(header, str(path), Limits(limits.max_pixels, min_side=0))
    except OSError:
        return  # io.read_mask names what is wrong
    except ImageRefused as error:
        if error.kind == "too_large":
            raise io.MaskError(str(error)) from None


def file_format(path: str | os.PathLike) -> str:
    """The extension of a file without the dot, lower case (the format a user would name)."""
    return os.path.splitext(os.fspath(path))[1].lower().lstrip(".")

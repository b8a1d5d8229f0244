"""Checks on one imported image: header limits before decoding, formats, EXIF orientation, 16 bits."""
import io as pyio
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from skinlab import io
from skinlab.data import images

LIMITS = images.Limits(max_pixels=50_000_000, min_side=16)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (8-bit RGB); its pixel data is a stub."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = pyio.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def asymmetric(height=30, width=40) -> np.ndarray:
    """An image whose every flip and rotation differs: a gradient plus a corner block."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = np.arange(width, dtype=np.uint8)[None, :] * 6
    rgb[..., 1] = np.arange(height, dtype=np.uint8)[:, None] * 8
    rgb[:5, :3, 2] = 255
    return rgb


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(monkeypatch):
    def no_decoding(*args):
        raise AssertionError("decoded although the header was over the limit")

    monkeypatch.setattr(io, "decode_unchanged", no_decoding)
    with pytest.raises(images.ImageRefused) as caught:
        images.decode(png_header_only(30000, 30000), "bomb.jpg", LIMITS)
    assert str(caught.value) == ("bomb.jpg: 30000 x 30000 px (900.0 megapixels) is more than "
                                 "download.max_image_pixels (50 megapixels); not decoded")
    assert caught.value.kind == "too_large"


def test_the_pixel_limit_is_the_params_value():
    header = images.read_header(png_header_only(5000, 4000), "x.png")
    assert (header.format, header.width, header.height) == ("png", 5000, 4000)
    images.check_size(header, "x.png", images.Limits(max_pixels=20_000_000, min_side=16))
    with pytest.raises(images.ImageRefused, match="more than download.max_image_pixels"):
        images.check_size(header, "x.png", images.Limits(max_pixels=19_999_999, min_side=16))


def test_a_tiny_image_is_refused_with_its_size_and_the_param():
    data = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()
    with pytest.raises(images.ImageRefused) as caught:
        images.decode(data, "dot.png", LIMITS)
    assert str(caught.value) == "dot.png: 1 x 1 px is smaller than download.min_image_side (16 px)"
    assert caught.value.kind == "too_small"
    assert images.decode(cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))[1].tobytes(), "ok.png", LIMITS).image.shape == (16, 16, 3)


@pytest.mark.parametrize("data, fmt", [
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heic"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "avif"),
    (b"GIF89a\x01\x00\x01\x00", "gif"),
])
def test_known_but_unsupported_formats_are_named(data, fmt):
    with pytest.raises(images.ImageRefused) as caught:
        images.decode(data, "IMG_4.jpg", LIMITS)
    assert str(caught.value) == f"IMG_4.jpg: unsupported format {fmt} (supported: jpg, jpeg, png, bmp, tif, tiff, webp)"
    assert caught.value.kind == "unsupported_format"


def test_html_and_a_broken_header_are_corrupt():
    with pytest.raises(images.ImageRefused, match=r"page.jpg: cannot decode image \(corrupt, empty or not an image\)"):
        images.decode(b"<html><body>Not found</body></html>", "page.jpg", LIMITS)
    with pytest.raises(images.ImageRefused, match="cut.png: cannot decode image"):
        images.decode(b"\x89PNG\r\n\x1a\n\x00\x00", "cut.png", LIMITS)


def test_webp_is_read():
    rgb = asymmetric()
    data = cv2.imencode(".webp", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    assert images.sniff(data) == "webp"
    decoded = images.decode(data, "x.webp", LIMITS)
    assert np.array_equal(io.to_rgb(decoded.image), rgb)  # quality above 100 is lossless


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_for_all_eight_values(orientation):
    rgb = asymmetric()
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = Image.fromarray(rgb)
    tagged.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(tagged))
    assert np.array_equal(images.orient(rgb, orientation), expected)


def test_a_phone_jpeg_with_orientation_6_is_rotated_like_a_viewer_shows_it():
    data = jpeg_with_orientation(asymmetric(), 6)
    decoded = images.decode(data, "phone.jpg", LIMITS)
    assert decoded.orientation == 6 and decoded.changed
    assert decoded.image.shape == (40, 30, 3)
    viewer = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # OpenCV applies EXIF here
    assert np.array_equal(decoded.image, viewer)
    plain = images.decode(jpeg_with_orientation(asymmetric(), 1), "upright.jpg", LIMITS)
    assert plain.orientation == 1 and not plain.changed and plain.image.shape == (30, 40, 3)


def test_16_bit_images_are_scaled_by_the_bits_their_values_use():
    low = np.linspace(135, 220, 16 * 16).astype(np.uint16).reshape(16, 16)
    decoded = images.decode(cv2.imencode(".png", low)[1].tobytes(), "low16.png", LIMITS)
    assert decoded.rescaled_bits == 8 and decoded.image.dtype == np.uint8
    assert decoded.image.min() == 135 and decoded.image.max() == 220
    assert io.used_bits(np.array([4095], np.uint16)) == 12
    assert io.to_8bit(np.array([0, 4095, 2048], np.uint16)).tolist() == [0, 255, 128]
    assert io.to_8bit(np.array([0, 65535, 32768, 257], np.uint16)).tolist() == [0, 255, 128, 1]

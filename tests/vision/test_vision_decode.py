"""Image payload decoding: jpeg, png, raw, and clear errors for bad payloads."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from backend.vision import ImageDecodeError, ImageTooLargeError, decode_image, image_size_from_header

MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")


def _test_image(h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4 % 256, yy * 5 % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)


def _encode(img: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok, f"cv2.imencode({ext}) failed"
    return buf.tobytes()


def test_png_is_lossless_bgr() -> None:
    img = _test_image()
    out = decode_image(_encode(img, ".png"), "png")
    np.testing.assert_array_equal(out, img, err_msg="png round trip must be exact and keep BGR order")
    assert image_size_from_header(_encode(img, ".png"), "png") == (64, 48)


def test_jpeg_decodes_close_to_source() -> None:
    img = _test_image()
    data = _encode(img, ".jpg")
    out = decode_image(memoryview(data), "jpeg")
    assert out.shape == img.shape and out.dtype == np.uint8, f"{out.shape} {out.dtype}"
    err = np.abs(out.astype(int) - img).mean()
    assert err < 8, f"jpeg mean abs error {err:.2f}"
    assert image_size_from_header(data, "jpeg") == (64, 48)


def test_real_photo() -> None:
    if not MESSI.is_file():
        pytest.skip(f"{MESSI} missing: install Debian's opencv-doc for OpenCV's sample photos")
    data = MESSI.read_bytes()
    out = decode_image(data, "jpeg")
    np.testing.assert_array_equal(out, cv2.imread(str(MESSI)), err_msg="same pixels as cv2.imread")


def test_raw_layouts() -> None:
    img = _test_image()
    out = decode_image(img.tobytes(), "raw", shape=[48, 64, 3], dtype="uint8")
    np.testing.assert_array_equal(out, img)
    out[0, 0] = 1  # writable, not aliasing the message
    bgra = np.concatenate([img, np.full((48, 64, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(decode_image(bgra.tobytes(), "raw", shape=[48, 64, 4], dtype="uint8"), img)
    grey = img[:, :, 0].copy()
    out = decode_image(grey.tobytes(), "raw", shape=[48, 64], dtype="uint8")
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": b"", "encoding": "png"}, "empty png"),
        ({"data": b"GIF89a....", "encoding": "gif"}, r"one of \['jpeg', 'png', 'raw'\]"),
        ({"data": b"\xff\xd8\xff\xe0garbage", "encoding": "png"}, "does not start with the PNG signature"),
        ({"data": b"\x89PNG\r\n\x1a\n", "encoding": "jpeg"}, "does not start with the JPEG SOI"),
        ({"data": b"\x89PNG\r\n\x1a\n\x00", "encoding": "png"}, "truncated PNG"),
        ({"data": b"\x00" * 10, "encoding": "raw", "shape": [2, 2, 3], "dtype": "uint8"},
         "needs 12 bytes, payload has 10"),
        ({"data": b"\x00" * 12, "encoding": "raw", "shape": [2, 2, 3], "dtype": "float32"}, "must have dtype 'uint8'"),
        ({"data": b"\x00" * 12, "encoding": "raw", "shape": [2, 6], "dtype": None}, "need 'shape'"),
        ({"data": b"\x00" * 12, "encoding": "raw", "shape": [1, 2, 6], "dtype": "uint8"}, "raw image shape must be"),
    ],
)
def test_bad_payloads(kwargs: dict, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match):
        decode_image(**kwargs)


def test_corrupt_jpeg_body() -> None:
    data = bytearray(_encode(_test_image(), ".jpg"))
    sof = data.index(b"\xff\xc0")
    broken = bytes(data[: sof + 20])  # header intact, no scan data
    with pytest.raises(ImageDecodeError, match="could not decode the jpeg payload"):
        decode_image(broken, "jpeg")


def test_oversized_images_are_refused_before_decoding() -> None:
    data = _encode(_test_image(), ".png")
    with pytest.raises(ImageTooLargeError, match=r"64x48 = 3072 pixels, above the limit of 1000"):
        decode_image(data, "png", max_pixels=1000)
    # A forged header claiming 100000 x 100000 is refused from the header alone.
    forged = data[:16] + (100000).to_bytes(4, "big") * 2 + data[24:]
    with pytest.raises(ImageTooLargeError, match="100000x100000"):
        decode_image(forged, "png")
    with pytest.raises(ImageTooLargeError):
        decode_image(b"\x00" * 12, "raw", shape=[20000, 20000, 3], dtype="uint8")


def test_exif_orientation_is_applied_like_cv2_imread() -> None:
    import struct

    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :10] = 255  # a white band on the left
    jpeg = _encode(img, ".jpg")
    # Minimal EXIF APP1: one IFD entry, Orientation (0x0112) = 6, "rotate 90 degrees clockwise to view".
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    portrait = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    out = decode_image(portrait, "jpeg")
    assert out.shape == (64, 48, 3), f"EXIF orientation 6 should give a 48x64 (WxH) upright image, got {out.shape}"
    assert out[:10, :, 0].mean() > 200 and out[-10:, :, 0].mean() < 50, "the left band ends up at the top"

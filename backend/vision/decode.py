"""Decoding the image payload of a ``reconstruct`` / ``video_frame`` message into a BGR uint8 array.

JPEG and PNG sizes are read from the file header *before* decoding, so an oversized image (a decompression
bomb) is refused without allocating it. JPEGs are turned upright by their EXIF orientation, as ``cv2.imread`` does
in the official demo. ``raw`` payloads are C-ordered uint8 pixels in BGR order, (H, W, 3);
(H, W) grey and (H, W, 4) BGRA are converted.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

__all__ = [
    "ImageDecodeError",
    "ImageTooLargeError",
    "decode_image",
    "image_size_from_header",
    "IMAGE_ENCODINGS",
    "DEFAULT_MAX_IMAGE_PIXELS",
]

IMAGE_ENCODINGS = ("jpeg", "png", "raw")
DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192  # 64 Mpx: above any camera a mocap user feeds in; 192 MB as BGR

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8"
# JPEG start-of-frame markers that carry the image size (all SOFn except DHT C4, JPG C8, DAC CC).
_JPEG_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageDecodeError(ValueError):
    """The payload is not a decodable image of the declared encoding, shape or dtype."""


class ImageTooLargeError(ImageDecodeError):
    """The image has more pixels than allowed."""


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise ImageDecodeError(f"corrupt JPEG: expected a marker at byte {pos}, found 0x{data[pos]:02x}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: the frame header must have come before
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF_MARKERS:
            if pos + 9 > n:
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if length < 2:
            raise ImageDecodeError(f"corrupt JPEG: segment 0x{marker:02x} at byte {pos} has length {length}")
        pos += 2 + length
    raise ImageDecodeError("corrupt or truncated JPEG: no start-of-frame header with the image size")


def image_size_from_header(data: bytes, encoding: str) -> tuple[int, int]:
    """(W, H) of a JPEG or PNG from its header, without decoding pixels.

    Raises:
        ImageDecodeError: the bytes do not start like the declared encoding or the header is truncated.
    """
    if encoding == "png":
        if not data.startswith(_PNG_SIGNATURE):
            raise ImageDecodeError(f"payload declared png does not start with the PNG signature (starts {data[:8]!r})")
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageDecodeError("truncated PNG: no IHDR header")
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if encoding == "jpeg":
        if not data.startswith(_JPEG_SIGNATURE):
            raise ImageDecodeError(
                f"payload declared jpeg does not start with the JPEG SOI marker (starts {data[:4]!r})"
            )
        return _jpeg_size(data)
    raise ImageDecodeError(f"image_size_from_header supports 'jpeg' and 'png', got {encoding!r}")


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"image has an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels, above the limit of {max_pixels}; downscale it "
            "before sending (the model sees a 256x256 crop per person)"
        )


def _decode_raw(
    data: bytes | memoryview, shape: tuple[int, ...] | list[int] | None, dtype: str | None, max_pixels: int
) -> np.ndarray:
    if shape is None or dtype is None:
        raise ImageDecodeError("raw images need 'shape' ([H, W, 3] BGR) and 'dtype' ('uint8') in the header")
    if dtype not in ("uint8", "u1", "|u1"):
        raise ImageDecodeError(f"raw images must have dtype 'uint8', got {dtype!r}")
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
        raise ImageDecodeError(
            f"raw image shape must be [H, W], [H, W, 3] (BGR) or [H, W, 4] (BGRA), got {list(shape)}"
        )
    _check_pixels(shape[1], shape[0], max_pixels)
    expected = int(np.prod(shape))
    if len(data) != expected:
        raise ImageDecodeError(
            f"raw image of shape {list(shape)} uint8 needs {expected} bytes, payload has {len(data)}"
        )
    image = np.frombuffer(data, dtype=np.uint8).reshape(shape)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(shape[0], shape[1]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image.copy()  # frombuffer is read-only and aliases the message buffer


def decode_image(
    data: bytes | bytearray | memoryview,
    encoding: str,
    shape: tuple[int, ...] | list[int] | None = None,
    dtype: str | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decodes an image payload.

    Args:
        data: the payload bytes.
        encoding: "jpeg", "png" or "raw".
        shape: for raw only: [H, W, 3] (BGR), [H, W, 4] (BGRA) or [H, W] (grey).
        dtype: for raw only: "uint8".
        max_pixels: largest W*H accepted.

    Returns:
        (H, W, 3) uint8 BGR image, writable.

    Raises:
        ImageDecodeError: unknown encoding, empty or undecodable payload, wrong raw shape/dtype/size.
        ImageTooLargeError: more than ``max_pixels`` pixels.
    """
    if encoding not in IMAGE_ENCODINGS:
        raise ImageDecodeError(f"image encoding must be one of {list(IMAGE_ENCODINGS)}, got {encoding!r}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageDecodeError(f"image payload must be bytes, got {type(data).__name__}")
    buf = bytes(data) if isinstance(data, memoryview) and encoding != "raw" else data
    if len(buf) == 0:
        raise ImageDecodeError(f"empty {encoding} image payload")
    if encoding == "raw":
        return _decode_raw(buf, shape, dtype, max_pixels)
    if shape is not None or dtype is not None:
        raise ImageDecodeError(f"'shape' and 'dtype' apply to raw images only, not {encoding}")
    width, height = image_size_from_header(bytes(buf), encoding)
    _check_pixels(width, height, max_pixels)
    image = cv2.imdecode(np.frombuffer(buf, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(
            f"could not decode the {encoding} payload ({len(buf)} bytes); it is corrupt or truncated"
        )
    # cv2 applies the EXIF orientation, as cv2.imread in the official demo does: phone photos in portrait decode
    # with width and height swapped relative to the frame header.
    if image.shape[:2] not in ((height, width), (width, height)):
        raise ImageDecodeError(
            f"{encoding} header says {width}x{height} but decoding gave {image.shape[1]}x{image.shape[0]}"
        )
    return image

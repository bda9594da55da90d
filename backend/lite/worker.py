"""The lite engine's MediaPipe worker: a separate process run by ``.venv-lite``'s Python.

mediapipe 0.10.21 (the last release whose wheel ships the BlazePose detector and the full landmark model) pins
numpy<2 and protobuf<5, so it lives in its own venv and its own process and never constrains the main
environment. The main process starts this file *by path* with ``python -I`` (isolated mode: neither the
project nor the script's folder is on ``sys.path``), so it imports only the standard library, numpy and
mediapipe, never the ``backend`` package (which would pull in torch).

Pipe protocol (stdin requests, stdout replies, one reply per request, in order). Every message is

    4-byte big-endian header length | UTF-8 JSON header | raw array payloads

where the header's ``"arrays"`` lists ``{"name", "dtype", "shape"}`` for each payload in order, each payload
being the C-contiguous bytes of that array (the same JSON-then-raw-buffer idea as pyzmq's ``send_array``; no
pickle). Pipes rather than a ZeroMQ pair: the worker is a private child of one engine, and a pipe needs no
port, dies with its parent and works in ``.venv-lite`` without pyzmq.

Requests (``"type"``):
- ``pose`` + ``image`` (H, W, 3) uint8 RGB, optional header ``boxes`` [[x1, y1, x2, y2], ...] in pixels: one
  person per box (the box grown by ``BOX_MARGIN`` and cropped), or one person in the whole image when absent.
- ``quit``: the worker replies ``bye`` and exits.

Replies: ``ready`` (sent once at start: mediapipe version), ``poses`` with header ``people`` (one entry per box or
one for the image: ``{"found": bool, "region": [x1, y1, x2, y2]}``, the pixels MediaPipe saw) and, for the
people found, the arrays ``world_<i>`` (33, 3) float32 metres (MediaPipe world landmarks: origin between the
hips, x right / y down / z away from the camera, i.e. axis-aligned with the OpenCV camera), ``image_<i>``
(33, 2) float32 full-image pixels and ``visibility_<i>`` (33,) float32; ``error`` with ``message`` for a bad
request (the worker keeps running).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import BinaryIO

import numpy as np

__all__ = ["read_message", "write_message", "BOX_MARGIN", "NUM_LANDMARKS"]

NUM_LANDMARKS = 33
BOX_MARGIN = 0.25  # a detector box is grown by this fraction of its size per side so the limbs fit the crop
MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 1 << 28  # 256 MiB: a 8k RGB frame is 100 MiB
_ALLOWED_DTYPES = ("uint8", "float32", "float64", "int32", "int64")


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("lite worker pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_message(stream: BinaryIO, header: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write one framed message: header (its ``arrays`` entry is filled in here) then the raw arrays."""
    arrays = arrays or {}
    header = dict(header)
    header["arrays"] = [
        {"name": name, "dtype": str(arr.dtype), "shape": list(arr.shape)} for name, arr in arrays.items()
    ]
    raw = json.dumps(header).encode("utf-8")
    stream.write(struct.pack(">I", len(raw)))
    stream.write(raw)
    for arr in arrays.values():
        stream.write(np.ascontiguousarray(arr).tobytes())
    stream.flush()


def read_message(stream: BinaryIO) -> tuple[dict, dict[str, np.ndarray]]:
    """Read one framed message; raises ``EOFError`` when the pipe closed and ``ValueError`` on a bad frame."""
    (size,) = struct.unpack(">I", _read_exact(stream, 4))
    if size > MAX_HEADER_BYTES:
        raise ValueError(f"lite pipe: header of {size} bytes exceeds the {MAX_HEADER_BYTES}-byte limit")
    header = json.loads(_read_exact(stream, size).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"lite pipe: header must be a JSON object, got {type(header).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for spec in header.get("arrays", []):
        dtype, shape = str(spec["dtype"]), tuple(int(v) for v in spec["shape"])
        if dtype not in _ALLOWED_DTYPES:
            raise ValueError(f"lite pipe: array {spec['name']!r} has dtype {dtype}; allowed: {_ALLOWED_DTYPES}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if nbytes > MAX_PAYLOAD_BYTES:
            raise ValueError(f"lite pipe: array {spec['name']!r} of {nbytes} bytes exceeds the payload limit")
        arrays[str(spec["name"])] = np.frombuffer(_read_exact(stream, nbytes), dtype=dtype).reshape(shape)
    return header, arrays


def _grow_box(box: list[float], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"box {box} is degenerate: expected x2 > x1 and y2 > y1")
    mx, my = BOX_MARGIN * (x2 - x1), BOX_MARGIN * (y2 - y1)
    ix1, iy1 = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    ix2, iy2 = min(width, int(np.ceil(x2 + mx))), min(height, int(np.ceil(y2 + my)))
    if ix2 - ix1 < 2 or iy2 - iy1 < 2:
        raise ValueError(f"box {box} lies outside the {width}x{height} image")
    return ix1, iy1, ix2, iy2


def _run_pose(pose, image_rgb: np.ndarray, boxes: list | None) -> tuple[dict, dict[str, np.ndarray]]:
    height, width = image_rgb.shape[:2]
    regions = [(0, 0, width, height)] if boxes is None else [_grow_box(b, width, height) for b in boxes]
    people, arrays = [], {}
    for i, (x1, y1, x2, y2) in enumerate(regions):
        crop = np.ascontiguousarray(image_rgb[y1:y2, x1:x2])
        result = pose.process(crop)
        found = result.pose_landmarks is not None and result.pose_world_landmarks is not None
        people.append({"found": found, "region": [x1, y1, x2, y2]})
        if not found:
            continue
        lm = result.pose_landmarks.landmark
        world = result.pose_world_landmarks.landmark
        arrays[f"world_{i}"] = np.array([[p.x, p.y, p.z] for p in world], dtype=np.float32)
        arrays[f"image_{i}"] = np.array(
            [[x1 + p.x * (x2 - x1), y1 + p.y * (y2 - y1)] for p in lm], dtype=np.float32
        )
        arrays[f"visibility_{i}"] = np.array([p.visibility for p in lm], dtype=np.float32)
    return {"type": "poses", "people": people}, arrays


def main() -> int:
    # Keep the protocol stream private: anything native code prints to fd 1 goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    try:
        import mediapipe as mp
    except ImportError as e:
        write_message(out, {"type": "error", "fatal": True, "message": f"cannot import mediapipe: {e}"})
        return 3
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        write_message(out, {"type": "ready", "mediapipe": mp.__version__, "numpy": np.__version__})
        while True:
            try:
                header, arrays = read_message(inp)
            except EOFError:
                return 0
            kind, req_id = header.get("type"), header.get("id")
            if kind == "quit":
                write_message(out, {"type": "bye", "id": req_id})
                return 0
            try:
                if kind != "pose":
                    raise ValueError(f"unknown request type {kind!r}; expected 'pose' or 'quit'")
                image = arrays.get("image")
                if image is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                    found = None if image is None else f"{image.dtype} {image.shape}"
                    raise ValueError(f"'pose' needs an 'image' array (H, W, 3) uint8 RGB; got {found}")
                reply, out_arrays = _run_pose(pose, image, header.get("boxes"))
            except (ValueError, KeyError, TypeError) as e:
                write_message(out, {"type": "error", "id": req_id, "message": str(e)})
                continue
            reply["id"] = req_id
            write_message(out, reply, out_arrays)


if __name__ == "__main__":
    sys.exit(main())

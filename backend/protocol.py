"""TokenMocap wire protocol v1: the single definition shared by the backend, the Python client and the add-on.

Imports only the standard library and numpy, and no other project module: the Blender add-on ships this very file
(``blender_addon/bridge/protocol.py`` is a symlink to it). ``docs/protocol.md`` documents the schema in prose.

Every message is multipart. Frame 0 is a UTF-8 JSON object (the header) with ``v`` (protocol version), ``type`` and
``id`` (the client's request id, echoed in every reply). Later frames are binary payloads the header refers to by
index: an image (``image.frame``) or arrays described by dtype and shape (``arrays.<name>``). Nothing on the wire is
pickled. The server's ROUTER socket prepends the client's identity; clients use DEALER sockets and send no empty
delimiter frame.

All sizes are bytes, all times are milliseconds (``*_ms``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "PROTOCOL_VERSION", "DEFAULT_ADDRESS", "MessageType", "REQUEST_TYPES", "REPLY_TYPES", "ErrorCode",
    "ERROR_CODES", "Limits", "DEFAULT_LIMITS", "REPLY_LIMITS", "ProtocolError", "Message",
    "HELLO_TIMEOUT_MS", "PING_TIMEOUT_MS", "REQUEST_TIMEOUT_MS", "BODY_MODEL_TIMEOUT_MS", "REQUEST_RETRIES",
    "HEARTBEAT_INTERVAL_MS", "HEARTBEAT_LIVENESS", "HEARTBEAT_TIMEOUT_MS", "SHUTDOWN_GRACE_MS",
    "RECONNECT_IVL_MS", "RECONNECT_IVL_MAX_MS",
    "IMAGE_ENCODINGS", "WIRE_DTYPES", "make_header", "encode", "decode", "parse_header", "error_header",
    "encode_arrays", "decode_arrays", "validate_request", "is_loopback_address",
]

PROTOCOL_VERSION = 1
DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"


class MessageType:
    """Values of the header's ``type`` field."""

    # requests (client -> server)
    HELLO = "hello"  # also the reply type
    PING = "ping"
    BODY_MODEL = "body_model"  # also the reply type
    RECONSTRUCT = "reconstruct"
    VIDEO_START = "video_start"
    VIDEO_FRAME = "video_frame"
    VIDEO_END = "video_end"
    CANCEL = "cancel"
    # replies (server -> client)
    PONG = "pong"
    RESULT = "result"
    VIDEO_STARTED = "video_started"
    FRAME_RESULT = "frame_result"
    VIDEO_DONE = "video_done"
    CANCELLED = "cancelled"
    ERROR = "error"


REQUEST_TYPES: frozenset[str] = frozenset({
    MessageType.HELLO, MessageType.PING, MessageType.BODY_MODEL, MessageType.RECONSTRUCT, MessageType.VIDEO_START,
    MessageType.VIDEO_FRAME, MessageType.VIDEO_END, MessageType.CANCEL,
})
REPLY_TYPES: frozenset[str] = frozenset({
    MessageType.HELLO, MessageType.PONG, MessageType.BODY_MODEL, MessageType.RESULT, MessageType.VIDEO_STARTED,
    MessageType.FRAME_RESULT, MessageType.VIDEO_DONE, MessageType.CANCELLED, MessageType.ERROR,
})


class ErrorCode:
    """Stable values of an ``error`` reply's ``code`` field. Clients branch on these, never on the message text."""

    MALFORMED = "malformed"  # frame 0 is not a UTF-8 JSON object
    BAD_VERSION = "bad_version"  # "v" missing or not PROTOCOL_VERSION
    BAD_HEADER = "bad_header"  # "type" or "id" missing or invalid
    UNKNOWN_TYPE = "unknown_type"  # "type" is not a request type
    BAD_FIELD = "bad_field"  # a type-specific field is missing, of the wrong type or out of range
    MISSING_PAYLOAD = "missing_payload"  # the header refers to a frame that is not there
    UNEXPECTED_PAYLOAD = "unexpected_payload"  # more frames than the header refers to
    TOO_LARGE = "too_large"  # a frame or the image exceeds Limits
    BAD_IMAGE = "bad_image"  # the image payload does not decode
    NO_MODEL = "no_model"  # the requested engine (or any engine) is not installed
    UNKNOWN_SESSION = "unknown_session"  # video message for a session this server does not hold
    UNSUPPORTED = "unsupported"  # a valid request this server cannot serve (e.g. video without backend.video)
    CANCELLED = "cancelled"  # the request was cancelled by the client before it finished
    SHUTTING_DOWN = "shutting_down"  # the server stopped before the request finished
    INTERNAL = "internal"  # a bug or an engine failure; the server logs the traceback


ERROR_CODES: frozenset[str] = frozenset(
    value for key, value in vars(ErrorCode).items() if key.isupper() and isinstance(value, str)
)

# Client timeouts and retries (Lazy Pirate: poll with a timeout, retry, then reconnect with a fresh socket).
HELLO_TIMEOUT_MS = 3_000
PING_TIMEOUT_MS = 2_000
BODY_MODEL_TIMEOUT_MS = 30_000
REQUEST_TIMEOUT_MS = 60_000  # reconstruct: the first request may load the model
REQUEST_RETRIES = 3
# Liveness. ZeroMQ's own ZMTP heartbeats (HEARTBEAT_IVL/TIMEOUT on both sockets) detect dead peers at the
# transport level; `ping`/`pong` lets an application check that the server loop itself still answers.
HEARTBEAT_INTERVAL_MS = 2_000
HEARTBEAT_LIVENESS = 3  # missed heartbeats before a peer is considered dead
HEARTBEAT_TIMEOUT_MS = HEARTBEAT_INTERVAL_MS * HEARTBEAT_LIVENESS
SHUTDOWN_GRACE_MS = 5_000  # how long the server lets running batches finish before failing them
RECONNECT_IVL_MS = 100
RECONNECT_IVL_MAX_MS = 2_000

IMAGE_ENCODINGS: frozenset[str] = frozenset({"jpeg", "png", "raw"})
# dtypes allowed in array frames: little-endian (or byte-order free) plain numbers only, never objects.
WIRE_DTYPES: frozenset[str] = frozenset({"|u1", "|i1", "|b1", "<u2", "<i2", "<u4", "<i4", "<i8", "<u8", "<f2",
                                         "<f4", "<f8"})
MAX_ARRAY_NDIM = 4


@dataclass(frozen=True)
class Limits:
    """Size limits every request is checked against (sent to clients in the ``hello`` reply)."""

    max_header_bytes: int = 64 * 1024  # frame 0
    max_frames: int = 8  # frames after the header
    max_payload_bytes: int = 64 * 1024 * 1024  # any single payload frame (a 8K PNG fits)
    max_image_pixels: int = 8192 * 8192  # width x height; JPEG/PNG sizes are read from the file header first
    max_boxes: int = 64  # person boxes in one request
    max_id_chars: int = 128  # request id length
    max_betas: int = 300  # betas in a body_model request (SMPL has 10; larger models up to 300)

    def to_json(self) -> dict:
        return asdict(self)


DEFAULT_LIMITS = Limits()
# What a client accepts from its server. A reply header carries every person's result as JSON (~4 KB each, and
# detection finds any number of people), so it may be far larger than a request header; the server is the one
# the client chose (authenticated under CURVE), and a reply frame is still bounded.
REPLY_LIMITS = Limits(max_header_bytes=16 * 1024 * 1024)


class ProtocolError(ValueError):
    """Invalid input on the wire; becomes an ``error`` reply with ``code`` (one of ErrorCode)."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass
class Message:
    """A decoded message: the header dict and the payload frames (bytes-like, frame i of the header is
    ``payloads[i - 1]``)."""

    header: dict
    payloads: list = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.header["type"]

    @property
    def id(self) -> str | None:
        return self.header.get("id")


def make_header(msg_type: str, request_id: str | None, **fields: Any) -> dict:
    """A header dict with ``v``, ``type`` and ``id`` first, then ``fields``."""
    header = {"v": PROTOCOL_VERSION, "type": msg_type, "id": request_id}
    header.update(fields)
    return header


def error_header(request_id: str | None, code: str, message: str) -> dict:
    """The header of an ``error`` reply."""
    if code not in ERROR_CODES:
        raise ValueError(f"unknown error code {code!r}; expected one of {sorted(ERROR_CODES)}")
    return make_header(MessageType.ERROR, request_id, code=code, message=message)


def encode(header: Mapping[str, Any], payloads: Iterable[Any] = ()) -> list:
    """Frames to pass to ``socket.send_multipart``: the JSON header, then the payloads unchanged (bytes,
    memoryview or C-contiguous numpy arrays, sent without a copy). NaN/inf in the header raise ValueError."""
    frames: list = [json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")]
    frames.extend(payloads)
    return frames


def decode(frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS) -> Message:
    """Parse a received multipart message (no envelope) into a Message; raises ProtocolError."""
    if not frames:
        raise ProtocolError(ErrorCode.MALFORMED, "empty message: expected a JSON header frame")
    header = parse_header(frames[0], limits)
    payloads = list(frames[1:])
    if len(payloads) > limits.max_frames:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{len(payloads)} payload frames; at most {limits.max_frames} are allowed",
            _safe_id(header.get("id"), limits),
        )
    for i, frame in enumerate(payloads, start=1):
        if _nbytes(frame) > limits.max_payload_bytes:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"frame {i} has {_nbytes(frame)} bytes; at most {limits.max_payload_bytes} are allowed. "
                "Send a JPEG instead of a raw image, or downscale it.",
                _safe_id(header.get("id"), limits),
            )
    return Message(header=header, payloads=payloads)


def parse_header(frame: Any, limits: Limits = DEFAULT_LIMITS) -> dict:
    """Frame 0 to a header dict with valid ``v``, ``type`` (any string) and ``id``; raises ProtocolError."""
    raw = bytes(frame) if not isinstance(frame, bytes) else frame
    if len(raw) > limits.max_header_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"header frame has {len(raw)} bytes; at most {limits.max_header_bytes} are allowed. "
            "Send arrays as binary frames, not JSON.",
        )
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ProtocolError(ErrorCode.MALFORMED, f"frame 0 is not UTF-8 JSON: {e}") from e
    if not isinstance(header, dict):
        raise ProtocolError(
            ErrorCode.MALFORMED, f"frame 0 must be a JSON object, got {type(header).__name__}")
    request_id = _safe_id(header.get("id"), limits)
    version = header.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.BAD_VERSION,
            f"protocol version must be {PROTOCOL_VERSION}; got {version!r}. Update the client or the server so "
            "both speak the same version.",
            request_id,
        )
    # an `error` reply to a request whose id was unreadable carries "id": null
    if request_id is None and not (header.get("type") == MessageType.ERROR and header.get("id") is None):
        raise ProtocolError(
            ErrorCode.BAD_HEADER,
            f"'id' must be a non-empty string of at most {limits.max_id_chars} characters; "
            f"got {_short_repr(header.get('id'))}",
        )
    msg_type = header.get("type")
    if not isinstance(msg_type, str) or not msg_type:
        raise ProtocolError(
            ErrorCode.BAD_HEADER, f"'type' must be a non-empty string; got {_short_repr(msg_type)}", request_id)
    return header


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _safe_id(value: Any, limits: Limits) -> str | None:
    """The request id if it is echoable (a short non-empty string), else None."""
    if isinstance(value, str) and 0 < len(value) <= limits.max_id_chars:
        return value
    return None


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _nbytes(frame: Any) -> int:
    if isinstance(frame, (bytes, bytearray)):
        return len(frame)
    if isinstance(frame, np.ndarray):
        return int(frame.nbytes)
    return memoryview(frame).nbytes


# ------------------------------------------------------------------------------------------------------- arrays

def encode_arrays(arrays: Mapping[str, np.ndarray], first_frame: int = 1) -> tuple[dict, list]:
    """Describe arrays for a header and list their frames.

    Args:
        arrays: name -> array; each is sent little-endian and C-contiguous with a dtype from WIRE_DTYPES.
        first_frame: frame index of the first array (1 when nothing else precedes them).
    Returns:
        (descriptors {name: {"dtype", "shape", "frame"}}, frames) to put under the header's ``arrays`` key
        and after the header.
    """
    descriptors: dict = {}
    frames: list = []
    for offset, (name, array) in enumerate(arrays.items()):
        arr = np.asarray(array)
        arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
        dtype = arr.dtype.str
        if dtype not in WIRE_DTYPES:
            raise TypeError(f"array {name!r}: dtype {arr.dtype} cannot be sent; allowed: {sorted(WIRE_DTYPES)}")
        descriptors[name] = {"dtype": dtype, "shape": list(arr.shape), "frame": first_frame + offset}
        frames.append(arr)
    return descriptors, frames


def decode_arrays(descriptors: Any, payloads: Sequence[Any], request_id: str | None = None) -> dict:
    """Inverse of :func:`encode_arrays` (payload ``i`` is frame ``i + 1``); read-only views, no copy.

    Raises ProtocolError naming the array for an unknown dtype, a bad shape or a size mismatch.
    """
    if not isinstance(descriptors, dict):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'arrays' must be an object of array descriptors", request_id)
    out = {}
    for name, desc in descriptors.items():
        if not isinstance(desc, dict):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"arrays.{name} must be an object", request_id)
        dtype = desc.get("dtype")
        if dtype not in WIRE_DTYPES:
            raise ProtocolError(ErrorCode.BAD_FIELD,
                                f"arrays.{name}.dtype must be one of {sorted(WIRE_DTYPES)}; got {_short_repr(dtype)}",
                                request_id)
        shape = _parse_shape(desc.get("shape"), f"arrays.{name}.shape", request_id)
        frame = _frame_index(desc.get("frame"), len(payloads), f"arrays.{name}.frame", request_id)
        data = payloads[frame - 1]
        expected = math.prod(shape) * np.dtype(dtype).itemsize
        if _nbytes(data) != expected:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"arrays.{name}: dtype {dtype} shape {shape} needs {expected} bytes; frame {frame} has "
                f"{_nbytes(data)}", request_id)
        out[name] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    return out


def _parse_shape(value: Any, what: str, request_id: str | None, max_ndim: int = MAX_ARRAY_NDIM) -> tuple:
    if (not isinstance(value, list) or not 0 < len(value) <= max_ndim
            or not all(type(s) is int and 0 <= s <= 1 << 31 for s in value)):
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"{what} must be a list of 1..{max_ndim} non-negative ints; got {_short_repr(value)}", request_id)
    return tuple(value)


def _frame_index(value: Any, n_payloads: int, what: str, request_id: str | None) -> int:
    if type(value) is not int or value < 1:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{what} must be a frame index >= 1; got {_short_repr(value)}",
                            request_id)
    if value > n_payloads:
        raise ProtocolError(ErrorCode.MISSING_PAYLOAD,
                            f"{what} refers to frame {value} but the message has {n_payloads} payload frame(s)",
                            request_id)
    return value


# ---------------------------------------------------------------------------------------------- requests

def validate_request(message: Message, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check a request's type-specific fields and payload frames; raises ProtocolError with the field named.

    Fields (see docs/protocol.md): ``hello`` {client?}; ``ping``; ``body_model`` {betas?};
    ``reconstruct`` {image, boxes?, engine?, detector?}; ``video_start`` {fps, options?};
    ``video_frame`` {session, index, image}; ``video_end`` {session}; ``cancel`` {target}.
    """
    header = message.header
    rid = header.get("id")
    msg_type = header["type"]
    if msg_type not in REQUEST_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE,
                            f"unknown request type {_short_repr(msg_type)}; expected one of {sorted(REQUEST_TYPES)}",
                            rid)
    used_frames = 0
    if msg_type == MessageType.BODY_MODEL:
        if "betas" in header and header["betas"] is not None:
            _float_list(header["betas"], "betas", rid, max_len=limits.max_betas)
    elif msg_type in (MessageType.RECONSTRUCT, MessageType.VIDEO_FRAME):
        used_frames = _validate_image_spec(header.get("image"), len(message.payloads), rid, limits)
        if msg_type == MessageType.RECONSTRUCT:
            if header.get("boxes") is not None:
                _validate_boxes(header["boxes"], rid, limits)
            for key in ("engine", "detector"):
                if key in header and header[key] is not None and not _is_name(header[key]):
                    raise ProtocolError(ErrorCode.BAD_FIELD, f"'{key}' must be a short name string; got "
                                        f"{_short_repr(header[key])}", rid)
        else:
            _require_name(header, "session", rid)
            index = header.get("index")
            if type(index) is not int or index < 0:
                raise ProtocolError(ErrorCode.BAD_FIELD,
                                    f"'index' must be an int >= 0; got {_short_repr(index)}", rid)
    elif msg_type == MessageType.VIDEO_START:
        fps = header.get("fps")
        if not _is_number(fps) or not 0 < fps <= 1000:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'fps' must be a number in (0, 1000]; got {_short_repr(fps)}",
                                rid)
        if header.get("options") is not None and not isinstance(header["options"], dict):
            raise ProtocolError(ErrorCode.BAD_FIELD, "'options' must be an object", rid)
    elif msg_type == MessageType.VIDEO_END:
        _require_name(header, "session", rid)
    elif msg_type == MessageType.CANCEL:
        target = header.get("target")
        if _safe_id(target, limits) is None:
            raise ProtocolError(ErrorCode.BAD_FIELD,
                                f"'target' must be the id of a pending request; got {_short_repr(target)}", rid)
    if len(message.payloads) > used_frames:
        raise ProtocolError(
            ErrorCode.UNEXPECTED_PAYLOAD,
            f"{msg_type} uses {used_frames} payload frame(s) but {len(message.payloads)} were sent", rid)


def _validate_image_spec(spec: Any, n_payloads: int, rid: str | None, limits: Limits) -> int:
    if not isinstance(spec, dict):
        raise ProtocolError(ErrorCode.BAD_FIELD,
                            "'image' must be an object {encoding: jpeg|png|raw, frame: 1, shape?, dtype?}", rid)
    encoding = spec.get("encoding")
    if encoding not in IMAGE_ENCODINGS:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"image.encoding must be one of {sorted(IMAGE_ENCODINGS)}; "
                            f"got {_short_repr(encoding)}", rid)
    frame = _frame_index(spec.get("frame", 1), n_payloads, "image.frame", rid)
    if frame != 1:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"image.frame must be 1; got {frame}", rid)
    if encoding == "raw":
        shape = _parse_shape(spec.get("shape"), "image.shape", rid, max_ndim=3)
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
            raise ProtocolError(ErrorCode.BAD_FIELD, "image.shape must be [H, W] (grey), [H, W, 3] (BGR) or "
                                f"[H, W, 4] (BGRA); got {list(shape)}", rid)
        _check_image_size(shape[1], shape[0], rid, limits)
        if spec.get("dtype", "uint8") != "uint8":
            raise ProtocolError(ErrorCode.BAD_FIELD,
                                f"image.dtype must be 'uint8' for raw images; got {_short_repr(spec.get('dtype'))}",
                                rid)
    return 1


def _check_image_size(width: int, height: int, rid: str | None, limits: Limits) -> None:
    if width < 1 or height < 1:
        raise ProtocolError(ErrorCode.BAD_IMAGE, f"image is {width}x{height}; it must not be empty", rid)
    if width * height > limits.max_image_pixels:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"image is {width}x{height}; the limit is {limits.max_image_pixels} pixels. Downscale it before "
            "sending (the model sees a 256x256 crop per person).", rid)


def _validate_boxes(boxes: Any, rid: str | None, limits: Limits) -> None:
    if not isinstance(boxes, list) or len(boxes) > limits.max_boxes:
        raise ProtocolError(ErrorCode.BAD_FIELD,
                            f"'boxes' must be a list of at most {limits.max_boxes} [x1, y1, x2, y2] boxes", rid)
    for i, box in enumerate(boxes):
        values = _float_list(box, f"boxes[{i}]", rid, max_len=4)
        if len(values) != 4 or not (values[2] > values[0] and values[3] > values[1]):
            raise ProtocolError(ErrorCode.BAD_FIELD,
                                f"boxes[{i}] must be [x1, y1, x2, y2] in pixels with x2 > x1 and y2 > y1; "
                                f"got {_short_repr(box)}", rid)


def _float_list(value: Any, what: str, rid: str | None, max_len: int) -> list:
    if not isinstance(value, list) or len(value) > max_len or not all(_is_number(v) for v in value):
        raise ProtocolError(ErrorCode.BAD_FIELD,
                            f"'{what}' must be a list of at most {max_len} finite numbers; got {_short_repr(value)}",
                            rid)
    return value


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64


def _require_name(header: dict, key: str, rid: str | None) -> None:
    if not _is_name(header.get(key)):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{key}' must be a non-empty string of at most 64 characters; "
                            f"got {_short_repr(header.get(key))}", rid)


def is_loopback_address(address: str) -> bool:
    """True for ``tcp://127.x.x.x:PORT``, ``tcp://localhost:PORT``, ``tcp://[::1]:PORT``, ``ipc://`` and
    ``inproc://`` endpoints: addresses no other machine can reach."""
    if address.startswith(("ipc://", "inproc://")):
        return True
    if not address.startswith("tcp://"):
        return False
    host = address[len("tcp://"):].rsplit(":", 1)[0]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host == "localhost" or host == "::1" or host.startswith("127.")


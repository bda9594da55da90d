"""backend.protocol: encoding, validation and error codes, and its import discipline (stdlib + numpy only)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from backend import protocol
from backend.protocol import ErrorCode, ProtocolError


def _frames(header: dict, *payloads) -> list:
    return [json.dumps(header).encode(), *payloads]


def _error_code(frames: list, limits=protocol.DEFAULT_LIMITS) -> str | None:
    try:
        message = protocol.decode(frames, limits)
        protocol.validate_request(message, limits)
    except ProtocolError as e:
        return e.code
    return None


def test_encode_decode_round_trip_with_arrays():
    arrays = {"vertices": np.arange(12, dtype=np.float32).reshape(4, 3), "faces": np.array([[0, 1, 2]], np.int32),
              "big_endian": np.arange(3, dtype=">f8")}
    descriptors, payloads = protocol.encode_arrays(arrays)
    header = protocol.make_header("body_model", "r1", arrays=descriptors)
    frames = [bytes(f) for f in protocol.encode(header, payloads)]
    message = protocol.decode(frames)
    assert message.header == json.loads(frames[0]), message.header
    decoded = protocol.decode_arrays(message.header["arrays"], message.payloads)
    for name, arr in arrays.items():
        np.testing.assert_array_equal(decoded[name], arr, err_msg=name)
    assert decoded["big_endian"].dtype == np.dtype("<f8"), decoded["big_endian"].dtype


def test_object_arrays_cannot_be_encoded():
    with pytest.raises(TypeError, match="cannot be sent"):
        protocol.encode_arrays({"x": np.array([object()])})


def test_nan_in_header_is_refused():
    with pytest.raises(ValueError):
        protocol.encode({"v": 1, "type": "ping", "id": "a", "x": float("nan")})


@pytest.mark.parametrize("frames, code", [
    ([b"\xff\xfe"], ErrorCode.MALFORMED),
    ([b"[1, 2]"], ErrorCode.MALFORMED),
    ([b'{"v": 1, "type": "ping", "id": "a", "x": NaN}'], ErrorCode.MALFORMED),
    ([b'{"type": "ping", "id": "a"}'], ErrorCode.BAD_VERSION),
    ([b'{"v": 2, "type": "ping", "id": "a"}'], ErrorCode.BAD_VERSION),
    ([b'{"v": true, "type": "ping", "id": "a"}'], ErrorCode.BAD_VERSION),
    ([b'{"v": 1, "type": "ping"}'], ErrorCode.BAD_HEADER),
    ([b'{"v": 1, "type": "ping", "id": ""}'], ErrorCode.BAD_HEADER),
    ([b'{"v": 1, "type": 5, "id": "a"}'], ErrorCode.BAD_HEADER),
    ([b'{"v": 1, "type": "explode", "id": "a"}'], ErrorCode.UNKNOWN_TYPE),
    ([b'{"v": 1, "type": "ping", "id": "a"}', b"extra"], ErrorCode.UNEXPECTED_PAYLOAD),
    ([b'{"v": 1, "type": "reconstruct", "id": "a"}'], ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "jpeg", "frame": 1}}'],
     ErrorCode.MISSING_PAYLOAD),
    ([b'{"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "gif", "frame": 1}}', b"x"],
     ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "raw", "frame": 1, "shape": [2, 2, 5]}}',
      b"x"], ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "raw", "frame": 1, '
      b'"shape": [100000, 100000, 3]}}', b"x"], ErrorCode.TOO_LARGE),
    ([b'{"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "jpeg", "frame": 1}, '
      b'"boxes": [[10, 10, 5, 20]]}', b"x"], ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "jpeg", "frame": 1}, '
      b'"boxes": [[0, 0, 1, "2"]]}', b"x"], ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "body_model", "id": "a", "betas": [1, null]}'], ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "cancel", "id": "a"}'], ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "video_frame", "id": "a", "session": "s", "index": -1, '
      b'"image": {"encoding": "jpeg", "frame": 1}}', b"x"], ErrorCode.BAD_FIELD),
    ([b'{"v": 1, "type": "video_start", "id": "a", "fps": 0}'], ErrorCode.BAD_FIELD),
])
def test_invalid_messages_get_stable_codes(frames, code):
    assert _error_code(frames) == code, f"expected {code} for {frames}, got {_error_code(frames)}"


def test_valid_requests_pass():
    ok = [
        _frames({"v": 1, "type": "hello", "id": "a"}),
        _frames({"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "jpeg", "frame": 1},
                 "boxes": [[0, 0, 10.5, 20]]}, b"\xff\xd8"),
        _frames({"v": 1, "type": "reconstruct", "id": "a",
                 "image": {"encoding": "raw", "frame": 1, "shape": [2, 3, 3], "dtype": "uint8"}}, bytes(18)),
        _frames({"v": 1, "type": "body_model", "id": "a", "betas": [0.5, -1]}),
        _frames({"v": 1, "type": "cancel", "id": "b", "target": "a"}),
    ]
    for frames in ok:
        assert _error_code(frames) is None, frames


def test_limits_are_enforced():
    limits = protocol.Limits(max_header_bytes=100, max_payload_bytes=10, max_frames=1, max_boxes=1)
    big_header = _frames({"v": 1, "type": "ping", "id": "a", "pad": "x" * 200})
    assert _error_code(big_header, limits) == ErrorCode.TOO_LARGE
    payload = _frames({"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "jpeg", "frame": 1}}, bytes(11))
    assert _error_code(payload, limits) == ErrorCode.TOO_LARGE
    frames = _frames({"v": 1, "type": "ping", "id": "a"}, b"1", b"2")
    assert _error_code(frames, limits) == ErrorCode.TOO_LARGE
    boxes = _frames({"v": 1, "type": "reconstruct", "id": "a", "image": {"encoding": "jpeg", "frame": 1},
                     "boxes": [[0, 0, 1, 1], [0, 0, 1, 1]]}, b"x")
    assert _error_code(boxes, protocol.Limits(max_boxes=1)) == ErrorCode.BAD_FIELD


def test_error_keeps_the_request_id_when_it_is_echoable():
    with pytest.raises(ProtocolError) as info:
        protocol.decode([b'{"v": 9, "type": "ping", "id": "keep-me"}'])
    assert info.value.request_id == "keep-me", info.value.request_id
    with pytest.raises(ProtocolError) as info:
        protocol.decode([json.dumps({"v": 9, "type": "ping", "id": "x" * 1000}).encode()])
    assert info.value.request_id is None, info.value.request_id


def test_decode_arrays_rejects_size_mismatch_and_bad_dtype():
    with pytest.raises(ProtocolError, match="needs 24 bytes"):
        protocol.decode_arrays({"a": {"dtype": "<f4", "shape": [2, 3], "frame": 1}}, [bytes(8)])
    with pytest.raises(ProtocolError, match="dtype"):
        protocol.decode_arrays({"a": {"dtype": "|O", "shape": [1], "frame": 1}}, [bytes(8)])
    with pytest.raises(ProtocolError) as info:
        protocol.decode_arrays({"a": {"dtype": "<f4", "shape": [1], "frame": 2}}, [bytes(4)])
    assert info.value.code == ErrorCode.MISSING_PAYLOAD


@pytest.mark.parametrize("address, loopback", [
    ("tcp://127.0.0.1:5555", True), ("tcp://localhost:1", True), ("tcp://[::1]:5", True), ("ipc:///tmp/x", True),
    ("tcp://0.0.0.0:5555", False), ("tcp://*:5555", False), ("tcp://192.168.1.2:5555", False),
    ("tcp://eth0:5555", False),
])
def test_loopback_detection(address, loopback):
    assert protocol.is_loopback_address(address) is loopback, address


def test_error_codes_are_stable():
    # the add-on and other clients branch on these strings: changing one is a protocol change
    assert protocol.ERROR_CODES == {
        "malformed", "bad_version", "bad_header", "unknown_type", "bad_field", "missing_payload",
        "unexpected_payload", "too_large", "bad_image", "no_model", "unknown_session", "unsupported", "cancelled",
        "shutting_down", "internal"}, sorted(protocol.ERROR_CODES)


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


def test_protocol_imports_only_stdlib_and_numpy():
    modules = _modules_after_import("backend.protocol")
    project = {m for m in modules if m.startswith("backend") and m not in ("backend", "backend.protocol")}
    assert not project, f"backend.protocol must not import other project modules: {sorted(project)}"
    for heavy in ("torch", "zmq", "cv2", "scipy"):
        assert heavy not in modules, f"backend.protocol imported {heavy}"


def test_client_does_not_import_torch():
    modules = _modules_after_import("backend.client")
    assert "torch" not in modules, "backend.client imported torch"
    assert "cv2" not in modules, "backend.client imported cv2"
    project = {m for m in modules if m.startswith("backend.") and m not in ("backend.client", "backend.protocol")}
    assert not project, f"backend.client imports project modules beyond the protocol: {sorted(project)}"

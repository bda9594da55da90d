"""Python client of the TokenMocap service (used by the CLI and the Blender add-on): numpy + pyzmq only, never torch.

Follows the ZeroMQ guide's Lazy Pirate pattern: a DEALER socket, ``poll`` with a timeout (never a blocking
``recv``), a bounded number of retries, and on a timeout the socket is closed with ``linger=0`` and a fresh one is
connected. Replies whose ``id`` is not the awaited one are dropped (late answers to abandoned requests).
Cancellation: :meth:`Client.cancel` tells the server to drop a pending request; a ``threading.Event`` passed to
:meth:`Client.request` cancels it from another thread.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import zmq

from backend import protocol
from backend.protocol import MessageType

__all__ = ["Client", "ClientCurveKeys", "ServerError", "ServerUnavailable", "RequestCancelled", "BodyModel",
           "image_encoding_of"]

log = logging.getLogger(__name__)

_SLICE_MS = 50  # poll granularity, so cancellation is noticed quickly


class ServerError(RuntimeError):
    """The server answered ``error``; ``code`` is one of ``protocol.ErrorCode``."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


class ServerUnavailable(TimeoutError):
    """No reply after every retry: the server is not running, unreachable, or refused our CURVE key."""


class RequestCancelled(RuntimeError):
    """The request was cancelled through its cancel event."""


@dataclass(frozen=True)
class ClientCurveKeys:
    """Keys for a CURVE-encrypted server (all Z85 text, as in ``zmq.auth`` certificate files)."""

    server_public: bytes  # the server's public key
    client_public: bytes  # ours; must be in the server's allow-list
    client_secret: bytes  # ours; never leaves this machine

    @classmethod
    def from_files(cls, server_public_file: Path, client_secret_file: Path) -> "ClientCurveKeys":
        """Read ``server.key`` and our ``<name>.key_secret`` (zmq.auth certificate format)."""
        import zmq.auth

        server_public, _ = zmq.auth.load_certificate(str(server_public_file))
        client_public, client_secret = zmq.auth.load_certificate(str(client_secret_file))
        if client_secret is None:
            raise ValueError(f"{client_secret_file} holds no secret key; pass the '<name>.key_secret' file")
        return cls(server_public, client_public, client_secret)


@dataclass(frozen=True)
class BodyModel:
    """The ``body_model`` reply: rest mesh and skeleton in SMPL's canonical frame (y up, metres).

    Attributes:
        source: "smpl" (the user's installed SMPL) or "mannequin" (built-in).
        vertices: (V, 3) float32. faces: (F, 3) int32. weights: (V, 24) float32 skin weights.
        joints: (24, 3) float32 rest joint positions. parents: 24 ints, root -1. joint_names: 24 smplx names.
    """

    source: str
    vertices: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    joints: np.ndarray
    parents: list
    joint_names: list


def image_encoding_of(data: bytes) -> str:
    """"jpeg" or "png" from the file signature; ValueError otherwise."""
    if data[:2] == b"\xff\xd8":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    raise ValueError(f"not a JPEG or PNG file (starts with {data[:8]!r}); send JPEG/PNG bytes or a raw uint8 array")


class Client:
    """A connection to a TokenMocap server.

    Args:
        address: server endpoint, e.g. ``tcp://127.0.0.1:5555``.
        timeout_ms: default per-attempt reply timeout.
        retries: attempts per request before :class:`ServerUnavailable`.
        curve: keys for an encrypted server; None for plain loopback use.
        context: ZeroMQ context (default: a private one, terminated by :meth:`close`).
    """

    def __init__(self, address: str = protocol.DEFAULT_ADDRESS, *, timeout_ms: int = protocol.REQUEST_TIMEOUT_MS,
                 retries: int = protocol.REQUEST_RETRIES, curve: ClientCurveKeys | None = None,
                 context: zmq.Context | None = None) -> None:
        if retries < 1:
            raise ValueError(f"retries must be >= 1, got {retries}")
        self.address = address
        self.timeout_ms = timeout_ms
        self.retries = retries
        self._curve = curve
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-{id(self) & 0xFFFFFF:x}"
        self._socket: zmq.Socket | None = None
        self._connect()

    # ---------------------------------------------------------------------------------------------- socket
    def _connect(self) -> None:
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, protocol.RECONNECT_IVL_MS)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, protocol.RECONNECT_IVL_MAX_MS)
        sock.setsockopt(zmq.HEARTBEAT_IVL, protocol.HEARTBEAT_INTERVAL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, protocol.HEARTBEAT_TIMEOUT_MS)
        if self._curve is not None:
            sock.curve_serverkey = self._curve.server_public
            sock.curve_publickey = self._curve.client_public
            sock.curve_secretkey = self._curve.client_secret
        sock.connect(self.address)
        self._socket = sock

    def _reconnect(self) -> None:
        log.info("no reply from %s; reconnecting", self.address)
        self._socket.close(linger=0)
        self._connect()

    def close(self) -> None:
        """Close the socket (linger 0) and terminate a private context."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        if self._own_context:
            self._context.term()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    # ---------------------------------------------------------------------------------------------- async
    def send(self, msg_type: str, fields: dict | None = None, payloads: Sequence[Any] = (),
             request_id: str | None = None) -> str:
        """Send a request without waiting; returns its id (see :meth:`receive`)."""
        request_id = request_id or self.new_id()
        header = protocol.make_header(msg_type, request_id, **(fields or {}))
        self._socket.send_multipart(protocol.encode(header, payloads), copy=False)
        return request_id

    def receive(self, timeout_ms: int) -> protocol.Message | None:
        """The next reply of any id, or None after ``timeout_ms``. Replies that do not parse are dropped."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if not self._socket.poll(remaining_ms, zmq.POLLIN):
                return None
            frames = self._socket.recv_multipart(copy=False)
            try:
                return protocol.decode([frame.buffer for frame in frames], protocol.REPLY_LIMITS)
            except protocol.ProtocolError as e:
                log.warning("dropping an unreadable reply: %s", e)
            if time.monotonic() >= deadline:
                return None

    def cancel(self, request_id: str) -> None:
        """Ask the server to drop ``request_id``; its late replies are ignored by :meth:`request`."""
        self.send(MessageType.CANCEL, {"target": request_id})

    # ---------------------------------------------------------------------------------------------- sync
    def request(self, msg_type: str, fields: dict | None = None, payloads: Sequence[Any] = (), *,
                timeout_ms: int | None = None, retries: int | None = None,
                cancel_event: threading.Event | None = None) -> protocol.Message:
        """Send a request and wait for its reply (Lazy Pirate).

        Raises:
            ServerError: the server answered ``error``.
            ServerUnavailable: no reply within ``timeout_ms`` on each of ``retries`` attempts.
            RequestCancelled: ``cancel_event`` was set (the server is told to drop the request).
        """
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        retries = self.retries if retries is None else retries
        request_id = self.new_id()
        for attempt in range(1, retries + 1):
            self.send(msg_type, fields, payloads, request_id=request_id)
            reply = self._await(request_id, timeout_ms, cancel_event)
            if reply is not None:
                if reply.type == MessageType.ERROR:
                    raise ServerError(str(reply.header.get("code")), str(reply.header.get("message")), request_id)
                return reply
            if attempt < retries:
                self._reconnect()
        self._reconnect()  # leave a clean socket: the old one may still receive the abandoned reply
        raise ServerUnavailable(
            f"no reply to {msg_type} from {self.address} after {retries} attempt(s) of {timeout_ms} ms. Is "
            "`tokenmocap serve` running there (and, for a remote server, is this client's public key in its "
            "allow-list)?")

    def _await(self, request_id: str, timeout_ms: int, cancel_event: threading.Event | None) -> protocol.Message | None:
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            if cancel_event is not None and cancel_event.is_set():
                self.cancel(request_id)
                raise RequestCancelled(f"request {request_id} cancelled")
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return None
            reply = self.receive(min(remaining_ms, _SLICE_MS) if cancel_event is not None else remaining_ms)
            if reply is None:
                continue
            if reply.id != request_id:
                log.debug("dropping reply %s (%s) while waiting for %s", reply.id, reply.type, request_id)
                continue
            return reply

    # ---------------------------------------------------------------------------------------------- helpers
    def hello(self, timeout_ms: int = protocol.HELLO_TIMEOUT_MS, retries: int | None = None) -> dict:
        """Server version, device, engines and limits (the ``hello`` reply header)."""
        return self.request(MessageType.HELLO, {"client": {"name": "tokenmocap.client"}}, timeout_ms=timeout_ms,
                            retries=retries).header

    def ping(self, timeout_ms: int = protocol.PING_TIMEOUT_MS, retries: int = 1) -> float:
        """Round-trip time of a ``ping`` in milliseconds."""
        start = time.perf_counter()
        self.request(MessageType.PING, timeout_ms=timeout_ms, retries=retries)
        return (time.perf_counter() - start) * 1000.0

    def body_model(self, betas: Sequence[float] | None = None,
                   timeout_ms: int = protocol.BODY_MODEL_TIMEOUT_MS) -> BodyModel:
        """Rest mesh, skin weights and skeleton for ``betas`` (default: the mean shape)."""
        fields = {} if betas is None else {"betas": [float(b) for b in betas]}
        reply = self.request(MessageType.BODY_MODEL, fields, timeout_ms=timeout_ms)
        arrays = protocol.decode_arrays(reply.header.get("arrays"), reply.payloads, reply.id)
        return BodyModel(source=reply.header["source"], vertices=arrays["vertices"], faces=arrays["faces"],
                         weights=arrays["weights"], joints=arrays["joints"], parents=list(reply.header["parents"]),
                         joint_names=list(reply.header["joint_names"]))

    def reconstruct(self, image: bytes | np.ndarray, *, boxes: Sequence[Sequence[float]] | None = None,
                    engine: str | None = None, detector: str | None = None, timeout_ms: int | None = None,
                    retries: int | None = None, cancel_event: threading.Event | None = None) -> dict:
        """Reconstruct the people in one image.

        Args:
            image: JPEG/PNG file bytes, or an (H, W, 3) uint8 BGR array (sent raw; (H, W) grey and (H, W, 4) BGRA
                also work).
            boxes: person boxes [[x1, y1, x2, y2], ...] in pixels; None lets the server detect people.
            engine: "tokenhmr", "hmr2" or "lite"; None = the server's default.
            detector: person detector override for this image.
        Returns:
            The ``result`` header: {people: [...], engine, image_size: [W, H], timing_ms}.
        """
        fields, payloads = self.image_fields(image)
        if boxes is not None:
            fields["boxes"] = [[float(v) for v in box] for box in boxes]
        if engine is not None:
            fields["engine"] = engine
        if detector is not None:
            fields["detector"] = detector
        return self.request(MessageType.RECONSTRUCT, fields, payloads, timeout_ms=timeout_ms, retries=retries,
                            cancel_event=cancel_event).header

    @staticmethod
    def image_fields(image: bytes | np.ndarray) -> tuple[dict, list]:
        """The ``image`` header field and payload for JPEG/PNG bytes or a uint8 BGR array."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            data = bytes(image)
            return {"image": {"encoding": image_encoding_of(data), "frame": 1}}, [data]
        arr = np.asarray(image)
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
            raise ValueError(f"image array must be (H, W[, C]) uint8 BGR; got {arr.dtype} {arr.shape}")
        arr = np.ascontiguousarray(arr)
        return {"image": {"encoding": "raw", "frame": 1, "shape": list(arr.shape), "dtype": "uint8"}}, [arr]

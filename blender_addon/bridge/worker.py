"""The ZeroMQ side of the add-on: one worker thread owns a DEALER socket; plain data crosses through queues.

Blender's Python API is not thread-safe, so nothing here imports ``bpy``. The main thread calls :meth:`send`,
:meth:`cancel` and :meth:`poll_events` (from a timer or modal tick); the worker thread is the only code that
touches the socket. Replies become :class:`BridgeEvent` objects with their arrays already decoded. When no reply
arrives within a request's timeout the worker reports a ``timeout`` event naming the request (it never blocks in
``recv``: it polls with a short timeout, as in the ZeroMQ guide's Lazy Pirate client).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import zmq

from . import protocol

__all__ = ["BridgeEvent", "BridgeWorker", "CurveKeyPair", "check_online_access"]

_log = logging.getLogger(__name__)
_POLL_MS = 20  # worker loop tick: how often it checks the outgoing queue while waiting for replies
_STOP_LINGER_MS = 250  # on stop, how long queued messages (e.g. a last cancel) may take to leave


def check_online_access(address: str, online_access: bool) -> None:
    """Refuse a backend on another machine while Blender's "Allow Online Access" is off.

    A loopback address (this computer) never needs it. Raises ValueError with the fix otherwise.
    """
    if not online_access and not protocol.is_loopback_address(address):
        raise ValueError(
            f"the backend {address} is on another machine but Blender's online access is off; enable "
            "Preferences > System > Network > Allow Online Access, or run the backend locally (tcp://127.0.0.1:PORT)"
        )


@dataclass(frozen=True)
class CurveKeyPair:
    """CurveZMQ keys (Z85 text) for a remote backend: the server's public key and this client's pair."""

    server_public: str
    client_public: str
    client_secret: str


@dataclass
class BridgeEvent:
    """One thing that happened on the socket, handed to the main thread.

    ``kind`` is "reply" (``header`` holds the decoded JSON, ``arrays`` the decoded array frames), "timeout"
    (no reply to request ``request_id`` in time) or "failure" (the socket or a reply could not be handled;
    ``message`` says why).
    """

    kind: str
    request_id: str | None
    header: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    message: str = ""


@dataclass
class _Pending:
    deadline: float
    timeout_ms: int


class BridgeWorker:
    """A DEALER connection on its own thread.

    Args:
        address: backend address, e.g. "tcp://127.0.0.1:5555".
        curve: CurveZMQ keys for an encrypted connection, or None for loopback.
    """

    def __init__(self, address: str, curve: CurveKeyPair | None = None) -> None:
        if not address.startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError(f"backend address: expected tcp://HOST:PORT, got {address!r}")
        self.address = address
        self._curve = curve
        self._outgoing: queue.Queue = queue.Queue()
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokenmocap-bridge", daemon=True)
        self._started = False

    # ------------------------------------------------------------------ main-thread API
    def start(self) -> "BridgeWorker":
        """Start the worker thread (it connects the socket)."""
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def send(self, msg_type: str, fields: dict | None = None, payloads: Sequence[Any] = (),
             timeout_ms: int = protocol.REQUEST_TIMEOUT_MS, request_id: str | None = None) -> str:
        """Queue a request; returns its id (replies carry it). ``timeout_ms`` 0: no timeout is tracked."""
        rid = request_id or uuid.uuid4().hex[:16]
        header = protocol.make_header(msg_type, rid, **(fields or {}))
        self._outgoing.put((header, list(payloads), int(timeout_ms)))
        return rid

    def cancel(self, target: str) -> str:
        """Ask the backend to cancel request ``target`` (its reply is a ``cancelled`` event)."""
        return self.send(protocol.MessageType.CANCEL, {"target": target}, timeout_ms=protocol.PING_TIMEOUT_MS)

    def poll_events(self, max_events: int = 1000) -> list[BridgeEvent]:
        """Every event that arrived since the last call (never blocks)."""
        events = []
        while len(events) < max_events:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        return events

    def wait_event(self, timeout_s: float) -> BridgeEvent | None:
        """Block up to ``timeout_s`` for one event (scripts and tests; the UI uses :meth:`poll_events`)."""
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and close the socket with linger 0."""
        self._stop.set()
        if self._started:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------ worker thread
    def _make_socket(self, context: zmq.Context) -> zmq.Socket:
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, protocol.RECONNECT_IVL_MS)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, protocol.RECONNECT_IVL_MAX_MS)
        sock.setsockopt(zmq.HEARTBEAT_IVL, protocol.HEARTBEAT_INTERVAL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, protocol.HEARTBEAT_TIMEOUT_MS)
        if self._curve is not None:
            sock.curve_serverkey = self._curve.server_public.encode("ascii")
            sock.curve_publickey = self._curve.client_public.encode("ascii")
            sock.curve_secretkey = self._curve.client_secret.encode("ascii")
        sock.connect(self.address)
        return sock

    def _run(self) -> None:
        context = zmq.Context()
        sock = None
        pending: dict[str, _Pending] = {}
        try:
            sock = self._make_socket(context)
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            while not self._stop.is_set():
                self._flush_outgoing(sock, pending)
                if dict(poller.poll(_POLL_MS)).get(sock):
                    while sock.poll(0):
                        self._handle_frames(sock.recv_multipart(copy=True), pending)
                self._expire(pending)
            # Send what the main thread queued last (a cancel usually), then give it a moment to leave.
            self._flush_outgoing(sock, pending)
            sock.close(linger=_STOP_LINGER_MS)
            sock = None
        except zmq.ZMQError as e:
            self._events.put(BridgeEvent("failure", None, message=f"ZeroMQ error on {self.address}: {e}"))
        finally:
            if sock is not None:
                sock.close(linger=0)
            context.term()

    def _flush_outgoing(self, sock: zmq.Socket, pending: dict[str, _Pending]) -> None:
        while True:
            try:
                header, payloads, timeout_ms = self._outgoing.get_nowait()
            except queue.Empty:
                return
            sock.send_multipart(protocol.encode(header, payloads), copy=False)
            if timeout_ms > 0:  # 0: no reply expected by id (video frames; the job watches for stalls)
                pending[header["id"]] = _Pending(time.monotonic() + timeout_ms / 1000.0, timeout_ms)

    def _handle_frames(self, frames: list, pending: dict[str, _Pending]) -> None:
        try:
            message = protocol.decode(frames, protocol.REPLY_LIMITS)
            arrays = {}
            if "arrays" in message.header:
                # Copy out of the receive buffers: the main thread may keep them after the frames are freed.
                arrays = {k: v.copy() for k, v in protocol.decode_arrays(
                    message.header["arrays"], message.payloads, message.id).items()}
        except protocol.ProtocolError as e:
            _log.warning("invalid reply from %s: %s", self.address, e)
            self._events.put(BridgeEvent("failure", e.request_id, message=f"invalid reply from the backend: {e}"))
            return
        rid = message.id
        if rid in pending:
            entry = pending[rid]
            # Streaming replies (frame_result) keep the request alive; finished ones drop it.
            if message.type in (protocol.MessageType.FRAME_RESULT, protocol.MessageType.VIDEO_STARTED):
                entry.deadline = time.monotonic() + entry.timeout_ms / 1000.0
            else:
                pending.pop(rid)
        self._events.put(BridgeEvent("reply", rid, header=message.header, arrays=arrays))

    def _expire(self, pending: dict[str, _Pending]) -> None:
        now = time.monotonic()
        for rid in [r for r, p in pending.items() if p.deadline < now]:
            timeout_ms = pending.pop(rid).timeout_ms
            self._events.put(BridgeEvent(
                "timeout", rid,
                message=f"the backend at {self.address} did not answer within {timeout_ms / 1000:.0f} s; "
                        "check that it is running (Preferences > Add-ons > TokenMocap > Test connection)",
            ))

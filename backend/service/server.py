"""The server's poll loop: one ROUTER socket (or a DEALER to a broker in worker mode), cheap requests answered
in place, image work handed to :class:`~backend.service.pipeline.Pipeline`.

The loop owns the socket and the table of pending requests; it is the only code that sends to clients. Every
message is validated with ``backend.protocol``; anything wrong gets an ``error`` reply with a stable code, and any
handler failure is logged with its traceback and answered with ``internal``: the server never dies on input.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Callable

import zmq

from backend import __version__, protocol
from backend.engine import Engine, EngineUnavailable, available_engines, make_engine, resolve_engine_name
from backend.protocol import ErrorCode, MessageType, ProtocolError
from backend.service.config import ServerConfig
from backend.service.handlers import body_model_reply, decode_job_image, describe_device
from backend.service.pipeline import REPLY_MORE, REPLY_RELEASE, EngineProvider, Job, Pipeline
from backend.service.security import apply_server_curve, start_authenticator

__all__ = ["Server"]

log = logging.getLogger(__name__)

_POLL_MS = 50  # how often the loop looks at the stop flag
_FLUSH_LINGER_MS = 1_000  # at shutdown, time the socket gets to deliver the last replies
_QUEUED_TYPES = (MessageType.RECONSTRUCT, MessageType.BODY_MODEL, MessageType.VIDEO_START, MessageType.VIDEO_FRAME,
                 MessageType.VIDEO_END)


class Server:
    """The TokenMocap service. ``bind()`` then ``run()`` (blocks until ``stop()``, SIGINT/SIGTERM in ``serve``).

    Args:
        config: settings; checked on construction (non-loopback binds need CURVE).
        engine_factory: name -> Engine; default ``make_engine`` with the config's models dir, device and detector.
        context: ZeroMQ context to use; by default the server makes and terminates its own.
    """

    def __init__(self, config: ServerConfig, engine_factory: Callable[[str], Engine] | None = None,
                 context: zmq.Context | None = None) -> None:
        config.check()
        self.config = config
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._stop = threading.Event()
        self._bound = threading.Event()
        if engine_factory is None:
            def engine_factory(name: str) -> Engine:
                return make_engine(name, config.models_dir, device=config.device, detector=config.detector,
                                   max_batch=config.max_batch)
        self.engines = EngineProvider(engine_factory, config.engine)
        self._pending: dict[bytes, tuple[list, Job]] = {}  # job key -> (envelope, job)
        self._by_request: dict[tuple, bytes] = {}  # (envelope..., request id) -> job key
        self._keys = itertools.count()
        self._socket: zmq.Socket | None = None
        self._replies: zmq.Socket | None = None
        self._auth = None
        self._device = describe_device(config.device)
        self.address: str | None = None
        self.pipeline: Pipeline | None = None
        self.stats = {"received": 0, "errors": 0, "dropped": 0, "replied": 0}

    # ------------------------------------------------------------------------------------------------ setup
    def bind(self) -> str:
        """Create the sockets and bind (or connect, in worker mode); returns the endpoint actually used
        (``tcp://127.0.0.1:*`` picks a free port)."""
        cfg = self.config
        if cfg.curve is not None and not cfg.connect:
            self._auth = start_authenticator(self._context, cfg.curve)
        sock = self._context.socket(zmq.DEALER if cfg.connect else zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 64)  # bounded memory: at most this many unread messages per peer
        sock.setsockopt(zmq.SNDHWM, 1000)
        # A frame larger than this is dropped by libzmq (and the peer disconnected) before it is buffered.
        sock.setsockopt(zmq.MAXMSGSIZE, cfg.limits.max_payload_bytes + cfg.limits.max_header_bytes)
        sock.setsockopt(zmq.HEARTBEAT_IVL, protocol.HEARTBEAT_INTERVAL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, protocol.HEARTBEAT_TIMEOUT_MS)
        if cfg.connect:
            from backend.service.workers import WORKER_READY

            sock.connect(cfg.address)
            sock.send(WORKER_READY)  # the broker routes to this worker only after hearing from it
            self.address = cfg.address
        else:
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a reply to a vanished client raises instead of vanishing
            if cfg.curve is not None:
                apply_server_curve(sock, cfg.curve)
            sock.bind(cfg.address)
            self.address = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._socket = sock
        reply_endpoint = f"inproc://tokenmocap-replies-{id(self)}"
        self._replies = self._context.socket(zmq.PULL)
        self._replies.setsockopt(zmq.LINGER, 0)
        self._replies.bind(reply_endpoint)
        self.pipeline = Pipeline(
            self._context, reply_endpoint, self.engines, body_model=lambda job: body_model_reply(job, cfg),
            max_batch=cfg.max_batch, batch_wait_ms=cfg.batch_wait_ms, prepare_queue_size=cfg.prepare_queue_size,
            infer_queue_size=cfg.infer_queue_size, prepare_threads=cfg.prepare_threads, limits=cfg.limits,
            decode_image=decode_job_image, models_dir=cfg.models_dir)
        self.pipeline.start()
        if cfg.preload:
            threading.Thread(target=self._preload, name="tokenmocap-preload", daemon=True).start()
        self._bound.set()
        log.info("tokenmocap %s serving on %s (device %s, engine %s)", __version__, self.address, self._device,
                 cfg.engine)
        if not cfg.connect:
            for name, state in available_engines(cfg.models_dir).items():
                log.info("engine %s: %s", name, "available" if state["available"] else state["reason"])
        return self.address

    def _preload(self) -> None:
        try:
            engine = self.engines.get(None)
        except (EngineUnavailable, ValueError, OSError) as e:
            # A warning, not info: requests that name no engine will fail with this same message until it is fixed.
            log.warning("no engine preloaded (requests that name no engine will fail until this is fixed): %s", e)
            return
        log.info("engine %s preloaded", engine.name)

    def wait_bound(self, timeout_s: float) -> str:
        """Block until ``bind`` finished (for a server started in another thread); returns the address."""
        if not self._bound.wait(timeout_s):
            raise TimeoutError(f"server did not bind within {timeout_s} s")
        return self.address

    def stop(self) -> None:
        """Ask ``run`` to finish (thread-safe, signal-safe)."""
        self._stop.set()

    # ------------------------------------------------------------------------------------------------ loop
    def run(self) -> None:
        """Serve until ``stop()``, then shut down gracefully (see ``_shutdown``)."""
        if self._socket is None:
            self.bind()
        poller_read = zmq.Poller()
        poller_read.register(self._socket, zmq.POLLIN)
        poller_read.register(self._replies, zmq.POLLIN)
        poller_busy = zmq.Poller()  # back-pressure: while the pipeline is full, do not read clients
        poller_busy.register(self._replies, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                poller = poller_busy if self.pipeline.full() else poller_read
                events = dict(poller.poll(_POLL_MS))
                if self._replies in events:
                    self._drain_replies()
                if self._socket in events:
                    self._read_clients(limit=64)
        finally:
            self._shutdown()

    def _read_clients(self, limit: int) -> None:
        for _ in range(limit):
            if self.pipeline.full():
                return
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._on_message(frames)

    def _drain_replies(self) -> None:
        while True:
            try:
                frames = self._replies.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            key, flag = frames[0].bytes, frames[1].bytes
            entry = self._pending.get(key) if flag == REPLY_MORE else self._pending.pop(key, None)
            if entry is None:
                self.stats["dropped"] += 1  # cancelled or failed meanwhile: the client got its answer already
                continue
            envelope, job = entry
            if flag != REPLY_MORE:
                self._by_request.pop((*envelope, job.request_id), None)
            if flag != REPLY_RELEASE:
                self._send(envelope, frames[2:])

    def _send(self, envelope: list, frames: list) -> None:
        # Never block: with ROUTER_MANDATORY a blocking send to a client that stopped reading (its queue at the
        # high-water mark) would stall the loop for every client. Such a client loses the reply and retries.
        try:
            self._socket.send_multipart([*envelope, *frames], flags=zmq.NOBLOCK, copy=False)
            self.stats["replied"] += 1
        except zmq.ZMQError as e:  # EHOSTUNREACH: the client left; EAGAIN: its queue is full
            self.stats["dropped"] += 1
            log.debug("reply not delivered (%s)", e)

    def _reply(self, envelope: list, header: dict, payloads: list | tuple = ()) -> None:
        self._send(envelope, protocol.encode(header, payloads))

    def _error(self, envelope: list, request_id: str | None, code: str, message: str) -> None:
        self.stats["errors"] += 1
        self._reply(envelope, protocol.error_header(request_id, code, message))

    # ------------------------------------------------------------------------------------------------ dispatch
    def _on_message(self, frames: list) -> None:
        self.stats["received"] += 1
        if len(frames) < 2:
            self.stats["dropped"] += 1  # no routing identity or no header: nothing to answer
            return
        envelope = [frames[0].bytes]
        body = frames[1:]
        request_id = None
        try:
            message = protocol.decode([frame.buffer for frame in body], self.config.limits)
            request_id = message.id
            protocol.validate_request(message, self.config.limits)
            self._dispatch(envelope, message)
        except ProtocolError as e:
            self._error(envelope, e.request_id or request_id, e.code, e.message)
        except Exception as e:  # a handler bug must never kill the loop: log and answer `internal`
            log.exception("request %s failed", request_id)
            self._error(envelope, request_id, ErrorCode.INTERNAL, f"{type(e).__name__}: {e}")

    def _dispatch(self, envelope: list, message: protocol.Message) -> None:
        msg_type, rid = message.type, message.id
        if msg_type == MessageType.PING:
            self._reply(envelope, protocol.make_header(MessageType.PONG, rid, time_ms=time.time() * 1000.0))
        elif msg_type == MessageType.HELLO:
            self._reply(envelope, self._hello(rid))
        elif msg_type == MessageType.CANCEL:
            self._cancel(envelope, rid, message.header["target"])
        elif msg_type in _QUEUED_TYPES:
            key = (*envelope, rid)
            if key in self._by_request:
                raise ProtocolError(ErrorCode.BAD_HEADER,
                                    f"request id {rid!r} is already pending; use a new id for each request", rid)
            # payloads are zero-copy views of the received frames; they stay valid while the job holds them
            job = Job(key=str(next(self._keys)).encode(), request_id=rid, kind=msg_type, header=message.header,
                      payloads=list(message.payloads), client=envelope[0])
            self._pending[job.key] = (envelope, job)
            self._by_request[key] = job.key
            if not self.pipeline.submit(job):  # cannot happen while _read_clients checks full(); keep it safe
                self._pending.pop(job.key)
                self._by_request.pop(key)
                raise ProtocolError(ErrorCode.INTERNAL, "server queue full; retry", rid)
        else:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"{msg_type} is not handled by this server", rid)

    def _cancel(self, envelope: list, rid: str, target: str) -> None:
        """Cancel a pending request by id, or a whole video session by its session id."""
        job_key = self._by_request.pop((*envelope, target), None)
        entry = self._pending.pop(job_key, None) if job_key is not None else None
        if entry is not None:
            entry[1].cancelled = True
            self._error(envelope, target, ErrorCode.CANCELLED, f"request {target!r} was cancelled by the client")
        found = entry is not None or self.pipeline.video.cancel_session(target, envelope[0])
        self._reply(envelope, protocol.make_header(MessageType.CANCELLED, rid, target=target, found=found))

    def _hello(self, rid: str) -> dict:
        cfg = self.config
        engines = available_engines(cfg.models_dir)
        return protocol.make_header(
            MessageType.HELLO, rid,
            server_version=__version__,
            protocol_version=protocol.PROTOCOL_VERSION,
            device=self._device,
            default_engine=cfg.engine,
            # what a request without an ``engine`` field runs: the loaded default, else what "auto" would pick
            engine=self.engines.default_loaded() or resolve_engine_name(cfg.engine, engines),
            engines=engines,
            loaded_engines=self.engines.loaded(),
            detector=cfg.detector,
            max_batch=cfg.max_batch,
            limits=cfg.limits.to_json(),
            heartbeat_interval_ms=protocol.HEARTBEAT_INTERVAL_MS,
            encrypted=cfg.curve is not None,
            **cfg.extra_hello,
        )

    # ------------------------------------------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        """Let running requests finish for ``shutdown_grace_ms`` (answering new ones with ``shutting_down``),
        fail whatever is left with ``shutting_down``, stop the stages, close sockets, terminate the context."""
        log.info("shutting down: %d request(s) pending", len(self._pending))
        deadline = time.monotonic() + self.config.shutdown_grace_ms / 1000.0
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._replies, zmq.POLLIN)
        while self._pending and time.monotonic() < deadline:
            events = dict(poller.poll(_POLL_MS))
            if self._replies in events:
                self._drain_replies()
            if self._socket in events:
                self._refuse_new()
        self._refuse_new()
        for envelope, job in list(self._pending.values()):
            job.cancelled = True
            self._error(envelope, job.request_id, ErrorCode.SHUTTING_DOWN,
                        "the server is shutting down; the request was not finished. Restart the server and retry.")
        self._pending.clear()
        self._by_request.clear()
        stuck = self.pipeline.stop(timeout_s=2.0) if self.pipeline is not None else []
        if stuck:
            log.warning("threads still running at exit: %s", stuck)
        else:
            self.engines.close()
        if self._socket is not None:
            self._socket.close(linger=_FLUSH_LINGER_MS)
        if self._replies is not None:
            self._replies.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        if self._own_context:
            self._context.term()
        log.info("server stopped (%s)", self.stats)

    def _refuse_new(self) -> None:
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) < 2:
                continue
            try:
                header = protocol.parse_header(frames[1].bytes, self.config.limits)
                rid = header.get("id")
            except ProtocolError as e:
                rid = e.request_id
            self._error([frames[0].bytes], rid, ErrorCode.SHUTTING_DOWN, "the server is shutting down")

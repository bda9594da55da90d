"""Scale-out: several worker processes (one per GPU) behind one front address.

ZeroMQ's ROUTER/DEALER proxy pattern, written as a small broker loop so it can stop gracefully and skip dead
workers: the front ROUTER (the public address, CURVE when configured) takes client requests; a back ROUTER on a
loopback port hands them round-robin to workers, each a full :class:`~backend.service.server.Server` whose DEALER
connects to the back socket and announces itself with :data:`WORKER_READY`. Replies travel back with the client's
identity as their first frame. Back-pressure: when no worker accepts a message, the broker holds it and stops
reading clients.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import replace

import zmq

from backend import protocol
from backend.protocol import ErrorCode, MessageType
from backend.service.config import ServerConfig
from backend.service.security import apply_server_curve, start_authenticator

__all__ = ["Broker", "WORKER_READY", "worker_main"]

log = logging.getLogger(__name__)

WORKER_READY = b"\x01tokenmocap-worker-ready"  # first frame a worker sends to the broker (never valid JSON)
_POLL_MS = 20
_START_TIMEOUT_S = 120.0


def _header(frame) -> dict | None:
    """A message's JSON header, or None when it does not parse (the worker answers those with errors)."""
    try:
        header = json.loads(bytes(frame.buffer if hasattr(frame, "buffer") else frame))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def worker_main(config: ServerConfig, index: int, workers: int) -> None:
    """Entry point of a worker process: a Server connected to the broker, stopped by SIGTERM/SIGINT."""
    from backend.service.server import Server

    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s worker{index} %(name)s: %(message)s")
    worker_config = replace(config, connect=True, curve=None,
                            extra_hello={**config.extra_hello, "worker": index, "workers": workers})
    server = Server(worker_config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop())
    server.run()


class Broker:
    """Front ROUTER + back ROUTER + worker processes.

    Args:
        config: the front address, CURVE and everything the workers need (their engine, device, ...).
        workers: number of worker processes.
        devices: optional device per worker (e.g. ["cuda:0", "cuda:1"]); default the config's device for all.
    """

    def __init__(self, config: ServerConfig, workers: int, devices: list[str] | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if devices is not None and len(devices) != workers:
            raise ValueError(f"{len(devices)} devices given for {workers} workers; give one per worker")
        config.check()
        self.config = config
        self.workers = workers
        self._devices = devices
        self._stop = threading.Event()
        self._bound = threading.Event()
        self._context = zmq.Context()
        self._procs: list[multiprocessing.Process] = []
        self._ready: list[bytes] = []
        self._next = 0
        self._affinity: dict[str, bytes] = {}  # video session id -> worker identity
        self.address: str | None = None
        self.back_address: str | None = None
        self._auth = None

    def stop(self) -> None:
        self._stop.set()

    def wait_bound(self, timeout_s: float) -> str:
        if not self._bound.wait(timeout_s):
            raise TimeoutError(f"broker did not bind within {timeout_s} s")
        return self.address

    def wait_workers(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Block until every worker announced itself (call from another thread than ``run``)."""
        deadline = time.monotonic() + timeout_s
        while len(self._ready) < self.workers:
            dead = [f"{p.name} (exit code {p.exitcode})" for p in self._procs if p.exitcode is not None]
            if dead:
                raise RuntimeError(f"worker process(es) exited before becoming ready: {', '.join(dead)}; see "
                                   "their log lines above")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._ready)} of {self.workers} workers ready after {timeout_s} s")
            time.sleep(0.05)

    def run(self) -> None:
        cfg = self.config
        front = self._context.socket(zmq.ROUTER)
        back = self._context.socket(zmq.ROUTER)
        for sock in (front, back):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        front.setsockopt(zmq.MAXMSGSIZE, cfg.limits.max_payload_bytes + cfg.limits.max_header_bytes)
        front.setsockopt(zmq.RCVHWM, 64)
        front.setsockopt(zmq.HEARTBEAT_IVL, protocol.HEARTBEAT_INTERVAL_MS)
        front.setsockopt(zmq.HEARTBEAT_TIMEOUT, protocol.HEARTBEAT_TIMEOUT_MS)
        if cfg.curve is not None:
            self._auth = start_authenticator(self._context, cfg.curve)
            apply_server_curve(front, cfg.curve)
        front.bind(cfg.address)
        self.address = front.getsockopt_string(zmq.LAST_ENDPOINT)
        back.bind("tcp://127.0.0.1:*")
        self.back_address = back.getsockopt_string(zmq.LAST_ENDPOINT)
        spawn = multiprocessing.get_context("spawn")
        for i in range(self.workers):
            wcfg = replace(cfg, address=self.back_address,
                           device=self._devices[i] if self._devices else cfg.device)
            proc = spawn.Process(target=worker_main, args=(wcfg, i, self.workers), name=f"tokenmocap-worker-{i}",
                                 daemon=True)
            proc.start()
            self._procs.append(proc)
        self._bound.set()
        log.info("broker on %s, %d worker(s) behind %s", self.address, self.workers, self.back_address)
        held: list | None = None
        try:
            while not self._stop.is_set():
                poller = zmq.Poller()
                poller.register(back, zmq.POLLIN)
                if held is None and self._ready:
                    poller.register(front, zmq.POLLIN)
                events = dict(poller.poll(_POLL_MS))
                if back in events:
                    self._from_workers(back, front)
                if held is not None:
                    held = self._to_worker(back, held)
                if front in events and held is None:
                    held = self._to_worker(back, front.recv_multipart(copy=False))
                self._reap()
        finally:
            self._shutdown(front, back, held)

    def _from_workers(self, back: zmq.Socket, front: zmq.Socket) -> None:
        while True:
            try:
                frames = back.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            worker = frames[0].bytes
            if len(frames) == 2 and frames[1].bytes == WORKER_READY:
                if worker not in self._ready:
                    self._ready.append(worker)
                    log.info("worker %r ready (%d/%d)", worker, len(self._ready), self.workers)
                continue
            self._note_session(worker, frames)
            try:  # never block on a client that stopped reading (see Server._send)
                front.send_multipart(frames[1:], flags=zmq.NOBLOCK, copy=False)
            except zmq.ZMQError as e:  # EHOSTUNREACH: the client left; EAGAIN: its queue is full
                log.debug("reply not delivered: %s", e)

    def _note_session(self, worker: bytes, frames: list) -> None:
        """Remember which worker holds each video session (from its ``video_started`` / ``video_done``)."""
        if len(frames) < 3 or len(frames[2]) > 4096:
            return
        header = _header(frames[2])
        if header is None:
            return
        if header.get("type") == MessageType.VIDEO_STARTED and isinstance(header.get("session"), str):
            self._affinity[header["session"]] = worker
        elif header.get("type") == MessageType.VIDEO_DONE:
            self._affinity.pop(header.get("session"), None)

    def _to_worker(self, back: zmq.Socket, frames: list) -> list | None:
        """Send to the worker holding the request's video session, else to the next worker that accepts;
        returns the message back when none accepts (held)."""
        header = _header(frames[1]) if len(frames) >= 2 else None
        if header is not None:
            session = header.get("session", header.get("target"))
            worker = self._affinity.get(session) if isinstance(session, str) else None
            if worker is not None:
                try:
                    back.send_multipart([worker, *frames], flags=zmq.NOBLOCK, copy=False)
                    return None
                except zmq.Again:
                    return frames  # that worker is busy: hold the message (its session lives there)
                except zmq.ZMQError as e:
                    if e.errno != zmq.EHOSTUNREACH:
                        raise
                    self._affinity.pop(session, None)  # the worker is gone: any worker answers unknown_session
        for _ in range(len(self._ready)):
            worker = self._ready[self._next % len(self._ready)]
            self._next += 1
            try:
                back.send_multipart([worker, *frames], flags=zmq.NOBLOCK, copy=False)
                return None
            except zmq.Again:  # that worker's queue is full: try the next one
                continue
            except zmq.ZMQError as e:
                if e.errno == zmq.EHOSTUNREACH:  # the worker died or disconnected
                    log.warning("worker %r unreachable; removing it", worker)
                    self._ready.remove(worker)
                    return self._to_worker(back, frames) if self._ready else frames
                raise
        return frames

    def _reap(self) -> None:
        for proc in self._procs:
            if proc.exitcode is not None and proc.exitcode != 0 and not getattr(proc, "_reported", False):
                log.error("worker %s exited with code %s", proc.name, proc.exitcode)
                proc._reported = True  # type: ignore[attr-defined]

    def _shutdown(self, front: zmq.Socket, back: zmq.Socket, held: list | None = None) -> None:
        """Workers get SIGTERM and answer or fail their pending requests; replies are forwarded until they exit.
        A message no worker had accepted yet (``held``) and new ones are answered ``shutting_down``."""
        log.info("broker shutting down")
        if held is not None:
            self._refuse_one(front, [frame.bytes if hasattr(frame, "bytes") else frame for frame in held])
        for proc in self._procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.shutdown_grace_ms / 1000.0 + 10.0
        while any(p.is_alive() for p in self._procs) and time.monotonic() < deadline:
            if back.poll(_POLL_MS, zmq.POLLIN):
                self._from_workers(back, front)
            self._refuse(front)
        self._from_workers(back, front)
        for proc in self._procs:
            proc.join(1.0)
            if proc.is_alive():
                log.warning("worker %s did not stop; killing it", proc.name)
                proc.kill()
                proc.join(5.0)
        front.close(linger=1000)
        back.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        self._context.term()

    def _refuse(self, front: zmq.Socket) -> None:
        while True:
            try:
                frames = front.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._refuse_one(front, frames)

    def _refuse_one(self, front: zmq.Socket, frames: list) -> None:
        """Answer one client message (identity first) with ``shutting_down``."""
        rid = None
        if len(frames) >= 2:
            try:
                rid = protocol.parse_header(frames[1], self.config.limits).get("id")
            except protocol.ProtocolError as e:
                rid = e.request_id
        header = protocol.error_header(rid, ErrorCode.SHUTTING_DOWN, "the server is shutting down")
        try:
            front.send_multipart([frames[0], *protocol.encode(header)], flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the client left or stopped reading; nothing to tell it

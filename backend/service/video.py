"""The server's ``video_*`` handlers: one thread driving ``backend.video.VideoSession`` objects.

``video_start`` {fps, options?, engine?} -> ``video_started`` {session, latency_frames}. ``video_frame`` {session,
index} + image -> zero or more ``frame_result`` {session, index, tracks} (results lag the input by up to
``latency_frames`` frames, so each frame_result carries the id of the ``video_frame`` request that released it;
clients match results by ``index``). ``video_end`` {session} -> the remaining ``frame_result``s, then
``video_done`` {session, frames}. ``cancel`` {target: session} closes a session. A session belongs to the client
that started it; sessions idle for ``SESSION_IDLE_S`` are closed.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from backend import protocol
from backend.protocol import ErrorCode, MessageType, ProtocolError

if TYPE_CHECKING:
    from backend.service.pipeline import EngineProvider, Job, Pipeline

__all__ = ["VideoWorker", "VIDEO_TYPES", "MAX_SESSIONS", "SESSION_IDLE_S"]

log = logging.getLogger(__name__)

VIDEO_TYPES = frozenset({MessageType.VIDEO_START, MessageType.VIDEO_FRAME, MessageType.VIDEO_END})
MAX_SESSIONS = 8  # open sessions per server
SESSION_IDLE_S = 600.0  # a session without frames for this long is closed
_QUEUE_SIZE = 8  # video messages waiting; when full the server stops reading (back-pressure)
_POLL_S = 0.05


@dataclass
class _Session:
    session: Any  # backend.video.VideoSession
    client: bytes  # routing identity of the owner
    last_used_s: float


class VideoWorker:
    """Runs in its own thread (``run``); posts replies through the pipeline's reply channel."""

    def __init__(self, pipeline: "Pipeline", engines: "EngineProvider", *, models_dir: Any,
                 decode_image: Callable, limits: protocol.Limits) -> None:
        self._pipeline = pipeline
        self._engines = engines
        self._models_dir = models_dir
        self._decode_image = decode_image
        self._limits = limits
        self._queue: queue.Queue = queue.Queue(maxsize=_QUEUE_SIZE)
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._stop = pipeline._stop

    def full(self) -> bool:
        return self._queue.full()

    def submit(self, job: "Job") -> bool:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return False
        return True

    def cancel_session(self, session_id: str, client: bytes) -> bool:
        """Close a session of ``client`` (called from the server loop); True if it existed."""
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None or entry.client != client:
                return False
            del self._sessions[session_id]
        entry.session.close()
        log.info("video session %s cancelled", session_id)
        return True

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    job = self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    self._close_idle()
                    continue
                if not job.cancelled:
                    self._pipeline._guarded([job], job.kind, lambda: self._handle(job))
        finally:
            with self._lock:
                sessions, self._sessions = list(self._sessions.values()), {}
            for entry in sessions:
                entry.session.close()
            self._pipeline._close_socket()

    def _handle(self, job: "Job") -> None:
        if job.kind == MessageType.VIDEO_START:
            self._start(job)
            return
        session_id = job.header["session"]
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None or entry.client != job.client:
            raise ProtocolError(ErrorCode.UNKNOWN_SESSION,
                                f"no open video session {session_id!r} for this client; start one with video_start "
                                "(sessions close after video_end, cancel, or "
                                f"{SESSION_IDLE_S:.0f} s without frames)", job.request_id)
        entry.last_used_s = time.monotonic()
        if job.kind == MessageType.VIDEO_FRAME:
            image = self._decode_image(job, self._limits)
            entry.session.push_frame(int(job.header["index"]), image)
            self._send_results(job, session_id, entry.session.results())
            self._pipeline._release(job)
        else:  # video_end
            with self._lock:
                self._sessions.pop(session_id, None)
            self._send_results(job, session_id, entry.session.flush())
            self._pipeline._reply(job, protocol.make_header(
                MessageType.VIDEO_DONE, job.request_id, session=session_id, frames=entry.session.frames_out))
            log.info("video session %s done (%d frames)", session_id, entry.session.frames_out)

    def _start(self, job: "Job") -> None:
        from backend.video import VideoSession

        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                raise ProtocolError(ErrorCode.TOO_LARGE, f"{MAX_SESSIONS} video sessions are already open; end "
                                    "one (video_end or cancel) before starting another", job.request_id)
        engine = self._engines.get(job.header.get("engine"))
        session = VideoSession(engine, float(job.header["fps"]), job.header.get("options"),
                               models_dir=self._models_dir)
        session_id = secrets.token_hex(8)
        with self._lock:
            self._sessions[session_id] = _Session(session, job.client, time.monotonic())
        self._pipeline._reply(job, protocol.make_header(
            MessageType.VIDEO_STARTED, job.request_id, session=session_id, engine=engine.name,
            latency_frames=int(session.latency_frames)))
        log.info("video session %s started (%s, %.3f fps)", session_id, engine.name, float(job.header["fps"]))

    def _send_results(self, job: "Job", session_id: str, results) -> None:
        for frame in results:
            body = frame.to_json()
            self._pipeline._reply(job, protocol.make_header(
                MessageType.FRAME_RESULT, job.request_id, session=session_id, index=body["index"],
                tracks=body["tracks"]), final=False)

    def _close_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [sid for sid, e in self._sessions.items() if now - e.last_used_s > SESSION_IDLE_S]
            entries = [self._sessions.pop(sid) for sid in idle]
        for sid, entry in zip(idle, entries):
            entry.session.close()
            log.info("video session %s closed after %.0f s idle", sid, SESSION_IDLE_S)

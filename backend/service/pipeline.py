"""The server's two concurrent stages: decode/detect/crop, then a batched forward shared by all clients.

The poll loop (``backend.service.server``) owns the socket and the table of pending requests. It hands accepted
requests to :class:`Pipeline` as :class:`Job` objects; the stages run in their own threads and post finished
replies back over an ``inproc`` PUSH socket per thread (ZeroMQ sockets are not thread-safe), tagged with the job key
so the loop can drop replies of requests that were cancelled meanwhile.

Back-pressure: both queues are bounded. A full inference queue blocks the prepare threads, which lets the prepare
queue fill, and the loop stops reading the socket while that queue is full.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import zmq

from backend import protocol
from backend.engine import Engine, EngineUnavailable, PreparedImage, is_staged
from backend.protocol import ErrorCode, MessageType, ProtocolError
from backend.service.video import VIDEO_TYPES, VideoWorker

__all__ = ["Job", "Pipeline", "EngineProvider", "REPLY_FINAL", "REPLY_MORE", "REPLY_RELEASE"]

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often blocked stage threads look at the stop flag
# Second frame of a posted reply: send it and forget the request / send it and keep the request pending (more
# replies follow, e.g. frame results) / send nothing and forget the request.
REPLY_FINAL, REPLY_MORE, REPLY_RELEASE = b"F", b"M", b"X"


@dataclass
class Job:
    """One accepted request travelling through the stages."""

    key: bytes  # unique tag of this job inside the server
    request_id: str  # the client's id, echoed in the reply
    kind: str  # the request type
    header: dict  # the validated request header
    payloads: list  # payload frames (frame i of the header is payloads[i - 1])
    received_s: float = field(default_factory=time.perf_counter)  # perf_counter at arrival
    client: bytes = b""  # routing identity of the client (video sessions belong to one client)
    cancelled: bool = False  # set by the loop on cancel/shutdown; stages skip cancelled jobs
    image: np.ndarray | None = None  # (H, W, 3) uint8 BGR after decoding (dropped once cropped)
    image_size_wh: tuple[int, int] = (0, 0)  # width, height of the decoded image
    engine: Engine | None = None  # engine serving this job
    boxes_xyxy: np.ndarray | None = None  # (N, 4) boxes the client sent, None = detect
    prepared: PreparedImage | None = None  # after detection and cropping (staged engines)
    timing_ms: dict = field(default_factory=dict)  # stage durations reported in the result


class EngineProvider:
    """Engines by name, built on first use (the server answers ``hello`` before any model is loaded)."""

    def __init__(self, factory: Callable[[str], Engine], default: str) -> None:
        self._factory = factory
        self._default = default
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()  # guards the dict (held briefly; the poll loop reads it for `hello`)
        self._load_lock = threading.Lock()  # serialises the slow factory calls

    def get(self, name: str | None) -> Engine:
        """The engine for a request's ``engine`` field (None = the server default); raises EngineUnavailable."""
        key = name or self._default
        with self._lock:
            engine = self._engines.get(key)
        if engine is not None:
            return engine
        with self._load_lock:
            with self._lock:
                engine = self._engines.get(key)
            if engine is None:
                engine = self._factory(key)
                with self._lock:
                    self._engines[key] = engine
                    if key == "auto":
                        self._engines[engine.name] = engine
            return engine

    def default_loaded(self) -> str | None:
        """The name of the engine that requests without an ``engine`` field get, once it is loaded."""
        with self._lock:
            engine = self._engines.get(self._default)
        return None if engine is None else engine.name

    def loaded(self) -> list[str]:
        with self._lock:
            return sorted({engine.name for engine in self._engines.values()})

    def close(self) -> None:
        """Close engines that hold resources (worker processes, detectors)."""
        with self._lock:
            engines = list({id(e): e for e in self._engines.values()}.values())
            self._engines = {}
        for engine in engines:
            close = getattr(engine, "close", None)
            if callable(close):
                close()


class Pipeline:
    """Prepare threads + one inference thread; see the module docstring."""

    def __init__(self, context: zmq.Context, reply_endpoint: str, engines: EngineProvider, *,
                 body_model: Callable[[Job], tuple[dict, list]], video: Any = None, max_batch: int = 16,
                 batch_wait_ms: float = 2.0, prepare_queue_size: int = 16, infer_queue_size: int = 16,
                 prepare_threads: int = 2, limits: protocol.Limits = protocol.DEFAULT_LIMITS,
                 decode_image: Callable[[Job, protocol.Limits], np.ndarray], models_dir: Any = None) -> None:
        self._context = context
        self._reply_endpoint = reply_endpoint
        self._engines = engines
        self._body_model = body_model
        self._video = video
        self._decode_image = decode_image
        self._max_batch = max_batch
        self._batch_wait_s = batch_wait_ms / 1000.0
        self._limits = limits
        self._prepare_q: queue.Queue[Job] = queue.Queue(maxsize=prepare_queue_size)
        self._infer_q: queue.Queue[Job] = queue.Queue(maxsize=infer_queue_size)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._prepare_loop, name=f"tokenmocap-prepare-{i}", daemon=True)
                         for i in range(prepare_threads)]
        self._threads.append(threading.Thread(target=self._infer_loop, name="tokenmocap-infer", daemon=True))
        self.video = VideoWorker(self, engines, models_dir=models_dir, decode_image=decode_image, limits=limits)
        self._threads.append(threading.Thread(target=self.video.run, name="tokenmocap-video", daemon=True))
        self._local = threading.local()
        self.batch_sizes: list[int] = []  # crops per forward pass, for benchmarks and tests

    # ---------------------------------------------------------------------------------------------- control
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> list[str]:
        """Stop the threads; returns the names of threads still running after ``timeout_s`` (stuck in a forward)."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [thread.name for thread in self._threads if thread.is_alive()]

    def full(self) -> bool:
        """True while the loop must stop reading the socket."""
        return self._prepare_q.full() or self.video.full()

    def submit(self, job: Job) -> bool:
        """Queue a job without blocking; False when its queue is full."""
        if job.kind in VIDEO_TYPES:
            return self.video.submit(job)
        try:
            self._prepare_q.put_nowait(job)
        except queue.Full:
            return False
        return True

    # ---------------------------------------------------------------------------------------------- replies
    def _socket(self) -> zmq.Socket:
        sock = getattr(self._local, "socket", None)
        if sock is None:
            sock = self._context.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._reply_endpoint)
            self._local.socket = sock
        return sock

    def _reply(self, job: Job, header: dict, payloads: list | tuple = (), *, final: bool = True) -> None:
        """Post a reply for the loop to send; ``final=False`` keeps the request pending (streamed replies)."""
        flag = REPLY_FINAL if final else REPLY_MORE
        self._socket().send_multipart([job.key, flag, *protocol.encode(header, payloads)], copy=False)

    def _release(self, job: Job) -> None:
        """Finish a request that needs no (further) reply: the loop forgets it."""
        self._socket().send_multipart([job.key, REPLY_RELEASE])

    def _fail(self, job: Job, code: str, message: str) -> None:
        self._reply(job, protocol.error_header(job.request_id, code, message))

    def _guarded(self, jobs: list[Job], stage: str, func: Callable[[], None]) -> None:
        """Run a stage; any failure becomes an error reply to each job (never a dead thread)."""
        try:
            func()
        except ProtocolError as e:
            for job in jobs:
                self._fail(job, e.code, e.message)
        except EngineUnavailable as e:
            for job in jobs:
                self._fail(job, ErrorCode.NO_MODEL, str(e))
        except ValueError as e:  # engines raise ValueError for input they cannot use (e.g. a box off the image)
            log.info("%s: request rejected: %s", stage, e)
            for job in jobs:
                self._fail(job, ErrorCode.BAD_FIELD, str(e))
        except Exception as e:  # an engine bug must not kill the server: log it and answer `internal`
            log.exception("%s failed for request(s) %s", stage, [job.request_id for job in jobs])
            for job in jobs:
                self._fail(job, ErrorCode.INTERNAL, f"{stage} failed: {type(e).__name__}: {e}")

    # ---------------------------------------------------------------------------------------------- stage 1
    def _prepare_loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    job = self._prepare_q.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if job.cancelled:
                    continue
                self._guarded([job], f"{job.kind} (prepare)", lambda: self._prepare(job))
        finally:
            self._close_socket()

    def _prepare(self, job: Job) -> None:
        start = time.perf_counter()
        job.timing_ms["queue"] = (start - job.received_s) * 1000.0
        if job.kind == MessageType.BODY_MODEL:
            header, payloads = self._body_model(job)
            self._reply(job, header, payloads)
            return
        if job.kind != MessageType.RECONSTRUCT:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"{job.kind} is not handled by this stage", job.request_id)
        job.image = self._decode_image(job, self._limits)
        decoded = time.perf_counter()
        job.timing_ms["decode"] = (decoded - start) * 1000.0
        job.engine = self._engines.get(job.header.get("engine"))
        boxes = job.header.get("boxes")
        job.boxes_xyxy = None if boxes is None else np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        job.image_size_wh = (int(job.image.shape[1]), int(job.image.shape[0]))
        if is_staged(job.engine):
            job.prepared = job.engine.prepare(job.image, job.boxes_xyxy, detector=job.header.get("detector"))
            job.image = None  # the crops are all the forward needs; do not hold full frames in the queues
            job.payloads = []
            job.timing_ms["detect_crop"] = (time.perf_counter() - decoded) * 1000.0
            if job.prepared.num_people == 0:
                self._reply(job, self._result_header(job, []))
                return
        self._put_infer(job)

    def _put_infer(self, job: Job) -> None:
        while not self._stop.is_set():
            try:
                self._infer_q.put(job, timeout=_POLL_S)
                return
            except queue.Full:
                if job.cancelled:
                    return

    # ---------------------------------------------------------------------------------------------- stage 2
    def _infer_loop(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self._gather()
                if not batch:
                    continue
                by_engine: dict[int, list[Job]] = {}
                for job in batch:
                    by_engine.setdefault(id(job.engine), []).append(job)
                for jobs in by_engine.values():
                    self._guarded(jobs, "inference", lambda jobs=jobs: self._infer(jobs))
        finally:
            self._close_socket()

    def _gather(self) -> list[Job]:
        """Jobs for one forward pass: up to max_batch crops, waiting at most batch_wait for more to arrive."""
        try:
            first = self._infer_q.get(timeout=_POLL_S)
        except queue.Empty:
            return []
        jobs = [first]
        crops = _num_crops(first)
        deadline = time.perf_counter() + self._batch_wait_s
        while crops < self._max_batch:
            remaining = deadline - time.perf_counter()
            try:
                job = self._infer_q.get_nowait() if remaining <= 0 else self._infer_q.get(timeout=remaining)
            except queue.Empty:
                break
            jobs.append(job)
            crops += _num_crops(job)
        return [job for job in jobs if not job.cancelled]

    def _infer(self, jobs: list[Job]) -> None:
        engine = jobs[0].engine
        start = time.perf_counter()
        if not is_staged(engine):
            people_lists = engine.reconstruct_batch([job.image for job in jobs],
                                                    [job.boxes_xyxy for job in jobs])
            self.batch_sizes.append(len(jobs))
            elapsed = (time.perf_counter() - start) * 1000.0
            for job, people in zip(jobs, people_lists):
                job.timing_ms["infer"] = elapsed
                self._reply(job, self._result_header(job, people))
            return
        crops = np.concatenate([job.prepared.crops for job in jobs], axis=0)
        chunk = max(1, min(self._max_batch, int(getattr(engine, "max_batch", self._max_batch))))
        parts = []
        for lo in range(0, crops.shape[0], chunk):
            parts.append(engine.infer(crops[lo:lo + chunk]))
            self.batch_sizes.append(min(chunk, crops.shape[0] - lo))
        outputs = {key: np.concatenate([part[key] for part in parts], axis=0) for key in parts[0]}
        elapsed = (time.perf_counter() - start) * 1000.0
        offset = 0
        for job in jobs:
            n = job.prepared.num_people
            mine = {key: value[offset:offset + n] for key, value in outputs.items()}
            offset += n
            job.timing_ms["infer"] = elapsed
            self._guarded([job], "finish", lambda job=job, mine=mine: self._reply(
                job, self._result_header(job, job.engine.finish(job.prepared, mine))))

    def _result_header(self, job: Job, people: list) -> dict:
        job.timing_ms["total"] = (time.perf_counter() - job.received_s) * 1000.0
        return protocol.make_header(
            MessageType.RESULT, job.request_id,
            engine=job.engine.name if job.engine is not None else None,
            image_size=list(job.image_size_wh),
            people=[person.to_json() for person in people],
            timing_ms={key: round(value, 3) for key, value in job.timing_ms.items()},
        )

    def _close_socket(self) -> None:
        sock = getattr(self._local, "socket", None)
        if sock is not None:
            sock.close(linger=0)
            self._local.socket = None


def _num_crops(job: Job) -> int:
    return job.prepared.num_people if job.prepared is not None else 1

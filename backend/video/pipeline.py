"""The threaded video pipeline: decode → detect + crop → batched model → SMPL/camera → caller (track, write).

Stages run in their own threads joined by bounded queues, so decoding and detection of the next frames overlap
the network forward of the current batch, and a slow consumer applies back-pressure instead of filling memory.
With a :class:`~backend.engine.StagedEngine` the model stage assembles batches of crops **across frames** (up to
``batch_crops``, waiting at most ``max_wait_ms`` for more); other engines get whole frames through
``reconstruct_batch``. Frames reach the consumer in order. An exception in any stage stops the others and is
re-raised in the caller's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from backend.results import PersonResult

__all__ = ["PipelineConfig", "StageTimes", "run_pipeline", "engine_is_staged"]

log = logging.getLogger(__name__)

_END = object()
_POLL_S = 0.05


@dataclass(frozen=True)
class PipelineConfig:
    """Pipeline sizes."""

    batch_crops: int = 16  # most crops in one forward pass (staged engines)
    batch_frames: int = 4  # frames per reconstruct_batch call (engines without stages)
    prepare_threads: int = 2  # parallel detect + crop workers (OpenCV and torch release the GIL); order is kept
    max_wait_ms: float = 20.0  # how long the model stage waits to fill a batch once it has some crops
    queue_frames: int = 8  # capacity of each inter-stage queue, in frames

    def __post_init__(self) -> None:
        for name in ("batch_crops", "batch_frames", "queue_frames", "prepare_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"PipelineConfig.{name} must be >= 1; got {getattr(self, name)}")


@dataclass
class StageTimes:
    """Busy seconds per stage and counts, summed over a run (threads overlap, so these add up to more than wall)."""

    seconds: dict = field(default_factory=lambda: defaultdict(float))
    frames: int = 0
    people: int = 0
    batches: int = 0
    wall_s: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:  # several prepare threads add concurrently
            self.seconds[stage] += seconds


def engine_is_staged(engine: object) -> bool:
    """Whether the engine offers prepare / infer / finish (then crops are batched across frames)."""
    return all(callable(getattr(engine, name, None)) for name in ("prepare", "infer", "finish"))


class _Stop(Exception):
    pass


class _Runner:
    def __init__(self, engine: Any, config: PipelineConfig, stop: threading.Event, times: StageTimes) -> None:
        self.engine = engine
        self.config = config
        self.stop = stop
        self.times = times
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def put(self, q: queue.Queue, item: Any) -> None:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.perf_counter() + timeout
        while True:
            if self.stop.is_set():
                raise _Stop
            wait = _POLL_S if deadline is None else min(_POLL_S, max(0.0, deadline - time.perf_counter()))
            try:
                return q.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.perf_counter() >= deadline:
                    raise
                continue

    def thread(self, target: Callable, *args: Any) -> threading.Thread:
        def body() -> None:
            try:
                target(*args)
            except _Stop:
                pass
            except BaseException as e:  # handed to the caller's thread, which re-raises it
                with self._lock:
                    if self.error is None:
                        self.error = e
                self.stop.set()

        t = threading.Thread(target=body, name=f"video-{target.__name__}", daemon=True)
        t.start()
        return t

    # Stages -----------------------------------------------------------------------------------------------
    def decode(self, frames: Iterable[tuple[int, np.ndarray]], out: queue.Queue, n_consumers: int = 1,
               numbered: bool = False) -> None:
        it = iter(frames)
        seq = 0
        while True:
            t0 = time.perf_counter()
            try:
                index, image = next(it)
            except StopIteration:
                break
            self.times.add("decode", time.perf_counter() - t0)
            self.put(out, (seq, index, image) if numbered else (index, image))
            seq += 1
        for _ in range(n_consumers):
            self.put(out, _END)

    def prepare(self, inp: queue.Queue, out: queue.Queue) -> None:
        while True:
            item = self.get(inp)
            if item is _END:
                break
            seq, index, image = item
            t0 = time.perf_counter()
            prepared = self.engine.prepare(image)
            self.times.add("detect+crop", time.perf_counter() - t0)
            self.put(out, (seq, index, image, prepared))
        self.put(out, _END)

    def infer(self, q_in: queue.Queue, out: queue.Queue) -> None:
        inp = _InOrder(self, q_in, self.config.prepare_threads)
        done = False
        while not done:
            batch = []
            n_crops = 0
            item = inp.get()
            if item is _END:
                break
            batch.append(item)
            n_crops += item[2].num_people
            deadline = time.perf_counter() + self.config.max_wait_ms / 1000.0
            while n_crops < self.config.batch_crops:
                try:
                    item = inp.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    break
                if item is _END:
                    done = True
                    break
                batch.append(item)
                n_crops += item[2].num_people
            self._run_batch(batch, out)
        self.put(out, _END)

    def _run_batch(self, batch: list, out: queue.Queue) -> None:
        crops = [p.crops for _, _, p in batch if p.num_people]
        outputs = None
        if crops:
            stacked = np.concatenate(crops, axis=0)
            # Respect the engine's batch limit even when one frame has more people than batch_crops.
            limit = max(1, int(getattr(self.engine, "max_batch", len(stacked)) or len(stacked)))
            parts = []
            t0 = time.perf_counter()
            for s in range(0, len(stacked), limit):
                parts.append(self.engine.infer(stacked[s:s + limit]))
                self.times.batches += 1
            self.times.add("model", time.perf_counter() - t0)
            outputs = {k: np.concatenate([np.asarray(p[k]) for p in parts], axis=0) for k in parts[0]}
        start = 0
        for index, image, prepared in batch:
            n = prepared.num_people
            t0 = time.perf_counter()
            if n:
                mine = {k: v[start:start + n] for k, v in outputs.items()}
                people = self.engine.finish(prepared, mine)
            else:
                people = []
            start += n
            self.times.add("smpl+camera", time.perf_counter() - t0)
            self.put(out, (index, image, people))

    def whole_frames(self, inp: queue.Queue, out: queue.Queue) -> None:
        done = False
        while not done:
            batch = []
            while len(batch) < self.config.batch_frames:
                item = self.get(inp) if not batch else self._get_nowait(inp)
                if item is None:
                    break
                if item is _END:
                    done = True
                    break
                batch.append(item)
            if batch:
                t0 = time.perf_counter()
                results = self.engine.reconstruct_batch([img for _, img in batch])
                self.times.add("model", time.perf_counter() - t0)
                self.times.batches += 1
                for (index, image), people in zip(batch, results):
                    self.put(out, (index, image, list(people)))
        self.put(out, _END)

    def _get_nowait(self, q: queue.Queue) -> Any:
        try:
            return q.get_nowait()
        except queue.Empty:
            return None


class _InOrder:
    """Reads (seq, ...) items from several producers and hands them out in seq order; _END once all ended."""

    def __init__(self, runner: _Runner, q: queue.Queue, n_producers: int) -> None:
        self.runner = runner
        self.q = q
        self.n_producers = n_producers
        self.ended = 0
        self.next_seq = 0
        self.pending: dict[int, tuple] = {}

    def get(self, timeout: float | None = None) -> Any:
        """The next item in order; raises queue.Empty when ``timeout`` passes first."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        while True:
            if self.next_seq in self.pending:
                self.next_seq += 1
                return self.pending.pop(self.next_seq - 1)
            if self.ended == self.n_producers:
                return _END
            remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
            item = self.runner.get(self.q, timeout=remaining)
            if item is _END:
                self.ended += 1
            else:
                self.pending[item[0]] = item[1:]


def run_pipeline(frames: Iterable[tuple[int, np.ndarray]], engine: Any,
                 config: PipelineConfig = PipelineConfig(),
                 stop: threading.Event | None = None) -> Iterator[tuple[int, np.ndarray, list[PersonResult]]]:
    """Runs the engine over frames in background threads.

    Args:
        frames: (index, image_bgr (H, W, 3) uint8) in increasing index order (decoded in its own thread).
        engine: a StagedEngine (batches across frames) or any Engine (``reconstruct_batch`` per group of frames).
        config: batch and queue sizes.
        stop: set it to cancel; the generator then ends after the frame being handed out.
    Yields:
        (index, image_bgr, people) in frame order. Use :func:`run_pipeline_timed` to also get per-stage times.
    """
    yield from run_pipeline_timed(frames, engine, config, stop, StageTimes())


def run_pipeline_timed(frames: Iterable[tuple[int, np.ndarray]], engine: Any, config: PipelineConfig,
                       stop: threading.Event | None, times: StageTimes
                       ) -> Iterator[tuple[int, np.ndarray, list[PersonResult]]]:
    """:func:`run_pipeline` that also fills ``times`` with per-stage busy seconds and counts."""
    stop = stop if stop is not None else threading.Event()
    own_stop = threading.Event()  # stops the worker threads when the consumer leaves early
    runner = _Runner(engine, config, own_stop, times)
    q_dec: queue.Queue = queue.Queue(config.queue_frames)
    q_prep: queue.Queue = queue.Queue(config.queue_frames)
    q_out: queue.Queue = queue.Queue(config.queue_frames)
    if engine_is_staged(engine):
        n_prep = config.prepare_threads
        threads = [runner.thread(runner.decode, frames, q_dec, n_prep, True)]
        threads += [runner.thread(runner.prepare, q_dec, q_prep) for _ in range(n_prep)]
        threads.append(runner.thread(runner.infer, q_prep, q_out))
    else:
        threads = [runner.thread(runner.decode, frames, q_dec),
                   runner.thread(runner.whole_frames, q_dec, q_out)]
    t_start = time.perf_counter()
    try:
        while not stop.is_set():
            try:
                item = runner.get(q_out)
            except _Stop:
                break
            if item is _END:
                break
            times.frames += 1
            times.people += len(item[2])
            yield item
    finally:
        own_stop.set()
        for t in threads:
            t.join(timeout=10.0)
        times.wall_s += time.perf_counter() - t_start
    if runner.error is not None:
        raise runner.error

"""Job state machines for the two long operations, in plain Python (no bpy): image and video reconstruction.

A job sends requests through a :class:`BridgeWorker` and consumes its events. Whenever a character is ready (its
poses and the rest body for its shape have arrived) the job yields a :class:`CharacterReady`; the main thread
builds and keys it with ``blender_io``. ``handle`` never blocks, so a timer or modal tick can drive it.

Image: ``reconstruct`` → ``result`` {people} → one ``body_model`` {betas} per chosen person → ready.
Video: ``video_start`` {fps, options} → ``video_started`` {session} → ``video_frame`` {session, index} + JPEG
(bounded in flight) → ``frame_result`` * → ``video_end`` → ``video_done`` → one ``body_model`` per chosen track
(median betas) → ready.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..core import PosePoint, PoseTrack, RestBodyData, person_pose_from_json, rest_body_from_mapping, stack_track
from . import protocol
from .worker import BridgeEvent, BridgeWorker

__all__ = ["CharacterReady", "JobError", "ImageJob", "VideoJob", "VideoOptions"]

MT = protocol.MessageType


class JobError(RuntimeError):
    """The backend refused or failed a request; the message is the one to show the artist."""


@dataclass(frozen=True)
class CharacterReady:
    """A character the main thread can build: its id, its poses and its rest body."""

    track_id: int  # video track id, or the person's index in the image
    track: PoseTrack  # frames (image: [0]) and poses
    body: RestBodyData  # rest body for ``track.mean_betas()``
    bboxes: np.ndarray  # (T, 4) person boxes in pixels, for pickers and overlays


def _error_text(header: dict) -> str:
    return f"backend error ({header.get('code', '?')}): {header.get('message', 'no message')}"


class _Job:
    def __init__(self, worker: BridgeWorker) -> None:
        self.worker = worker
        self.status = "starting"
        self.progress = 0.0  # 0..1
        self.done = False
        self.cancelled = False
        self.ready: list[CharacterReady] = []
        self._body_requests: dict[str, tuple[int, PoseTrack, np.ndarray]] = {}
        self._main_request: str | None = None
        self._owned: set[str] = set()  # further requests whose errors and timeouts end the job

    def _is_ours(self, request_id: str | None) -> bool:
        return request_id is not None and (
            request_id == self._main_request or request_id in self._body_requests or request_id in self._owned)

    def pump(self) -> None:
        """Send whatever the job has queued (video frames); called every tick on the main thread."""

    def _request_body(self, track_id: int, track: PoseTrack, boxes: np.ndarray) -> None:
        betas = [float(v) for v in track.mean_betas()]
        rid = self.worker.send(MT.BODY_MODEL, {"betas": betas}, timeout_ms=protocol.BODY_MODEL_TIMEOUT_MS)
        self._body_requests[rid] = (track_id, track, boxes)

    def _on_body(self, event: BridgeEvent) -> list[CharacterReady]:
        track_id, track, boxes = self._body_requests.pop(event.request_id)
        data = dict(event.arrays)
        for key in ("joint_names", "parents"):
            if key in event.header and key not in data:
                data[key] = event.header[key]
        body = rest_body_from_mapping(data, where="body_model reply")
        ready = CharacterReady(track_id, track, body, boxes)
        self.ready.append(ready)
        if not self._body_requests:
            self.done = True
            self.status = f"done: {len(self.ready)} character(s)"
            self.progress = 1.0
        return [ready]

    def cancel(self) -> None:
        """Stop: tell the backend to drop the running request; later replies are ignored."""
        if self._main_request is not None and not self.done:
            self.worker.cancel(self._main_request)
        self.cancelled = True
        self.done = True
        self.status = "cancelled"

    def handle(self, event: BridgeEvent) -> list[CharacterReady]:
        """Consume one event; returns the characters that became ready. Raises :class:`JobError`."""
        if self.cancelled:
            return []
        if event.kind == "timeout" and self._is_ours(event.request_id):
            raise JobError(event.message)
        if event.kind == "failure":
            raise JobError(event.message)
        if event.kind != "reply":
            return []
        header = event.header
        if header.get("type") == MT.ERROR and self._is_ours(event.request_id):
            raise JobError(_error_text(header))
        if event.request_id in self._body_requests and header.get("type") == MT.BODY_MODEL:
            return self._on_body(event)
        return self._handle_main(event)

    def _handle_main(self, event: BridgeEvent) -> list[CharacterReady]:
        raise NotImplementedError


class ImageJob(_Job):
    """Reconstruct the people in one image.

    Args:
        worker: a started bridge.
        image_bytes: the encoded image (JPEG or PNG file contents).
        encoding: "jpeg" or "png".
        person_indices: which detected people to build (indices into the result's ``people``); None = all.
        detect_only: stop after the result (fills ``people`` for the picker; builds nothing).
    """

    def __init__(self, worker: BridgeWorker, image_bytes: bytes, encoding: str,
                 person_indices: Sequence[int] | None = None, detect_only: bool = False) -> None:
        super().__init__(worker)
        self.detect_only = detect_only
        if encoding not in ("jpeg", "png"):
            raise ValueError(f"image encoding: expected 'jpeg' or 'png', got {encoding!r}")
        self.person_indices = None if person_indices is None else [int(i) for i in person_indices]
        self.people: list[PosePoint] = []
        self._main_request = worker.send(
            MT.RECONSTRUCT, {"image": {"encoding": encoding, "frame": 1}}, [image_bytes],
            timeout_ms=protocol.REQUEST_TIMEOUT_MS,
        )
        self.status = "reconstructing"

    def _handle_main(self, event: BridgeEvent) -> list[CharacterReady]:
        if event.request_id != self._main_request or event.header.get("type") != MT.RESULT:
            return []
        people = event.header.get("people")
        if not isinstance(people, list):
            raise JobError("backend result: expected a 'people' list in the reply")
        self.people = [person_pose_from_json(p, where=f"people[{i}]") for i, p in enumerate(people)]
        if not self.people:
            raise JobError("no person found in the image; try another image or draw a box around the person")
        if self.detect_only:
            self.done = True
            self.progress = 1.0
            self.status = f"found {len(self.people)} people: pick one in the list or click it in the Image Editor"
            return []
        chosen = range(len(self.people)) if self.person_indices is None else self.person_indices
        bad = [i for i in chosen if not 0 <= i < len(self.people)]
        if bad:
            raise JobError(f"person index {bad[0]} does not exist: the image has {len(self.people)} "
                           f"people (0..{len(self.people) - 1})")
        for i in chosen:
            p = self.people[i]
            self._request_body(i, stack_track([0], [p]), p.bbox_xyxy[None])
        self.status = f"found {len(self.people)} people, building {len(list(chosen))}"
        self.progress = 0.7
        return []


@dataclass(frozen=True)
class VideoOptions:
    """The ``video_start.options`` the backend accepts (``backend.video.VideoOptions``)."""

    smooth: bool = True  # causal One-Euro smoothing of rotations and pelvis on the backend
    batch_frames: int = 1  # frames per batched model call (more = faster on a GPU, more latency)

    def to_json(self) -> dict:
        return {"smooth": bool(self.smooth), "batch_frames": int(self.batch_frames)}


class VideoJob(_Job):
    """Stream video frames to the backend, collect the tracks, then build one character per chosen track.

    Frames are read on the caller's (main) thread by :meth:`pump`, at most ``max_in_flight`` ahead of the
    results; the backend also applies back-pressure by not reading.

    Args:
        worker: a started bridge.
        fps: the video's frame rate.
        frame_indices: video frames to send, increasing (e.g. ``range(first, last + 1)``).
        read_frame: ``read_frame(index) -> JPEG bytes`` (Blender's decoder; called only from :meth:`pump`).
        options: smoothing and batching on the backend.
        track_ids: tracks to build; None = every track with at least ``min_track_frames`` observed frames.
        min_track_frames: shorter tracks (usually false detections) are skipped when ``track_ids`` is None.
        max_in_flight: frames sent but not yet answered (keep above the tracker's confirmation delay).
        stall_timeout_ms: fail when frames are in flight and nothing arrives for this long.
    """

    def __init__(self, worker: BridgeWorker, fps: float, frame_indices: Sequence[int],
                 read_frame: Callable[[int], bytes], options: VideoOptions = VideoOptions(),
                 track_ids: Sequence[int] | None = None, min_track_frames: int = 5, max_in_flight: int = 16,
                 stall_timeout_ms: int = protocol.REQUEST_TIMEOUT_MS) -> None:
        super().__init__(worker)
        self.fps = float(fps)
        self.frame_indices = [int(i) for i in frame_indices]
        if not self.frame_indices:
            raise ValueError("video: the frame range is empty")
        if any(b <= a for a, b in zip(self.frame_indices, self.frame_indices[1:])):
            raise ValueError("video: frame indices must increase")
        self.read_frame = read_frame
        self.track_ids = None if track_ids is None else {int(t) for t in track_ids}
        self.min_track_frames = int(min_track_frames)
        self.max_in_flight = int(max_in_flight)
        self.stall_timeout_s = stall_timeout_ms / 1000.0
        self.session: str | None = None
        self.frames_sent = 0
        self.frames_done = 0
        self.frames_total = len(self.frame_indices)
        self._ended = False
        self._last_progress = time.monotonic()
        self._points: dict[int, dict[int, PosePoint]] = {}
        self._main_request = worker.send(MT.VIDEO_START, {"fps": self.fps, "options": options.to_json()},
                                         timeout_ms=protocol.REQUEST_TIMEOUT_MS)
        self.status = "starting video"

    def cancel(self) -> None:
        """Stop: cancel the backend's session (or the pending ``video_start``); later replies are ignored."""
        if self.session is not None and not self.done:
            self.worker.cancel(self.session)
            self._main_request = None  # the session is cancelled, not the start request
        super().cancel()

    def pump(self) -> None:
        """Send the next frames while fewer than ``max_in_flight`` are unanswered; then ``video_end``."""
        if self.session is None or self._ended or self.done:
            return
        while self.frames_sent < self.frames_total and self.frames_sent - self.frames_done < self.max_in_flight:
            index = self.frame_indices[self.frames_sent]
            data = self.read_frame(index)
            rid = self.worker.send(MT.VIDEO_FRAME, {"session": self.session, "index": index,
                                                    "image": {"encoding": "jpeg", "frame": 1}}, [data], timeout_ms=0)
            self._owned.add(rid)
            self.frames_sent += 1
        if self.frames_sent == self.frames_total:
            self._owned.add(self.worker.send(MT.VIDEO_END, {"session": self.session},
                                             timeout_ms=protocol.REQUEST_TIMEOUT_MS))
            self._ended = True
            self.status = "finishing the video"
        elif self.frames_sent > self.frames_done and time.monotonic() - self._last_progress > self.stall_timeout_s:
            raise JobError(f"the backend stopped answering: {self.frames_sent - self.frames_done} frames sent "
                           f"without a result for {self.stall_timeout_s:.0f} s")

    def _handle_main(self, event: BridgeEvent) -> list[CharacterReady]:
        header = event.header
        kind = header.get("type")
        if kind == MT.VIDEO_STARTED and event.request_id == self._main_request:
            session = header.get("session")
            if not isinstance(session, str) or not session:
                raise JobError(f"backend video_started: expected a 'session' string, got {session!r}")
            self.session = session
            latency = header.get("latency_frames")
            if isinstance(latency, int) and latency >= 0:
                # Results lag the input by up to `latency` frames: keep more than that in flight or nothing returns.
                self.max_in_flight = max(self.max_in_flight, latency + 2)
            self.status = "tracking"
            self._last_progress = time.monotonic()
        elif kind == MT.FRAME_RESULT and self.session is not None and header.get("session") == self.session:
            self._on_frame(header)
        elif kind == MT.VIDEO_DONE and self.session is not None and header.get("session", self.session) == self.session:
            self._on_done()
        return []

    def _on_frame(self, header: dict) -> None:
        index = header.get("index")
        tracks = header.get("tracks")
        if not isinstance(index, int) or not isinstance(tracks, list):
            raise JobError(f"backend frame_result: expected 'index' (int) and 'tracks' (list), got {sorted(header)}")
        for t in tracks:
            if not isinstance(t, dict) or t.get("state") != "observed":
                continue  # "predicted" states are the tracker's guesses while a person is hidden
            tid = int(t["track_id"])
            # TrackState.to_json puts the person's fields beside track_id/state; a nested "person" is accepted too.
            person = t["person"] if "person" in t else t
            self._points.setdefault(tid, {})[index] = person_pose_from_json(person, where=f"frame {index} track {tid}")
        self.frames_done += 1
        self._last_progress = time.monotonic()
        self.progress = min(0.9, 0.9 * self.frames_done / self.frames_total)
        self.status = f"frame {self.frames_done}/{self.frames_total}"

    def _on_done(self) -> None:
        chosen = []
        for tid, points in sorted(self._points.items()):
            if self.track_ids is not None:
                if tid in self.track_ids:
                    chosen.append(tid)
            elif len(points) >= self.min_track_frames:
                chosen.append(tid)
        if self.track_ids is not None and (missing := sorted(self.track_ids - set(self._points))):
            raise JobError(f"track {missing[0]} does not exist; the video has tracks {sorted(self._points)}")
        if not chosen:
            raise JobError(f"no person tracked for at least {self.min_track_frames} frames in the video "
                           f"(tracks found: {sorted(self._points) or 'none'})")
        for tid in chosen:
            frames = sorted(self._points[tid])
            pts = [self._points[tid][f] for f in frames]
            self._request_body(tid, stack_track(frames, pts), np.stack([p.bbox_xyxy for p in pts]))
        self.status = f"building {len(chosen)} character(s)"
        self.progress = 0.95

"""Job state machines for the two long operations, in plain Python (no bpy): image and video reconstruction.

A job sends requests through a :class:`BridgeWorker` and consumes its events. Whenever a character is ready (its
poses and the rest body for its shape have arrived) the job yields a :class:`CharacterReady`; the main thread
builds and keys it with ``blender_io``. ``handle`` never blocks, so a timer or modal tick can drive it.

Image: ``reconstruct`` → ``result`` {people} → one ``body_model`` {betas} per chosen person → ready.
Video: ``video_start`` {fps, path, options} → ``video_started`` {session} → ``frame_result`` * →
``video_done`` → one ``body_model`` per chosen track (median betas) → ready.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core import PosePoint, PoseTrack, RestBodyData, person_pose_from_json, rest_body_from_mapping, stack_track
from . import protocol
from .worker import BridgeEvent, BridgeWorker

__all__ = ["CharacterReady", "JobError", "ImageJob", "VideoJob", "VideoOptions"]

_log = logging.getLogger(__name__)
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
        if event.kind == "timeout" and (event.request_id == self._main_request or event.request_id in self._body_requests):
            raise JobError(event.message)
        if event.kind == "failure":
            raise JobError(event.message)
        if event.kind != "reply":
            return []
        header = event.header
        if header.get("type") == MT.ERROR and (
            event.request_id == self._main_request or event.request_id in self._body_requests
        ):
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
    """

    def __init__(self, worker: BridgeWorker, image_bytes: bytes, encoding: str,
                 person_indices: Sequence[int] | None = None) -> None:
        super().__init__(worker)
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
    """Video request options (sent as ``video_start.options``; the backend defines their meaning)."""

    frame_start: int = 0  # first video frame to process
    frame_end: int = -1  # last video frame (inclusive); -1 = to the end
    smoothing: str = "one_euro"  # temporal filter name, "none" to disable
    smoothing_strength: float = 0.5  # 0..1, filter strength
    extra: dict = field(default_factory=dict)  # further backend options, passed through


class VideoJob(_Job):
    """Track and reconstruct every person in a video file the (local) backend reads itself.

    Args:
        worker: a started bridge.
        path: the video file (a path the backend can open).
        fps: the video's frame rate.
        options: frame range and smoothing.
        track_ids: tracks to build; None = every track with at least ``min_track_frames`` frames.
        min_track_frames: shorter tracks (usually false detections) are skipped when ``track_ids`` is None.
    """

    def __init__(self, worker: BridgeWorker, path: str, fps: float, options: VideoOptions = VideoOptions(),
                 track_ids: Sequence[int] | None = None, min_track_frames: int = 5) -> None:
        super().__init__(worker)
        self.fps = float(fps)
        self.track_ids = None if track_ids is None else {int(t) for t in track_ids}
        self.min_track_frames = int(min_track_frames)
        self.session: str | None = None
        self.frames_done = 0
        self.frames_total = None if options.frame_end < 0 else options.frame_end - options.frame_start + 1
        self._points: dict[int, dict[int, PosePoint]] = {}
        opts = {"frame_start": options.frame_start, "frame_end": options.frame_end, "smoothing": options.smoothing,
                "smoothing_strength": options.smoothing_strength, **options.extra}
        # The request stays alive while frame results stream in; each one restarts its timeout.
        self._main_request = worker.send(MT.VIDEO_START, {"fps": self.fps, "path": str(path), "options": opts},
                                         timeout_ms=protocol.REQUEST_TIMEOUT_MS)
        self.status = "starting video"

    def _handle_main(self, event: BridgeEvent) -> list[CharacterReady]:
        header = event.header
        kind = header.get("type")
        if kind == MT.VIDEO_STARTED and event.request_id == self._main_request:
            self.session = header.get("session")
            if isinstance(header.get("frames"), int):
                self.frames_total = header["frames"]
            self.status = "tracking"
        elif kind == MT.FRAME_RESULT and (self.session is None or header.get("session") == self.session):
            self._on_frame(header)
        elif kind == MT.VIDEO_DONE and (event.request_id == self._main_request or header.get("session") == self.session):
            self._on_done()
        elif kind == MT.ERROR and header.get("session") == self.session and self.session is not None:
            raise JobError(_error_text(header))
        return []

    def _on_frame(self, header: dict) -> None:
        index = header.get("index")
        tracks = header.get("tracks")
        if not isinstance(index, int) or not isinstance(tracks, list):
            raise JobError(f"backend frame_result: expected 'index' (int) and 'tracks' (list), got {sorted(header)}")
        for t in tracks:
            if t.get("state") != "observed":
                continue  # predicted states are the tracker's guesses while a person is hidden
            tid = int(t["track_id"])
            self._points.setdefault(tid, {})[index] = person_pose_from_json(
                t.get("person"), where=f"frame {index} track {tid}")
        self.frames_done += 1
        if self.frames_total:
            self.progress = min(0.9, 0.9 * self.frames_done / self.frames_total)
        self.status = f"frame {self.frames_done}" + (f"/{self.frames_total}" if self.frames_total else "")

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
            raise JobError(f"no person tracked for at least {self.min_track_frames} frames in the video")
        for tid in chosen:
            frames = sorted(self._points[tid])
            pts = [self._points[tid][f] for f in frames]
            self._request_body(tid, stack_track(frames, pts), np.stack([p.bbox_xyxy for p in pts]))
        self.status = f"building {len(chosen)} character(s)"
        self.progress = 0.95

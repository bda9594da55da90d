"""``VideoSession``: the streaming form of video mocap that the server's ``video_*`` handlers drive.

Frames are pushed one at a time (in increasing index order); results come back per frame with stable track ids,
causally smoothed (One-Euro on 6D rotations and on the pelvis, a running robust betas per track), after a fixed
delay of ``n_init − 1`` frames (track confirmation, see :class:`~.tracker.ConfirmationBuffer`) plus whatever the
frame batch holds back. ``flush()`` at the end releases everything. Optionally every finished frame is appended
to a crash-safe job file (:class:`~.jobs.FrameLog`), the same records ``tokenmocap mocap`` writes.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from backend.results import PersonResult

from .jobs import FrameLog
from .people_tracking import PeopleTracker, TrackedPerson, frame_appearances, person_rotmats
from .rotations import rot6d_to_rotmat, rotmat_to_6d, rotmat_to_axis_angle
from .skeleton import SkeletonModel, skeleton_for_engine
from .smoothing import OneEuroFilter, SmoothingConfig, robust_betas
from .sequences import frame_record
from .tracker import TrackerConfig

__all__ = ["VideoOptions", "TrackState", "FrameResult", "VideoSession"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoOptions:
    """Options of a streaming session (the ``options`` object of ``video_start``)."""

    smooth: bool = True  # causal One-Euro smoothing of the streamed results
    batch_frames: int = 1  # frames collected before one batched model call (more = faster, more latency)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    betas_window: int = 90  # observed frames kept for the running per-track betas

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> "VideoOptions":
        """From the wire ``options``: ``smooth`` (bool), ``batch_frames`` (int >= 1); other keys are rejected."""
        obj = dict(obj or {})
        unknown = sorted(set(obj) - {"smooth", "batch_frames"})
        if unknown:
            raise ValueError(f"video options: unknown keys {unknown}; expected any of ['batch_frames', 'smooth']")
        smooth = obj.get("smooth", True)
        batch = obj.get("batch_frames", 1)
        if not isinstance(smooth, bool):
            raise ValueError(f"video options: 'smooth' must be true or false; got {smooth!r}")
        if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 64:
            raise ValueError(f"video options: 'batch_frames' must be an integer in [1, 64]; got {batch!r}")
        return cls(smooth=smooth, batch_frames=batch)


@dataclass(frozen=True)
class TrackState:
    """One track in one streamed frame: ``state`` is "observed" or "predicted"."""

    track_id: int
    state: str
    person: PersonResult

    def to_json(self) -> dict:
        return {"track_id": self.track_id, "state": self.state, **self.person.to_json()}


@dataclass(frozen=True)
class FrameResult:
    """All tracks of one frame (the ``frame_result`` message body)."""

    index: int
    tracks: list[TrackState]

    def to_json(self) -> dict:
        return {"index": self.index, "tracks": [t.to_json() for t in self.tracks]}


class _TrackSmoother:
    def __init__(self, fps: float, cfg: SmoothingConfig, betas_window: int) -> None:
        self.rot = OneEuroFilter(fps, cfg.rot_min_cutoff_hz, cfg.rot_beta, cfg.d_cutoff_hz, cfg.order)
        self.pelvis = OneEuroFilter(fps, cfg.transl_min_cutoff_hz, cfg.transl_beta, cfg.d_cutoff_hz, cfg.order)
        self.betas: deque = deque(maxlen=betas_window)
        self.scores: deque = deque(maxlen=betas_window)
        self.trim = cfg.betas_trim


class VideoSession:
    """Streaming video mocap over one engine.

    Args:
        engine: a loaded Engine (``reconstruct_batch`` is used, so staged engines batch crops of all the frames
            of a ``batch_frames`` group).
        fps: frame rate of the stream (smoothing time constants depend on it).
        options: :class:`VideoOptions` or its wire dict.
        skeleton: rest joints for the pelvis (J0(β)); None: :func:`~.skeleton.skeleton_for_engine` (the
            engine's SMPL, else the SMPL installed in ``models_dir``, else the mannequin).
        models_dir: installed-models folder used when ``skeleton`` is None (default: the user's models folder).
        frame_log_path: optional ``frames.jsonl`` to append each finished frame to (crash-safe).
    """

    def __init__(self, engine: Any, fps: float, options: VideoOptions | Mapping[str, Any] | None = None, *,
                 skeleton: SkeletonModel | None = None, models_dir: str | Path | None = None,
                 frame_log_path: str | Path | None = None) -> None:
        if not fps or not np.isfinite(float(fps)) or float(fps) <= 0:
            raise ValueError(f"VideoSession: fps must be a positive number; got {fps!r}")
        self.engine = engine
        self.fps = float(fps)
        self.options = options if isinstance(options, VideoOptions) else VideoOptions.from_json(options)
        self.skeleton = skeleton if skeleton is not None else skeleton_for_engine(engine, models_dir)
        self._tracker = PeopleTracker(self.skeleton, self.options.tracker)
        self._pending: list[tuple[int, np.ndarray]] = []
        self._ready: deque[FrameResult] = deque()
        self._smoothers: dict[int, _TrackSmoother] = {}
        self._last_index: int | None = None
        self._log = FrameLog(frame_log_path) if frame_log_path is not None else None
        self.frames_in = 0
        self.frames_out = 0

    @property
    def latency_frames(self) -> int:
        """Frames between pushing a frame and its result, at most (batch + confirmation delay)."""
        return self.options.batch_frames - 1 + self._tracker.delay

    def push_frame(self, index: int, image_bgr: np.ndarray) -> None:
        """Adds one frame (BGR uint8 (H, W, 3)); indices must increase (gaps are missed frames)."""
        if not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"video frame index must be a non-negative integer; got {index!r}")
        last = self._pending[-1][0] if self._pending else self._last_index
        if last is not None and index <= last:
            raise ValueError(f"video frame index {index} is not after the previous frame {last}; send frames in order")
        if not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3 \
                or image_bgr.dtype != np.uint8:
            got = getattr(image_bgr, "shape", type(image_bgr).__name__)
            raise ValueError(f"video frame {index}: expected a (H, W, 3) uint8 BGR image; got {got}")
        self._pending.append((int(index), image_bgr))
        self.frames_in += 1
        if len(self._pending) >= self.options.batch_frames:
            self._process_pending()

    def results(self) -> Iterator[FrameResult]:
        """Yields the frame results that are ready (in frame order) and forgets them."""
        while self._ready:
            self.frames_out += 1
            yield self._ready.popleft()

    def flush(self) -> Iterator[FrameResult]:
        """End of stream: processes held frames, releases every remaining result, closes the job file."""
        self._process_pending()
        for index, tracked in self._tracker.flush():
            self._ready.append(self._finish(index, tracked))
        if self._log is not None:
            self._log.close()
        yield from self.results()

    def close(self) -> None:
        """Cancels: drops held frames and closes the job file (finished frames stay on disk)."""
        self._pending.clear()
        if self._log is not None:
            self._log.close()

    # ------------------------------------------------------------------------------------------------------------
    def _process_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        people_per_frame = self.engine.reconstruct_batch([img for _, img in batch])
        for (index, image), people in zip(batch, people_per_frame):
            people = list(people)
            apps = frame_appearances(image, people)
            if self._log is not None:
                self._log.append(frame_record(index, people, apps))
            self._last_index = index
            for out_index, tracked in self._tracker.push(index, people, apps, (image.shape[1], image.shape[0])):
                self._ready.append(self._finish(out_index, tracked))

    def _finish(self, index: int, tracked: list[TrackedPerson]) -> FrameResult:
        states = [TrackState(tp.track_id, tp.state, self._smooth(tp)) for tp in tracked]
        return FrameResult(index, states)

    def _smooth(self, tp: TrackedPerson) -> PersonResult:
        person = tp.person
        sm = self._smoothers.get(tp.track_id)
        if sm is None:
            sm = self._smoothers[tp.track_id] = _TrackSmoother(self.fps, self.options.smoothing,
                                                                self.options.betas_window)
        if tp.state == "observed":
            sm.betas.append(np.asarray(person.betas, dtype=np.float64).reshape(-1))
            sm.scores.append(float(person.score))
        betas = robust_betas(np.stack(sm.betas), sm.trim, np.asarray(sm.scores)) if sm.betas else \
            np.asarray(person.betas, dtype=np.float64)
        pelvis = self.skeleton.pelvis_cam(person.betas, person.cam_t_full)
        if not self.options.smooth:
            return replace(person, betas=betas, cam_t_full=pelvis - self.skeleton.rest_joints(betas)[0])
        rot6 = sm.rot(rotmat_to_6d(person_rotmats(person)).reshape(-1)).reshape(24, 6)
        pelvis = sm.pelvis(pelvis)
        aa = rotmat_to_axis_angle(rot6d_to_rotmat(rot6))
        # Keep the pelvis where it was seen: the SMPL origin moves with the track's betas.
        cam_t = pelvis - self.skeleton.rest_joints(betas)[0]
        return replace(person, global_orient=aa[0], body_pose=aa[1:], betas=betas, cam_t_full=cam_t)

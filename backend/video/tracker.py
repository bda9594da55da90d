"""A PHALP-style multi-person tracker on 3D location, SMPL pose and appearance (PHALP itself does not install).

Per frame: predict every track's pelvis with a constant-velocity fit over its last observations, build one cost
matrix between tracks and detections, solve it with the Hungarian algorithm, then update the track lifecycle.

Cost (PHALP's ``EQ_019`` is a product of factors ``(1+β_A·A)(1+β_P·P)·exp(L)``; we minimise the sum of their logs,
which keeps the same factors but is additive for the assignment):

    cost = L + log(1 + w_appearance·A) + log(1 + w_pose·P)
    L = |Δxy| / σ_xy(Δt) + |log(z_det / z_pred)| / σ_logz(Δt)

- ``L``: pelvis distance to the prediction in camera space; x/y in metres and depth as a log ratio (depth from a
  monocular HMR camera is much less certain than x/y, see tracking_perf_anchors.md §1.2). Both tolerances grow
  with the frames since the last observation, as PHALP's prediction intervals do. ``L > gate`` forbids the match.
- ``P``: mean over the 24 joints of ``1 − cos θ`` between the track's last pose and the detection's (in [0, 2]),
  clipped at ``pose_clip`` (PHALP clips its pose distance at 1.5).
- ``A``: Hellinger distance between appearance embeddings (:mod:`.appearance`), tracks keep a running average.

Lifecycle (PHALP / deep_sort): a new track is tentative; ``n_init`` consecutive hits confirm it (it then gets its
public ``track_id``, 1, 2, … in confirmation order, never reused); a tentative track dies on its first miss; a
confirmed track survives ``max_age`` missed frames and is reported as ``predicted`` (constant-velocity pelvis, last
pose) for the first ``max_predict`` of them. PHALP writes stale copies of the last detection with no flag; we mark
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from .appearance import appearance_distance

__all__ = ["Detection", "TrackerConfig", "TrackOutput", "Tracker", "ConfirmationBuffer", "pose_distance"]


@dataclass(frozen=True)
class Detection:
    """Features of one detected person in one frame.

    Attributes:
        pelvis_cam: (3,) pelvis in the camera frame, metres (J0(β) + cam_t_full); z > 0.
        rotmats: (24, 3, 3) global_orient then body_pose rotation matrices.
        appearance: (D,) appearance embedding (:func:`~.appearance.appearance_embedding`).
        payload: anything the caller wants back with the track (e.g. the PersonResult).
    """

    pelvis_cam: np.ndarray
    rotmats: np.ndarray
    appearance: np.ndarray
    payload: Any = None


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker parameters (frames are video frames; distances in metres)."""

    n_init: int = 3  # consecutive hits that confirm a track (PHALP: 5; fewer means less output latency)
    max_age: int = 30  # missed frames after which a confirmed track is deleted (PHALP: 50)
    max_predict: int = 15  # missed frames reported as "predicted" (must be <= max_age)
    history: int = 8  # observations used for the constant-velocity fit (PHALP: 7)
    velocity_ridge: float = 2.0  # ridge on the velocity fit, frames²: shrinks noisy short histories towards 0
    sigma_xy_m: float = 0.2  # x/y tolerance right after an observation
    sigma_xy_growth_m: float = 0.05  # added per missed frame
    sigma_logz: float = 0.15  # depth tolerance (log ratio) right after an observation
    sigma_logz_growth: float = 0.02  # added per missed frame
    gate: float = 6.0  # largest location term L that may still match
    w_appearance: float = 8.0  # appearance factor weight
    w_pose: float = 2.0  # pose factor weight
    pose_clip: float = 1.5  # clip of the pose distance P
    max_cost: float = 8.0  # matches costing more are rejected
    appearance_momentum: float = 0.2  # weight of a new observation in the track's running appearance

    def __post_init__(self) -> None:
        if self.n_init < 1:
            raise ValueError(f"TrackerConfig.n_init must be >= 1; got {self.n_init}")
        if not 0 <= self.max_predict <= self.max_age:
            raise ValueError(f"TrackerConfig: need 0 <= max_predict <= max_age; got {self.max_predict}, {self.max_age}")
        if self.history < 1:
            raise ValueError(f"TrackerConfig.history must be >= 1; got {self.history}")


@dataclass(frozen=True)
class TrackOutput:
    """One track's state after a frame.

    Attributes:
        track_id: public id (>= 1) once confirmed, else None.
        internal_id: id given at birth (also for tentative tracks), used to back-fill a track's first frames.
        state: "observed" (matched a detection this frame) or "predicted".
        detection_index: index into this frame's detections when observed, else None.
        pelvis_cam: (3,) observed or predicted pelvis, camera frame, metres.
        frames_since_observed: 0 when observed.
        payload: the matched detection's payload, or the last observed one when predicted.
    """

    track_id: int | None
    internal_id: int
    state: str
    detection_index: int | None
    pelvis_cam: np.ndarray
    frames_since_observed: int
    payload: Any


@dataclass
class _Track:
    internal_id: int
    frames: list = field(default_factory=list)  # frame indices of observations (last `history`)
    positions: list = field(default_factory=list)  # pelvis of those observations
    rotmats: np.ndarray | None = None
    appearance: np.ndarray | None = None
    payload: Any = None
    hits: int = 0
    track_id: int | None = None
    last_frame: int = -1

    def predict(self, frame: int, ridge: float) -> np.ndarray:
        t = np.asarray(self.frames, dtype=np.float64)
        p = np.asarray(self.positions)
        t_mean, p_mean = t.mean(), p.mean(0)
        dt = t - t_mean
        vel = (dt[:, None] * (p - p_mean)).sum(0) / ((dt * dt).sum() + ridge)
        # Extrapolate from the last observation (not the fit's centre) so a track is predicted where it was last
        # seen plus its motion; the ridge fit only supplies the velocity.
        return p[-1] + vel * (frame - t[-1])


def pose_distance(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Mean over joints of ``1 − cos θ`` between poses: rot_a (N, J, 3, 3), rot_b (M, J, 3, 3) → (N, M) in [0, 2]."""
    a = np.asarray(rot_a, dtype=np.float64)
    b = np.asarray(rot_b, dtype=np.float64)
    # trace(A_j^T B_j) = sum of element-wise products; cos θ = (trace − 1) / 2.
    tr = np.einsum("njab,mjab->nmj", a, b)
    return np.mean(1.0 - (tr - 1.0) / 2.0, axis=-1)


class Tracker:
    """Online tracker; call :meth:`update` once per frame, in frame order.

    Args:
        config: tracker parameters.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._tracks: list[_Track] = []
        self._next_internal = 1
        self._next_public = 1
        self._last_frame: int | None = None
        self._public: dict[int, int] = {}  # internal id -> public track id, kept after the track dies

    def public_id(self, internal_id: int) -> int | None:
        """The public ``track_id`` a track got on confirmation (also after it died), or None."""
        return self._public.get(internal_id)

    @property
    def num_tracks(self) -> int:
        """Live tracks (tentative and confirmed)."""
        return len(self._tracks)

    def cost_matrix(self, frame: int, detections: list[Detection]) -> np.ndarray:
        """(T, D) association cost of the live tracks against ``detections`` (inf where gated out)."""
        cfg = self.config
        n_t, n_d = len(self._tracks), len(detections)
        if n_t == 0 or n_d == 0:
            return np.zeros((n_t, n_d))
        det_pos = np.stack([np.asarray(d.pelvis_cam, dtype=np.float64) for d in detections])
        pred = np.stack([t.predict(frame, cfg.velocity_ridge) for t in self._tracks])
        missed = np.array([frame - t.last_frame - 1 for t in self._tracks], dtype=np.float64)
        sig_xy = cfg.sigma_xy_m + cfg.sigma_xy_growth_m * missed
        sig_z = cfg.sigma_logz + cfg.sigma_logz_growth * missed
        d_xy = np.linalg.norm(pred[:, None, :2] - det_pos[None, :, :2], axis=-1)
        d_z = np.abs(np.log(np.maximum(det_pos[None, :, 2], 1e-3) / np.maximum(pred[:, None, 2], 1e-3)))
        loc = d_xy / sig_xy[:, None] + d_z / sig_z[:, None]
        app = appearance_distance(np.stack([t.appearance for t in self._tracks]),
                                  np.stack([d.appearance for d in detections]))
        pose = np.minimum(pose_distance(np.stack([t.rotmats for t in self._tracks]),
                                        np.stack([d.rotmats for d in detections])), cfg.pose_clip)
        cost = loc + np.log1p(cfg.w_appearance * app) + np.log1p(cfg.w_pose * pose)
        return np.where(loc > cfg.gate, np.inf, cost)

    def update(self, frame: int, detections: list[Detection]) -> list[TrackOutput]:
        """Associates one frame's detections and returns every live track's state after it.

        Args:
            frame: frame index; strictly increasing between calls (gaps count as missed frames).
            detections: this frame's people.
        Returns:
            Outputs for observed tracks (tentative included, ``track_id`` None) and predicted confirmed tracks,
            ordered by internal id.
        """
        if self._last_frame is not None and frame <= self._last_frame:
            raise ValueError(f"Tracker.update: frames must increase; got {frame} after {self._last_frame}")
        self._last_frame = frame
        cfg = self.config
        cost = self.cost_matrix(frame, detections)
        matches: list[tuple[int, int]] = []
        if cost.size:
            finite = np.where(np.isfinite(cost), cost, 1e9)
            rows, cols = linear_sum_assignment(finite)
            matches = [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= cfg.max_cost]
        matched_t = {r for r, _ in matches}
        matched_d = {c for _, c in matches}
        out: list[TrackOutput] = []
        for r, c in matches:
            track, det = self._tracks[r], detections[c]
            self._observe(track, frame, det)
            out.append(self._output(track, frame, "observed", c, track.positions[-1]))
        survivors = []
        for i, track in enumerate(self._tracks):
            if i in matched_t:
                survivors.append(track)
                continue
            missed = frame - track.last_frame
            if track.track_id is None or missed > cfg.max_age:
                continue  # tentative tracks die on their first miss; old confirmed ones expire
            survivors.append(track)
            if missed <= cfg.max_predict:
                out.append(self._output(track, frame, "predicted", None, track.predict(frame, cfg.velocity_ridge)))
        for c, det in enumerate(detections):
            if c in matched_d:
                continue
            track = _Track(internal_id=self._next_internal)
            self._next_internal += 1
            self._observe(track, frame, det)
            survivors.append(track)
            out.append(self._output(track, frame, "observed", c, track.positions[-1]))
        self._tracks = sorted(survivors, key=lambda t: t.internal_id)
        return sorted(out, key=lambda o: o.internal_id)

    def _observe(self, track: _Track, frame: int, det: Detection) -> None:
        cfg = self.config
        track.frames = (track.frames + [frame])[-cfg.history:]
        track.positions = (track.positions + [np.asarray(det.pelvis_cam, dtype=np.float64)])[-cfg.history:]
        track.rotmats = np.asarray(det.rotmats, dtype=np.float64)
        app = np.asarray(det.appearance, dtype=np.float64)
        m = cfg.appearance_momentum
        track.appearance = app if track.appearance is None else (1 - m) * track.appearance + m * app
        track.payload = det.payload
        track.hits += 1
        track.last_frame = frame
        if track.track_id is None and track.hits >= cfg.n_init:
            track.track_id = self._next_public
            self._public[track.internal_id] = track.track_id
            self._next_public += 1

    @staticmethod
    def _output(track: _Track, frame: int, state: str, det_index: int | None, pelvis: np.ndarray) -> TrackOutput:
        missed = frame - track.last_frame
        return TrackOutput(track.track_id, track.internal_id, state, det_index, np.asarray(pelvis, dtype=np.float64),
                           missed, track.payload)


class ConfirmationBuffer:
    """Holds each frame's track outputs ``n_init − 1`` frames, so a track's tentative frames come out with its id.

    A tentative track dies on its first miss, so a confirmed track was confirmed exactly ``n_init − 1`` frames after
    its birth: after that delay every output either belongs to a confirmed track (reported with its public id) or
    to a track that died tentative (dropped as a false detection). The delay is the output latency PHALP hides by
    back-filling records it has already written; streaming clients see it as a fixed delay instead.

    Args:
        tracker: the tracker whose outputs are pushed (for the internal → public id mapping).
    """

    def __init__(self, tracker: Tracker) -> None:
        self._tracker = tracker
        self.delay = tracker.config.n_init - 1
        self._pending: list[tuple[int, list[TrackOutput]]] = []

    def push(self, frame: int, outputs: list[TrackOutput]) -> list[tuple[int, list[TrackOutput]]]:
        """Adds one frame; returns the frames now old enough, as (frame, confirmed outputs) in frame order."""
        self._pending.append((frame, outputs))
        ready = [p for p in self._pending if p[0] <= frame - self.delay]
        self._pending = [p for p in self._pending if p[0] > frame - self.delay]
        return [self._resolve(f, outs) for f, outs in ready]

    def flush(self) -> list[tuple[int, list[TrackOutput]]]:
        """Releases every held frame (end of stream); tracks still tentative are dropped."""
        ready, self._pending = self._pending, []
        return [self._resolve(f, outs) for f, outs in ready]

    def _resolve(self, frame: int, outputs: list[TrackOutput]) -> tuple[int, list[TrackOutput]]:
        kept = []
        for o in outputs:
            public = self._tracker.public_id(o.internal_id)
            if public is not None:
                kept.append(TrackOutput(public, o.internal_id, o.state, o.detection_index, o.pelvis_cam,
                                        o.frames_since_observed, o.payload))
        return frame, sorted(kept, key=lambda o: o.track_id)

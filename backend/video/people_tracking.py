"""Tracking of engine results: PersonResult per frame in, confirmed tracks per frame out (with a fixed delay).

Glue between the engine's per-person schema and the feature-level :class:`~.tracker.Tracker`: it computes each
person's tracking features (pelvis = J0(β) + cam_t_full, 24 rotation matrices, appearance), runs the tracker and
the confirmation buffer, and turns predicted states into PersonResults moved to the predicted pelvis.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from backend.results import PersonResult

from .appearance import appearance_embedding
from .rotations import axis_angle_to_rotmat
from .skeleton import SkeletonModel
from .tracker import ConfirmationBuffer, Detection, Tracker, TrackerConfig

__all__ = ["TrackedPerson", "PeopleTracker", "person_rotmats", "moved_person", "frame_appearances"]


@dataclass(frozen=True)
class TrackedPerson:
    """One track in one frame.

    Attributes:
        track_id: public id (>= 1), stable over the clip.
        state: "observed" or "predicted".
        person: the observed result, or for "predicted" the last observed one moved to the predicted pelvis.
        frames_since_observed: 0 when observed.
    """

    track_id: int
    state: str
    person: PersonResult
    frames_since_observed: int


def person_rotmats(person: PersonResult) -> np.ndarray:
    """(24, 3, 3) rotation matrices: global_orient then body_pose."""
    aa = np.concatenate([np.asarray(person.global_orient, dtype=np.float64).reshape(1, 3),
                         np.asarray(person.body_pose, dtype=np.float64).reshape(23, 3)])
    return axis_angle_to_rotmat(aa)


def moved_person(person: PersonResult, pelvis_from: np.ndarray, pelvis_to: np.ndarray) -> PersonResult:
    """The same person translated so its pelvis moves from ``pelvis_from`` to ``pelvis_to`` (camera frame).

    ``cam_t_full`` moves by the difference; the box and 2D keypoints are re-projected approximately (shifted with
    the pelvis's image position and scaled by the depth ratio), for display only.
    """
    f = float(person.focal_length_px)
    delta = np.asarray(pelvis_to, dtype=np.float64) - np.asarray(pelvis_from, dtype=np.float64)
    z0, z1 = float(pelvis_from[2]), float(max(pelvis_to[2], 1e-3))
    # Image position of the pelvis relative to the principal point (unknown here, cancels in the difference).
    p0 = f * np.asarray(pelvis_from[:2]) / max(z0, 1e-3)
    p1 = f * np.asarray(pelvis_to[:2]) / z1
    scale = max(z0, 1e-3) / z1
    box = np.asarray(person.bbox_xyxy, dtype=np.float64).reshape(2, 2)
    kp = np.asarray(person.keypoints_2d, dtype=np.float64)
    # Image motion of the pelvis is f·(x1/z1 − x0/z0): the unknown principal point cancels. Points scale about the
    # box centre, which stands in for the pelvis's image position.
    pel_img = box.mean(0)
    new_box = (box - pel_img) * scale + pel_img + (p1 - p0)
    new_kp = (kp - pel_img) * scale + pel_img + (p1 - p0)
    return replace(person, bbox_xyxy=new_box.reshape(4), keypoints_2d=new_kp,
                   cam_t_full=np.asarray(person.cam_t_full, dtype=np.float64) + delta)


class PeopleTracker:
    """Engine results in, confirmed tracks out, ``delay = n_init − 1`` frames later.

    Args:
        skeleton: rest joints as a function of betas (for the pelvis J0(β)).
        config: tracker parameters.
    """

    def __init__(self, skeleton: SkeletonModel, config: TrackerConfig = TrackerConfig(),
                 min_visible_fraction: float = 0.5) -> None:
        self.skeleton = skeleton
        self.tracker = Tracker(config)
        self._buffer = ConfirmationBuffer(self.tracker)
        # A predicted person whose box has left the image is not reported (the track stays alive for re-entry).
        self.min_visible_fraction = float(min_visible_fraction)
        self._image_size: dict[int, tuple[float, float]] = {}

    @property
    def delay(self) -> int:
        """Frames between pushing a frame and getting it back."""
        return self._buffer.delay

    def detections(self, people: list[PersonResult], appearances: list[np.ndarray]) -> list[Detection]:
        """Tracking features for one frame's people (appearances from :func:`appearance_embedding`)."""
        if len(people) != len(appearances):
            raise ValueError(f"PeopleTracker: {len(people)} people but {len(appearances)} appearance vectors")
        return [Detection(self.skeleton.pelvis_cam(p.betas, p.cam_t_full), person_rotmats(p), np.asarray(a), p)
                for p, a in zip(people, appearances)]

    def push(self, index: int, people: list[PersonResult], appearances: list[np.ndarray],
             image_size_wh: tuple[float, float] | None = None) -> list[tuple[int, list[TrackedPerson]]]:
        """Tracks one frame; returns the frames released by the confirmation delay, in order.

        Args:
            index: frame index (increasing).
            people: the engine's results for the frame.
            appearances: one appearance vector per person.
            image_size_wh: (W, H) of the frame; when given, predicted people whose box is mostly outside the image
                (they walked out) are not reported.
        """
        if image_size_wh is not None:
            self._image_size[index] = (float(image_size_wh[0]), float(image_size_wh[1]))
        outputs = self.tracker.update(index, self.detections(people, appearances))
        return [self._convert(f, outs) for f, outs in self._buffer.push(index, outputs)]

    def flush(self) -> list[tuple[int, list[TrackedPerson]]]:
        """End of stream: releases the held frames."""
        return [self._convert(f, outs) for f, outs in self._buffer.flush()]

    def _convert(self, frame: int, outputs) -> tuple[int, list[TrackedPerson]]:
        size = self._image_size.pop(frame, None)
        result = []
        for o in outputs:
            person: PersonResult = o.payload
            if o.state == "predicted":
                last_pelvis = self.skeleton.pelvis_cam(person.betas, person.cam_t_full)
                person = moved_person(person, last_pelvis, o.pelvis_cam)
                if size is not None and _visible_fraction(person.bbox_xyxy, size) < self.min_visible_fraction:
                    continue
            result.append(TrackedPerson(o.track_id, o.state, person, o.frames_since_observed))
        return frame, result


def _visible_fraction(bbox_xyxy: np.ndarray, size_wh: tuple[float, float]) -> float:
    x1, y1, x2, y2 = np.asarray(bbox_xyxy, dtype=np.float64).reshape(4)
    area = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
    if area <= 0:
        return 0.0
    inside = max(min(x2, size_wh[0]) - max(x1, 0.0), 0.0) * max(min(y2, size_wh[1]) - max(y1, 0.0), 0.0)
    return inside / area


def frame_appearances(image_bgr: np.ndarray, people: list[PersonResult]) -> list[np.ndarray]:
    """Appearance vectors of one frame's people, from their boxes."""
    return [appearance_embedding(image_bgr, p.bbox_xyxy) for p in people]


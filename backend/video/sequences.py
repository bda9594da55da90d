"""Per-track SMPL sequences of a finished clip: gap infill, one shape per track, zero-lag smoothing, foot contact.

Root trajectory: the output translation is ``transl`` = the SMPL-origin translation in the camera frame of the
video (``cam_t_full``), recomputed for the track's single betas so the pelvis stays where the model put it
(pelvis = J0(β) + t). Limits: it is camera space, so a panning or moving camera moves the person (no camera-motion
compensation yet), and depth comes from the HMR camera with a virtual focal length of 5000/256·max(W, H) px, so
absolute depth is much less certain than x/y.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from backend.results import PersonResult

from .foot_contact import FootContactConfig, detect_foot_contacts, remove_foot_skating
from .people_tracking import PeopleTracker, TrackedPerson, person_rotmats
from .rotations import rot6d_to_rotmat, rotmat_to_6d, rotmat_to_axis_angle
from .skeleton import SkeletonModel
from .smoothing import SmoothingConfig, robust_betas, smooth_offline, smooth_rotations_offline
from .tracker import TrackerConfig

__all__ = ["TrackSequence", "frame_record", "parse_frame_record", "track_frames", "build_sequences",
           "write_track_npz"]

log = logging.getLogger(__name__)


def frame_record(index: int, people: list[PersonResult], appearances: list[np.ndarray]) -> dict:
    """The job-file record of one finished frame: the engine's people plus their appearance vectors."""
    return {"index": int(index),
            "people": [dict(p.to_json(), appearance=np.asarray(a, dtype=np.float64).round(6).tolist())
                       for p, a in zip(people, appearances)]}


def parse_frame_record(record: dict) -> tuple[int, list[PersonResult], list[np.ndarray]]:
    """Inverse of :func:`frame_record`."""
    people = [PersonResult.from_json(p) for p in record["people"]]
    apps = [np.asarray(p["appearance"], dtype=np.float64) for p in record["people"]]
    return int(record["index"]), people, apps


def track_frames(records: list[dict], skeleton: SkeletonModel,
                 config: TrackerConfig = TrackerConfig()) -> dict[int, list[tuple[int, TrackedPerson]]]:
    """Replays the tracker over job records (deterministic, so a resumed job gets the same tracks).

    Returns:
        {track_id: [(frame index, TrackedPerson), ...] in frame order}.
    """
    tracker = PeopleTracker(skeleton, config)
    released: list[tuple[int, list[TrackedPerson]]] = []
    for rec in records:
        index, people, apps = parse_frame_record(rec)
        released += tracker.push(index, people, apps)
    released += tracker.flush()
    tracks: dict[int, list[tuple[int, TrackedPerson]]] = {}
    for index, people in released:
        for tp in people:
            tracks.setdefault(tp.track_id, []).append((index, tp))
    return tracks


@dataclass
class TrackSequence:
    """One person's motion over a clip, every frame from first to last observation.

    Attributes:
        track_id: public track id.
        frame_indices: (T,) int64 video frame indices (consecutive).
        observed: (T,) bool, False where the frame was predicted or missing and has been interpolated.
        global_orient: (T, 3) axis-angle, camera frame.
        body_pose: (T, 23, 3) axis-angle.
        betas: (10,) one shape for the track.
        transl: (T, 3) SMPL-origin translation, camera frame, metres (cam_t_full for ``betas``).
        pelvis_cam: (T, 3) pelvis, camera frame.
        joints_cam: (T, 24, 3) SMPL joints, camera frame.
        foot_contact: (T, 2) bool (left, right).
        bbox_xyxy: (T, 4) boxes (interpolated where not observed).
        focal_length_px: focal length of the camera translation.
    """

    track_id: int
    frame_indices: np.ndarray
    observed: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    pelvis_cam: np.ndarray
    joints_cam: np.ndarray
    foot_contact: np.ndarray
    bbox_xyxy: np.ndarray
    focal_length_px: float
    extra: dict = field(default_factory=dict)


def _interp_rows(frames: np.ndarray, known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 of ``values`` (rows at ``known`` positions valid) to every frame."""
    flat = values.reshape(len(values), -1)
    out = np.empty_like(flat)
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(frames, frames[known], flat[known, c])
    return out.reshape(values.shape)


def build_sequence(track_id: int, items: list[tuple[int, TrackedPerson]], skeleton: SkeletonModel, fps: float,
                   smoothing: SmoothingConfig = SmoothingConfig(), smooth: bool = True,
                   foot_contact: FootContactConfig = FootContactConfig(), fix_foot_skating: bool = False
                   ) -> TrackSequence | None:
    """One track's sequence; None when it has no observed frame.

    Predicted frames are replaced by interpolation between the observations around them (rotations in 6D, then
    Gram-Schmidt; translation linearly), and frames after the last observation are dropped: the tracker's
    constant-velocity extrapolation is for live display, not for keyframes.
    """
    obs = [(f, tp.person) for f, tp in items if tp.state == "observed"]
    if not obs:
        return None
    first, last = obs[0][0], obs[-1][0]
    frames = np.arange(first, last + 1)
    n = len(frames)
    known = np.zeros(n, dtype=bool)
    rot6 = np.zeros((n, 24, 6))
    pelvis = np.zeros((n, 3))
    boxes = np.zeros((n, 4))
    raw_betas, scores = [], []
    for f, person in obs:
        i = f - first
        known[i] = True
        rot6[i] = rotmat_to_6d(person_rotmats(person))
        pelvis[i] = skeleton.pelvis_cam(person.betas, person.cam_t_full)
        boxes[i] = np.asarray(person.bbox_xyxy, dtype=np.float64).reshape(4)
        raw_betas.append(np.asarray(person.betas, dtype=np.float64).reshape(-1))
        scores.append(float(person.score))
    betas = robust_betas(np.stack(raw_betas), smoothing.betas_trim, np.asarray(scores))
    rot6 = _interp_rows(frames, known, rot6)
    pelvis = _interp_rows(frames, known, pelvis)
    boxes = _interp_rows(frames, known, boxes)
    if smooth:
        rotmats = smooth_rotations_offline(rot6d_to_rotmat(rot6), fps, smoothing.offline_rot_cutoff_hz)
        pelvis = smooth_offline(pelvis, fps, smoothing.offline_transl_cutoff_hz)
    else:
        rotmats = rot6d_to_rotmat(rot6)
    j0 = skeleton.rest_joints(betas)[0]
    transl = pelvis - j0
    joints = skeleton.posed_joints(rotmats, betas) + transl[:, None, :]
    contacts = detect_foot_contacts(joints, fps, foot_contact) if n >= 2 else np.zeros((n, 2), dtype=bool)
    if fix_foot_skating and n >= 2:
        new_transl = remove_foot_skating(transl, joints, contacts)
        joints = joints + (new_transl - transl)[:, None, :]
        transl = new_transl
    aa = rotmat_to_axis_angle(rotmats)
    return TrackSequence(track_id, frames.astype(np.int64), known, aa[:, 0], aa[:, 1:], betas, transl, transl + j0,
                         joints, contacts, boxes, float(obs[0][1].focal_length_px))


def build_sequences(records: list[dict], skeleton: SkeletonModel, fps: float,
                    tracker_config: TrackerConfig = TrackerConfig(), smoothing: SmoothingConfig = SmoothingConfig(),
                    smooth: bool = True, fix_foot_skating: bool = False) -> list[TrackSequence]:
    """Tracks, infills and smooths a finished clip's records; one sequence per confirmed track, by id."""
    out = []
    for track_id, items in sorted(track_frames(records, skeleton, tracker_config).items()):
        seq = build_sequence(track_id, items, skeleton, fps, smoothing, smooth, fix_foot_skating=fix_foot_skating)
        if seq is not None:
            out.append(seq)
    return out


def write_track_npz(path: str | Path, seq: TrackSequence, fps: Fraction) -> None:
    """Writes one track as ``.npz`` (keys as :class:`TrackSequence` attributes, smplx vocabulary, plus fps)."""
    np.savez(
        path,
        track_id=np.int64(seq.track_id),
        frame_indices=seq.frame_indices,
        observed=seq.observed,
        global_orient=seq.global_orient.astype(np.float32),
        body_pose=seq.body_pose.astype(np.float32),
        betas=seq.betas.astype(np.float32),
        transl=seq.transl.astype(np.float32),
        pelvis_cam=seq.pelvis_cam.astype(np.float32),
        joints_cam=seq.joints_cam.astype(np.float32),
        foot_contact=seq.foot_contact,
        bbox_xyxy=seq.bbox_xyxy.astype(np.float32),
        focal_length_px=np.float64(seq.focal_length_px),
        fps_num=np.int64(fps.numerator),
        fps_den=np.int64(fps.denominator),
    )

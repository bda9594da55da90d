"""From per-frame person results (plain JSON) to the keys of one character: the add-on's side of the schema.

The add-on cannot import ``backend.results`` (it ships alone inside Blender), so :func:`person_pose_from_json`
reads the same ``people[i]`` object that ``PersonResult.to_json`` writes and checks every shape it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .bone_pose import bone_basis_quaternions, root_location_keys
from .root_motion import RootMotionMode, joint_positions_camera, pelvis_trajectory

__all__ = ["PosePoint", "PoseTrack", "person_pose_from_json", "stack_track", "CharacterKeys", "character_keys"]


@dataclass(frozen=True)
class PosePoint:
    """One person at one frame, as far as the add-on needs it."""

    global_orient: np.ndarray  # (3,) axis-angle, SMPL canonical → OpenCV camera
    body_pose: np.ndarray  # (23, 3) axis-angle relative to parents
    betas: np.ndarray  # (B,) SMPL shape coefficients
    cam_t_full: np.ndarray  # (3,) SMPL origin translation, OpenCV camera frame, metres
    focal_length_px: float  # full-image focal length in pixels
    bbox_xyxy: np.ndarray  # (4,) person box in image pixels
    score: float  # detection confidence in [0, 1]


@dataclass(frozen=True)
class PoseTrack:
    """One person over frames (a video track, or a single image as a one-frame track)."""

    frames: np.ndarray  # (T,) int64 source frame numbers, increasing
    global_orient: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 23, 3)
    betas: np.ndarray  # (T, B)
    cam_t_full: np.ndarray  # (T, 3)
    focal_length_px: float  # focal length of the first frame (constant for one video)

    def mean_betas(self) -> np.ndarray:
        """(B,) the shape to build the character with: the per-coefficient median over frames."""
        return np.median(self.betas, axis=0)


def _array(obj: dict, key: str, shape: tuple[int, ...] | None, where: str) -> np.ndarray:
    if key not in obj:
        raise ValueError(f"{where}: missing field {key!r}; found {sorted(obj)}")
    arr = np.asarray(obj[key], dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{where} field {key!r}: expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where} field {key!r}: contains NaN or infinite values")
    return arr


def person_pose_from_json(obj: dict, where: str = "person result") -> PosePoint:
    """Parse one ``people[i]`` / track ``person`` object of the protocol (``PersonResult.to_json``).

    Args:
        obj: the JSON object.
        where: names the object in error messages (e.g. "frame 12 track 3").
    """
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    betas = _array(obj, "betas", None, where)
    if betas.ndim != 1 or betas.size == 0:
        raise ValueError(f"{where} field 'betas': expected shape (B,), got {betas.shape}")
    focal = float(_array(obj, "focal_length", (), where))
    return PosePoint(
        global_orient=_array(obj, "global_orient", (3,), where),
        body_pose=_array(obj, "body_pose", (23, 3), where),
        betas=betas,
        cam_t_full=_array(obj, "cam_t_full", (3,), where),
        focal_length_px=focal,
        bbox_xyxy=_array(obj, "bbox", (4,), where),
        score=float(_array(obj, "score", (), where)),
    )


def stack_track(frames: Sequence[int], points: Sequence[PosePoint]) -> PoseTrack:
    """Stack per-frame points of one person into a track, sorted by frame."""
    if len(frames) != len(points) or not points:
        raise ValueError(
            f"track: expected as many frames as points (at least one), got {len(frames)} and {len(points)}"
        )
    order = np.argsort(np.asarray(frames))
    fr = np.asarray(frames, dtype=np.int64)[order]
    if np.any(np.diff(fr) == 0):
        raise ValueError(f"track: frame numbers repeat: {fr.tolist()[:10]}")
    pts = [points[i] for i in order]
    return PoseTrack(
        frames=fr,
        global_orient=np.stack([p.global_orient for p in pts]),
        body_pose=np.stack([p.body_pose for p in pts]),
        betas=np.stack([p.betas for p in pts]),
        cam_t_full=np.stack([p.cam_t_full for p in pts]),
        focal_length_px=pts[0].focal_length_px,
    )


@dataclass(frozen=True)
class CharacterKeys:
    """The keys of one character's action."""

    frames: np.ndarray  # (T,) int64 source frame numbers
    quaternions: np.ndarray  # (T, 24, 4) pose-bone rotation_quaternion (w, x, y, z), sign-continuous
    root_locations: np.ndarray  # (T, 3) pelvis pose-bone location (bone rest frame)


def character_keys(
    track: PoseTrack,
    rest_joints: np.ndarray,
    parents: np.ndarray,
    rest_rotations: np.ndarray,
    head_rest_root: np.ndarray,
    root_motion: RootMotionMode,
    ground_clearance: float = 0.0,
) -> CharacterKeys:
    """Pose-bone keys for one track on an armature built from ``rest_joints``.

    Args:
        track: the person's poses over frames.
        rest_joints: (24, 3) rest joints J(β) of the character's shape, SMPL canonical frame.
        parents: (24,) SMPL parents.
        rest_rotations: (24, 3, 3) armature-space rest rotations of the bones.
        head_rest_root: (3,) pelvis bone rest head in armature space.
        root_motion: "camera", "in_place" or "ground_aligned".
        ground_clearance: lowest rest joint height above the soles (``root_motion.ground_clearance``), so the
            grounded modes put the soles on z = 0.
    """
    quats = bone_basis_quaternions(track.global_orient, track.body_pose, rest_rotations)
    joints_cam = joint_positions_camera(track.global_orient, track.body_pose, rest_joints, parents, track.cam_t_full)
    pelvis = pelvis_trajectory(joints_cam, root_motion, head_rest_root, ground_clearance)
    loc = root_location_keys(pelvis, head_rest_root, np.asarray(rest_rotations)[0])
    return CharacterKeys(track.frames.copy(), quats, loc)

"""The SMPL kinematic chain in numpy, and MediaPipe's 33 landmarks as markers rigidly attached to its joints.

Frames: SMPL canonical (rest) space is y up, +x the body's left, +z forward (the way the body faces). Local joint
rotations are expressed in that space, as in smplx (SMPL joints carry no rest orientation).

The markers put MediaPipe's landmark layout (nose, eyes, ears, mouth, hand and foot points) on a skeleton: each
is a rest offset from one joint, scaled with the skeleton's size. The IK builds each segment's frame from the same
landmarks on the rest skeleton and on the observation, so only these rest directions matter, not lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.body import SMPL_JOINT_NAMES, SMPL_PARENTS

__all__ = [
    "MP_LANDMARK_NAMES",
    "MP",
    "MARKER_NAMES",
    "Skeleton",
    "make_skeleton",
    "forward_kinematics",
    "posed_markers",
]

# MediaPipe Pose (BlazePose) landmark order; "left" is the person's left.
MP_LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
MP = {name: i for i, name in enumerate(MP_LANDMARK_NAMES)}
_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

# Reference size the offsets below are written for: head joint height above the ankles of an SMPL-like adult (m).
_REFERENCE_HEAD_ABOVE_ANKLE = 1.47

# (marker, joint it is placed from, rest offset from that joint in metres for the reference adult, canonical
# axes). A marker rides on (turns with) the joint it is placed from, except where _CARRIER names another joint:
# MediaPipe's hip landmarks sit on the pelvis, which the thighs do not move. Left-side entries are mirrored
# (x -> -x) onto the right side. Face: nose ~10 cm in front of the head joint, ears at its sides. Hands in
# SMPL's rest (T-pose, palms down, thumbs forward): index knuckle on the forward side of the hand joint, pinky
# knuckle behind it. Feet: heel below and behind the ankle, toe tip in front of the ball.
# Extra markers after the 33 MediaPipe ones feed the 44 output keypoints (head top, jaw, small toes).
_LEFT_MARKERS: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("left_eye_inner", "head", (0.015, 0.075, 0.09)),
    ("left_eye", "head", (0.032, 0.075, 0.085)),
    ("left_eye_outer", "head", (0.047, 0.075, 0.08)),
    ("left_ear", "head", (0.075, 0.055, -0.01)),
    ("mouth_left", "head", (0.025, 0.0, 0.09)),
    ("left_shoulder", "left_shoulder", (0.0, 0.0, 0.0)),
    ("left_elbow", "left_elbow", (0.0, 0.0, 0.0)),
    ("left_wrist", "left_wrist", (0.0, 0.0, 0.0)),
    ("left_pinky", "left_wrist", (0.075, 0.0, -0.035)),
    ("left_index", "left_wrist", (0.09, 0.0, 0.03)),
    ("left_thumb", "left_wrist", (0.05, -0.015, 0.05)),
    ("left_hip", "left_hip", (0.0, 0.0, 0.0)),
    ("left_knee", "left_knee", (0.0, 0.0, 0.0)),
    ("left_ankle", "left_ankle", (0.0, 0.0, 0.0)),
    ("left_heel", "left_ankle", (0.0, -0.07, -0.055)),
    ("left_foot_index", "left_ankle", (0.03, -0.075, 0.18)),
    ("left_small_toe", "left_ankle", (0.065, -0.075, 0.14)),
)
_CENTRE_MARKERS: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("nose", "head", (0.0, 0.04, 0.10)),
    ("head_top", "head", (0.0, 0.18, -0.01)),
    ("jaw", "head", (0.0, -0.02, 0.07)),
    ("head_h36m", "head", (0.0, 0.10, 0.03)),
)


_CARRIER = {"left_hip": "pelvis", "right_hip": "pelvis"}


def _mirror_name(name: str) -> str:
    return name.replace("left", "right")  # left_eye -> right_eye, mouth_left -> mouth_right


def _all_markers() -> tuple[tuple[str, str, tuple[float, float, float]], ...]:
    table = {name: (joint, off) for name, joint, off in _CENTRE_MARKERS}
    for name, joint, (x, y, z) in _LEFT_MARKERS:
        table[name] = (joint, (x, y, z))
        table[_mirror_name(name)] = (_mirror_name(joint), (-x, y, z))
    order = list(MP_LANDMARK_NAMES) + ["head_top", "jaw", "head_h36m", "left_small_toe", "right_small_toe"]
    return tuple((name, table[name][0], table[name][1]) for name in order)


_MARKERS = _all_markers()
MARKER_NAMES: tuple[str, ...] = tuple(m[0] for m in _MARKERS)


@dataclass(frozen=True)
class Skeleton:
    """A rest skeleton in SMPL canonical space with MediaPipe-layout markers on it.

    Attributes:
        joints_rest: (24, 3) rest joint positions, metres, SMPL order.
        parents: (24,) int64 parent indices, -1 for the root.
        marker_joint: (M,) int64 joint each marker rides on (M = 33 MediaPipe landmarks + extras, MARKER_NAMES).
        markers_rest: (M, 3) rest marker positions, metres.
    """

    joints_rest: np.ndarray
    parents: np.ndarray
    marker_joint: np.ndarray
    markers_rest: np.ndarray

    @property
    def landmarks_rest(self) -> np.ndarray:
        """(33, 3) the MediaPipe landmarks on the rest skeleton."""
        return self.markers_rest[: len(MP_LANDMARK_NAMES)]


def make_skeleton(joints_rest: np.ndarray, parents: np.ndarray | None = None) -> Skeleton:
    """Attach the markers to a rest skeleton.

    Args:
        joints_rest: (24, 3) rest joints in SMPL canonical space (e.g. ``rest_body(...).joints``).
        parents: (24,) parents; default ``SMPL_PARENTS``.

    Raises:
        ValueError: for a wrong shape or a skeleton that is not upright (head not above the ankles).
    """
    joints = np.asarray(joints_rest, dtype=np.float64)
    if joints.shape != (24, 3):
        raise ValueError(f"make_skeleton: expected joints_rest of shape (24, 3), got {joints.shape}")
    parents_arr = np.asarray(SMPL_PARENTS if parents is None else parents, dtype=np.int64)
    if parents_arr.shape != (24,) or parents_arr[0] != -1:
        raise ValueError(f"make_skeleton: expected 24 SMPL parents with root -1, got {parents_arr.tolist()}")
    height = joints[_J["head"], 1] - 0.5 * (joints[_J["left_ankle"], 1] + joints[_J["right_ankle"], 1])
    if height <= 0.2:
        raise ValueError(
            f"make_skeleton: head joint is {height:.3f} m above the ankles; expected an upright SMPL-canonical "
            "rest skeleton (y up) of a person"
        )
    scale = height / _REFERENCE_HEAD_ABOVE_ANKLE
    anchor = np.array([_J[joint] for _, joint, _ in _MARKERS], dtype=np.int64)
    marker_joint = np.array([_J[_CARRIER.get(name, joint)] for name, joint, _ in _MARKERS], dtype=np.int64)
    offsets = np.array([off for _, _, off in _MARKERS], dtype=np.float64) * scale
    return Skeleton(
        joints_rest=joints, parents=parents_arr, marker_joint=marker_joint, markers_rest=joints[anchor] + offsets
    )


def forward_kinematics(
    rot_local: np.ndarray, joints_rest: np.ndarray, parents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SMPL's rigid chain: the root turns about its own rest position (so pelvis = J0 + transl).

    Args:
        rot_local: (24, 3, 3) local rotations; [0] is the global orientation.
        joints_rest: (24, 3) rest joints.
        parents: (24,) parents, each parent before its children.

    Returns:
        joints: (24, 3) posed joints (before any translation).
        rot_global: (24, 3, 3) each joint's rotation from rest to posed space.
    """
    rot_global = np.empty((24, 3, 3))
    joints = np.empty((24, 3))
    rot_global[0] = rot_local[0]
    joints[0] = joints_rest[0]
    for j in range(1, 24):
        p = parents[j]
        rot_global[j] = rot_global[p] @ rot_local[j]
        joints[j] = joints[p] + rot_global[p] @ (joints_rest[j] - joints_rest[p])
    return joints, rot_global


def posed_markers(skeleton: Skeleton, joints: np.ndarray, rot_global: np.ndarray) -> np.ndarray:
    """(M, 3) markers carried rigidly by their joints, from :func:`forward_kinematics` output."""
    j = skeleton.marker_joint
    offsets = skeleton.markers_rest - skeleton.joints_rest[j]
    return joints[j] + np.einsum("mab,mb->ma", rot_global[j], offsets)  # rotate each offset by its joint

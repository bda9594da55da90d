"""Where the character's pelvis goes: camera space, in place, or ground-aligned (root motion modes).

- ``camera``: the pelvis follows ``M · (J0(β) + cam_t_full)``, so the character lines up with a Blender camera
  at the origin that matches the backend's (the mode for overlays and shots with a static camera).
- ``ground_aligned``: the same trajectory, shifted so the first frame's pelvis is above the world origin and
  the ground (the low 5th percentile over frames of the lowest joint) is at z = 0. A percentile rather than
  the minimum keeps one badly estimated frame from sinking the floor. Joints sit inside the body, so the ground
  is put ``ground_clearance`` (the rest body's lowest joint height above its soles) below them: the soles, not
  the toe joints, touch z = 0.
- ``in_place``: ground-aligned height (jumps and crouches are kept) with no horizontal travel.
Rotations are not changed by any mode; they stay camera-relative (``M · R_go · C⁻¹``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .bone_pose import CAMERA_TO_BLENDER
from .rotations import axis_angle_to_matrix

__all__ = [
    "RootMotionMode", "ROOT_MOTION_MODES", "ground_clearance", "joint_positions_camera", "pelvis_trajectory",
]

RootMotionMode = Literal["camera", "in_place", "ground_aligned"]
ROOT_MOTION_MODES: tuple[str, ...] = ("camera", "in_place", "ground_aligned")
_GROUND_PERCENTILE = 5.0


def joint_positions_camera(
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    rest_joints: np.ndarray,
    parents: np.ndarray,
    cam_t_full: np.ndarray,
) -> np.ndarray:
    """Forward kinematics of the SMPL skeleton (joints only, no blend shapes) in the camera frame.

    Args:
        global_orient: (T, 3) axis-angle, SMPL canonical → camera.
        body_pose: (T, 23, 3) axis-angle, relative to parents.
        rest_joints: (24, 3) rest joints J(β), SMPL canonical frame.
        parents: (24,) parent indices, root -1, parents before children.
        cam_t_full: (T, 3) SMPL origin translation, camera frame.
    Returns:
        (T, 24, 3) joint positions in the OpenCV camera frame, metres.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    t = np.asarray(cam_t_full, dtype=np.float64)
    n = t.shape[0]
    local = np.concatenate(
        [axis_angle_to_matrix(np.asarray(global_orient).reshape(n, 1, 3)), axis_angle_to_matrix(body_pose)], axis=1
    )
    glob = np.empty((n, 24, 3, 3))
    pos = np.empty((n, 24, 3))
    glob[:, 0] = local[:, 0]
    pos[:, 0] = rest[0] + t
    for j in range(1, 24):
        p = int(parents[j])
        glob[:, j] = glob[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + np.einsum("tij,j->ti", glob[:, p], rest[j] - rest[p])
    return pos


def ground_clearance(rest_vertices: np.ndarray, rest_joints: np.ndarray) -> float:
    """Height of the lowest rest joint above the rest body's lowest vertex (its soles), metres, SMPL frame (Y up).

    Args:
        rest_vertices: (V, 3) rest vertices for the betas.
        rest_joints: (24, 3) rest joints J(β).
    """
    return max(0.0, float(np.asarray(rest_joints)[:, 1].min() - np.asarray(rest_vertices)[:, 1].min()))


def pelvis_trajectory(
    joints_cam: np.ndarray, mode: RootMotionMode, head_rest: np.ndarray, ground_clearance: float = 0.0
) -> np.ndarray:
    """Pelvis positions in Blender world space for a root motion mode.

    Args:
        joints_cam: (T, 24, 3) joints in the OpenCV camera frame (see :func:`joint_positions_camera`).
        mode: "camera", "in_place" or "ground_aligned".
        head_rest: (3,) the pelvis bone's rest head in Blender (its x, y are kept by "in_place").
        ground_clearance: metres between the lowest joint and the floor ("in_place", "ground_aligned"); see
            :func:`ground_clearance`.
    Returns:
        (T, 3) pelvis positions in Blender world space, metres.
    """
    if mode not in ROOT_MOTION_MODES:
        raise ValueError(f"root motion mode: expected one of {ROOT_MOTION_MODES}, got {mode!r}")
    world = np.asarray(joints_cam, dtype=np.float64) @ CAMERA_TO_BLENDER.T
    pelvis = world[:, 0].copy()
    if mode == "camera":
        return pelvis
    floor_z = float(np.percentile(world[..., 2].min(axis=1), _GROUND_PERCENTILE))
    pelvis[:, 2] -= floor_z - float(ground_clearance)
    if mode == "ground_aligned":
        pelvis[:, :2] -= pelvis[0, :2]
    else:
        pelvis[:, :2] = np.asarray(head_rest, dtype=np.float64)[:2]
    return pelvis

"""Anatomical joint limits for the lite engine's IK, in each joint's local SMPL frame (y up, +x left, +z forward).

Three kinds of limit (angles in degrees in the tables, radians in code):
- ``hinge`` (elbows, knees): a rotation about one axis only, by an angle in [lo, hi]; anything else is dropped.
  The axis is the canonical one made orthogonal to the rest bone below the joint: elbows flex about -y (left)
  / +y (right), which brings the forearm of SMPL's palms-down T-pose forward; knees flex about +x, which takes
  the shank backward.
- ``swing_twist`` (hips, shoulders): twist about the rest bone in [lo, hi]; the swing (an axis-angle vector
  orthogonal to the bone) clamped per canonical component.
- ``box`` (spine, neck, head, wrists, ankles; zero for joints MediaPipe cannot see: collars, toes, hands): the
  axis-angle vector clamped per canonical component.

Left-side limits are written out; the right side is their mirror image (x -> -x), under which an axis-angle
vector (x, y, z) becomes (x, -y, -z) and a twist angle changes sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.body import SMPL_JOINT_NAMES
from backend.lite.rotations import axis_angle_to_matrix, matrix_to_axis_angle, swing_twist

__all__ = [
    "JointLimit",
    "ResolvedLimits",
    "JOINT_LIMITS_DEG",
    "joint_limits",
    "clamp_local",
    "hinge_angle",
    "within_limits",
]

_FREE = (-180.0, 180.0)
_ZERO = (0.0, 0.0)


@dataclass(frozen=True)
class JointLimit:
    """One joint's limit. Ranges are (lo, hi) in degrees; see the module docstring for each kind."""

    kind: str  # "free", "hinge", "swing_twist" or "box"
    ranges_deg: tuple[tuple[float, float], ...]  # box/swing: per canonical axis x, y, z; hinge: one range
    twist_deg: tuple[float, float] = _FREE  # swing_twist only: twist about the rest bone
    # hinge only: the canonical flexion axis, made orthogonal to the rest bone below the joint when resolved
    hinge_axis: tuple[float, float, float] = (0.0, 0.0, 0.0)


# Joints of the left side and the centre; the right side is mirrored from the left.
_LEFT_AND_CENTRE: dict[str, JointLimit] = {
    "pelvis": JointLimit("free", (_FREE, _FREE, _FREE)),
    "left_hip": JointLimit("swing_twist", ((-125.0, 35.0), _FREE, (-30.0, 70.0)), twist_deg=(-50.0, 50.0)),
    "spine1": JointLimit("box", ((-25.0, 40.0), (-30.0, 30.0), (-25.0, 25.0))),
    "left_knee": JointLimit("hinge", ((0.0, 155.0),), hinge_axis=(1.0, 0.0, 0.0)),
    "spine2": JointLimit("box", ((-25.0, 40.0), (-30.0, 30.0), (-25.0, 25.0))),
    "left_ankle": JointLimit("box", ((-35.0, 55.0), (-30.0, 30.0), (-30.0, 30.0))),
    "spine3": JointLimit("box", ((-25.0, 40.0), (-30.0, 30.0), (-25.0, 25.0))),
    "left_foot": JointLimit("box", (_ZERO, _ZERO, _ZERO)),
    "neck": JointLimit("box", ((-40.0, 45.0), (-50.0, 50.0), (-35.0, 35.0))),
    "left_collar": JointLimit("box", (_ZERO, _ZERO, _ZERO)),
    "head": JointLimit("box", ((-40.0, 45.0), (-50.0, 50.0), (-35.0, 35.0))),
    "left_shoulder": JointLimit("swing_twist", (_FREE, (-140.0, 50.0), (-100.0, 100.0)), twist_deg=(-100.0, 100.0)),
    "left_elbow": JointLimit("hinge", ((0.0, 155.0),), hinge_axis=(0.0, -1.0, 0.0)),
    "left_wrist": JointLimit("box", ((-90.0, 90.0), (-40.0, 40.0), (-80.0, 80.0))),
    "left_hand": JointLimit("box", (_ZERO, _ZERO, _ZERO)),
}


def _mirror(limit: JointLimit) -> JointLimit:
    def neg(r: tuple[float, float]) -> tuple[float, float]:
        return (-r[1], -r[0])

    if limit.kind == "hinge":
        x, y, z = limit.hinge_axis
        return JointLimit("hinge", limit.ranges_deg, hinge_axis=(x, -y, -z))  # the mirrored axis flexes the same way
    rx, ry, rz = limit.ranges_deg
    return JointLimit(limit.kind, (rx, neg(ry), neg(rz)), twist_deg=neg(limit.twist_deg))


def _table() -> tuple[JointLimit, ...]:
    out = []
    for name in SMPL_JOINT_NAMES:
        if name in _LEFT_AND_CENTRE:
            out.append(_LEFT_AND_CENTRE[name])
        else:
            out.append(_mirror(_LEFT_AND_CENTRE[name.replace("right_", "left_")]))
    return tuple(out)


JOINT_LIMITS_DEG: tuple[JointLimit, ...] = _table()  # indexed by SMPL joint


def _child_bone(joints_rest: np.ndarray, parents: np.ndarray, j: int) -> np.ndarray:
    children = [c for c in range(24) if parents[c] == j]
    if not children:
        return np.zeros(3)
    bone = joints_rest[children[0]] - joints_rest[j]
    return bone / np.linalg.norm(bone)


@dataclass(frozen=True)
class ResolvedLimits:
    """The axes a limit needs on one rest skeleton (from :func:`joint_limits`)."""

    bone_axes: np.ndarray  # (24, 3) unit rest bone to the first child (zeros for leaves)
    hinge_axes: np.ndarray  # (24, 3) unit hinge axes orthogonal to the rest bone (zeros for non-hinges)


def joint_limits(joints_rest: np.ndarray, parents: np.ndarray) -> ResolvedLimits:
    """Bone and hinge axes of a rest skeleton, which :func:`clamp_local` needs. joints_rest (24, 3)."""
    bones = np.stack([_child_bone(joints_rest, parents, j) for j in range(24)])
    hinges = np.zeros((24, 3))
    for j, limit in enumerate(JOINT_LIMITS_DEG):
        if limit.kind == "hinge":
            a = np.asarray(limit.hinge_axis, dtype=np.float64)
            a = a - (a @ bones[j]) * bones[j]
            hinges[j] = a / np.linalg.norm(a)
    return ResolvedLimits(bone_axes=bones, hinge_axes=hinges)


def hinge_angle(rot_local: np.ndarray, axis: np.ndarray) -> float:
    """Signed angle (radians) of the twist of ``rot_local`` (3, 3) about the unit ``axis``."""
    return swing_twist(rot_local, axis)[1]


def clamp_local(j: int, rot_local: np.ndarray, resolved: ResolvedLimits) -> np.ndarray:
    """The nearest rotation (3, 3) to joint ``j``'s local rotation within its limit (per kind, see module doc)."""
    limit = JOINT_LIMITS_DEG[j]
    if limit.kind == "free":
        return rot_local
    if limit.kind == "hinge":
        lo, hi = np.radians(limit.ranges_deg[0])
        axis = resolved.hinge_axes[j]
        return axis_angle_to_matrix(axis * np.clip(hinge_angle(rot_local, axis), lo, hi))
    lo = np.radians([r[0] for r in limit.ranges_deg])
    hi = np.radians([r[1] for r in limit.ranges_deg])
    if limit.kind == "box":
        return axis_angle_to_matrix(np.clip(matrix_to_axis_angle(rot_local), lo, hi))
    bone = resolved.bone_axes[j]
    swing, twist = swing_twist(rot_local, bone)
    swing = np.clip(swing, lo, hi)
    swing = swing - (swing @ bone) * bone  # a swing stays orthogonal to the bone
    twist = float(np.clip(twist, *np.radians(limit.twist_deg)))
    return axis_angle_to_matrix(swing) @ axis_angle_to_matrix(bone * twist)


def within_limits(j: int, rot_local: np.ndarray, resolved: ResolvedLimits, tol_deg: float = 0.5) -> bool:
    """Whether joint ``j``'s local rotation (3, 3) is within its limit, to ``tol_deg``."""
    clamped = clamp_local(j, rot_local, resolved)
    rel = clamped.T @ rot_local
    angle = np.degrees(np.arccos(np.clip((np.trace(rel) - 1.0) / 2.0, -1.0, 1.0)))
    return bool(angle <= tol_deg)

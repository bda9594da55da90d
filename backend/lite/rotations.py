"""Rotation helpers for the lite engine's IK (numpy, float64, single rotations or batches on leading axes).

Axis-angle vectors are ``angle * unit_axis`` in radians; matrices act on column vectors (``R @ v``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "frame_from_vectors",
    "rotation_between",
    "swing_twist",
    "rotation_angle_deg",
]

_EPS = 1e-9


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Rodrigues' formula. ``aa`` (..., 3) radians → (..., 3, 3)."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, _EPS)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """Inverse of :func:`axis_angle_to_matrix` for one (3, 3) rotation (angle in [0, pi]), stable near 0 and pi."""
    rot = np.asarray(rot, dtype=np.float64)
    cos = np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos))
    vee = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]])
    if angle < 1e-6:
        return vee / 2.0
    if angle < np.pi - 1e-3:
        return vee / (2.0 * np.sin(angle)) * angle
    # Near pi the antisymmetric part vanishes: take the axis from the symmetric part (R + I) / 2 = a a^T.
    sym = (rot + np.eye(3)) / 2.0
    col = int(np.argmax(np.diag(sym)))
    axis = sym[:, col] / np.sqrt(max(sym[col, col], _EPS))
    if axis @ vee < 0:
        axis = -axis
    return axis / np.linalg.norm(axis) * angle


def frame_from_vectors(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frame (3, 3) whose columns are: ``primary`` normalised, the part of ``secondary`` orthogonal to
    it, and their cross product. Raises ``ValueError`` when the vectors are (near) parallel or zero."""
    e1 = np.asarray(primary, dtype=np.float64)
    n1 = np.linalg.norm(e1)
    if n1 < _EPS:
        raise ValueError("frame_from_vectors: primary vector has zero length")
    e1 = e1 / n1
    e2 = np.asarray(secondary, dtype=np.float64) - (np.asarray(secondary) @ e1) * e1
    n2 = np.linalg.norm(e2)
    if n2 < 1e-6 * max(1.0, np.linalg.norm(secondary)):
        raise ValueError("frame_from_vectors: secondary vector is parallel to the primary one")
    e2 = e2 / n2
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking direction ``a`` to direction ``b`` (any lengths > 0)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.clip(a @ b, -1.0, 1.0))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        # Opposite directions: half turn about any axis orthogonal to a.
        ortho = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return axis_angle_to_matrix(ortho / np.linalg.norm(ortho) * np.pi)
    return axis_angle_to_matrix(axis / s * np.arctan2(s, c))


def swing_twist(rot: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, float]:
    """Split a rotation into ``swing @ twist(axis)``: the twist angle (radians, in (-pi, pi]) about the unit
    ``axis`` and the swing as an axis-angle vector orthogonal to it. ``rot == swing @ twist``."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    swing = rotation_between(axis, rot @ axis)
    twist = swing.T @ rot  # a rotation about `axis`
    ortho = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    ortho /= np.linalg.norm(ortho)
    turned = twist @ ortho
    angle = float(np.arctan2(np.cross(ortho, turned) @ axis, ortho @ turned))
    return matrix_to_axis_angle(swing), angle


def rotation_angle_deg(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotations (..., 3, 3)."""
    rel = np.swapaxes(r1, -1, -2) @ r2
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return np.degrees(np.arccos(cos))

"""Rotation conversions on numpy arrays: axis-angle, matrices, quaternions (w, x, y, z), continuity, slerp.

Blender ships numpy but not scipy, so these are written out here; the tests check them against scipy's
``Rotation``. Quaternions use Blender's component order (w, x, y, z). All functions broadcast over leading axes.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "make_quaternions_continuous",
    "quaternion_slerp",
    "rotation_x",
]


def rotation_x(angle: float) -> np.ndarray:
    """(3, 3) right-handed rotation by ``angle`` radians about +X."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula.

    Args:
        axis_angle: (..., 3) rotation vectors (axis times angle in radians).
    Returns:
        (..., 3, 3) float64 rotation matrices.
    """
    aa = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    # For tiny angles the axis is ill-defined; any unit axis gives the identity-limit result.
    safe = np.where(angle > 1e-12, angle, 1.0)
    axis = np.where(angle > 1e-12, aa / safe, np.array([1.0, 0.0, 0.0]))
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    k = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrices to unit quaternions with w >= 0.

    Args:
        matrix: (..., 3, 3) rotation matrices.
    Returns:
        (..., 4) float64 quaternions (w, x, y, z).
    """
    m = np.asarray(matrix, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Shepperd's method: build all four candidates and keep the numerically best (largest diagonal term).
    cand = np.stack(
        [
            np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                      m[..., 1, 0] - m[..., 0, 1]], axis=-1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0],
                      m[..., 0, 2] + m[..., 2, 0]], axis=-1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22,
                      m[..., 1, 2] + m[..., 2, 1]], axis=-1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                      1 - m00 - m11 + m22], axis=-1),
        ],
        axis=-2,
    )
    diag = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z), shape (..., 4), to (..., 3, 3) rotation matrices."""
    q = np.asarray(quaternion, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return np.stack(rows, axis=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices to (..., 3) rotation vectors with angle in [0, pi]."""
    q = matrix_to_quaternion(matrix)
    vec = q[..., 1:]
    sin_half = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    scale = np.where(sin_half > 1e-12, angle / np.where(sin_half > 1e-12, sin_half, 1.0), 2.0)
    return vec * scale


def make_quaternions_continuous(quaternions: np.ndarray) -> np.ndarray:
    """Flip signs along time so neighbouring keys never jump to the antipodal quaternion.

    ``q`` and ``-q`` are the same rotation, but Blender interpolates the components, so a sign flip between two
    keys would spin the bone the long way round.

    Args:
        quaternions: (T, ..., 4) quaternions, time first.
    Returns:
        (T, ..., 4) copy where dot(q[t], q[t-1]) >= 0 for every t.
    """
    q = np.array(quaternions, dtype=np.float64, copy=True)
    for t in range(1, q.shape[0]):
        dots = np.sum(q[t] * q[t - 1], axis=-1, keepdims=True)
        q[t] = np.where(dots < 0.0, -q[t], q[t])
    return q


def quaternion_slerp(q0: np.ndarray, q1: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Spherical interpolation along the shorter arc.

    Args:
        q0: (..., 4) start quaternions (w, x, y, z).
        q1: (..., 4) end quaternions.
        weight: (...,) or scalar, 0 gives ``q0`` and 1 gives ``q1``.
    Returns:
        (..., 4) unit quaternions.
    """
    a = np.asarray(q0, dtype=np.float64)
    b = np.asarray(q1, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0.0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    safe = np.where(near, 1.0, sin_theta)
    wa = np.where(near, 1.0 - w, np.sin((1.0 - w) * theta) / safe)
    wb = np.where(near, w, np.sin(w * theta) / safe)
    out = wa * a + wb * b
    return out / np.linalg.norm(out, axis=-1, keepdims=True)

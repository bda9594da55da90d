"""Rotation conversions for the video pipeline, in numpy (the per-track sequences never touch torch).

Smoothing works on the continuous 6D representation (Zhou et al. 2019): the first two **columns** of the rotation
matrix. Unlike Euler angles or axis-angle it has no wrap-around or gimbal discontinuity, so a linear filter over
time stays meaningful; the filtered vectors are mapped back to rotations by Gram-Schmidt. Axis-angle conversions
go through ``scipy.spatial.transform.Rotation`` (robust near 0 and pi).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["axis_angle_to_rotmat", "rotmat_to_axis_angle", "rotmat_to_6d", "rot6d_to_rotmat"]


def axis_angle_to_rotmat(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle vectors to rotation matrices.

    Args:
        axis_angle: (..., 3) rotation vectors, radians.
    Returns:
        (..., 3, 3) rotation matrices, float64.
    """
    aa = np.asarray(axis_angle, dtype=np.float64)
    if aa.shape[-1] != 3:
        raise ValueError(f"axis_angle_to_rotmat: expected (..., 3) axis-angle; got shape {aa.shape}")
    flat = aa.reshape(-1, 3)
    mats = Rotation.from_rotvec(flat).as_matrix() if len(flat) else np.zeros((0, 3, 3))
    return mats.reshape(*aa.shape[:-1], 3, 3)


def rotmat_to_axis_angle(rotmat: np.ndarray) -> np.ndarray:
    """Rotation matrices to axis-angle vectors (angle in [0, pi]).

    Args:
        rotmat: (..., 3, 3) rotation matrices.
    Returns:
        (..., 3) rotation vectors, float64.
    """
    r = np.asarray(rotmat, dtype=np.float64)
    if r.shape[-2:] != (3, 3):
        raise ValueError(f"rotmat_to_axis_angle: expected (..., 3, 3) matrices; got shape {r.shape}")
    flat = r.reshape(-1, 3, 3)
    vecs = Rotation.from_matrix(flat).as_rotvec() if len(flat) else np.zeros((0, 3))
    return vecs.reshape(*r.shape[:-2], 3)


def rotmat_to_6d(rotmat: np.ndarray) -> np.ndarray:
    """Rotation matrices to 6D vectors (first column, then second column).

    Args:
        rotmat: (..., 3, 3) rotation matrices.
    Returns:
        (..., 6) vectors.
    """
    r = np.asarray(rotmat, dtype=np.float64)
    if r.shape[-2:] != (3, 3):
        raise ValueError(f"rotmat_to_6d: expected (..., 3, 3) matrices; got shape {r.shape}")
    return np.concatenate([r[..., :, 0], r[..., :, 1]], axis=-1)


def rot6d_to_rotmat(rot6d: np.ndarray) -> np.ndarray:
    """6D vectors back to rotation matrices by Gram-Schmidt; inverse of :func:`rotmat_to_6d`.

    Args:
        rot6d: (..., 6) vectors (need not be orthonormal, e.g. after filtering).
    Returns:
        (..., 3, 3) proper rotation matrices.
    """
    x = np.asarray(rot6d, dtype=np.float64)
    if x.shape[-1] != 6:
        raise ValueError(f"rot6d_to_rotmat: expected (..., 6) vectors; got shape {x.shape}")
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    a2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), 1e-12)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)

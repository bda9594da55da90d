"""Rotation conversions on torch tensors: axis-angle <-> rotation matrix <-> quaternion.

Conventions: rotation matrices act on column vectors (``R @ v``), as SMPL's; axis-angle is the rotation vector
(unit axis times angle in radians, |angle| <= pi); quaternions are (w, x, y, z) with w >= 0. The 6D representations
of the networks (rows for TokenHMR, columns for HMR 2.0) live with the models: ``backend.models.rot6d_to_rotmat``.
"""

from __future__ import annotations

import torch

__all__ = [
    "axis_angle_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quaternion",
    "quaternion_to_rotmat",
    "quaternion_to_axis_angle",
    "axis_angle_to_quaternion",
]

_SMALL_ANGLE = 1e-6


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 4) unit quaternions (w, x, y, z), exact near 0."""
    angle = torch.linalg.vector_norm(axis_angle, dim=-1, keepdim=True)
    half = 0.5 * angle
    small = angle < _SMALL_ANGLE
    # sin(a/2)/a with its Taylor series 1/2 - a^2/48 where a is tiny (avoids 0/0).
    scale = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / torch.where(small, 1.0, angle))
    return torch.cat([torch.cos(half), axis_angle * scale], dim=-1)


def quaternion_to_rotmat(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z), normalised here -> (..., 3, 3) rotation matrices."""
    q = quaternion / torch.linalg.vector_norm(quaternion, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def axis_angle_to_rotmat(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) rotation matrices (Rodrigues through the quaternion)."""
    return quaternion_to_rotmat(axis_angle_to_quaternion(axis_angle))


def rotmat_to_quaternion(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Shepperd's method: of the four candidate formulas, use the one with the largest pivot, so the result is
    accurate for every rotation, 180 degrees included.
    """
    m = rotmat
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    # 4*w^2, 4*x^2, 4*y^2, 4*z^2 (each a candidate pivot).
    pivots = torch.stack([1 + trace, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1)
    candidates = torch.stack(
        [
            torch.stack([pivots[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                         m[..., 1, 0] - m[..., 0, 1]], dim=-1),
            torch.stack([m[..., 2, 1] - m[..., 1, 2], pivots[..., 1], m[..., 1, 0] + m[..., 0, 1],
                         m[..., 0, 2] + m[..., 2, 0]], dim=-1),
            torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], pivots[..., 2],
                         m[..., 2, 1] + m[..., 1, 2]], dim=-1),
            torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2],
                         pivots[..., 3]], dim=-1),
        ],
        dim=-2,
    )  # (..., 4 candidates, 4 components); candidate k is q * 4 q_k
    best = pivots.argmax(dim=-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3) rotation vectors with angle in [0, pi]."""
    q = quaternion / torch.linalg.vector_norm(quaternion, dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, xyz = q[..., :1], q[..., 1:]
    sin_half = torch.linalg.vector_norm(xyz, dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, w)
    small = sin_half < _SMALL_ANGLE
    # angle / sin(angle/2) -> 2 / w as the angle goes to 0.
    scale = torch.where(small, 2.0 / w, angle / torch.where(small, 1.0, sin_half))
    return xyz * scale


def rotmat_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) rotation vectors (angle in [0, pi]), accurate near 0 and pi."""
    return quaternion_to_axis_angle(rotmat_to_quaternion(rotmat))

"""The few rotation conversions training needs (axis-angle, 6D "rows" convention, geodesic angle).

Kept private and minimal: the backend owns the model-side conversions; these are used on training data and
losses only. The 6D convention is TokenHMR's / PyTorch3D's: the 6D vector is the first two ROWS of the matrix
(``tokenization/models/rotation_utils.py``; spec §3.3).
"""

from __future__ import annotations

import torch

__all__ = ["axis_angle_to_matrix", "geodesic_angle", "matrix_to_rot6d", "rot6d_to_matrix"]


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula. (..., 3) radians → (..., 3, 3); exact identity at zero."""
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)
    # sin(θ)/θ and (1-cos θ)/θ² written with a safe θ so zero rotations give the identity without NaN.
    small = angle < 1e-8
    safe = torch.where(small, torch.ones_like(angle), angle)
    a = torch.where(small, 1.0 - angle**2 / 6.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - angle**2 / 24.0, (1.0 - torch.cos(safe)) / safe**2)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + a[..., None] * skew + b[..., None] * (skew @ skew)


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) → (..., 6): the first two rows, concatenated (TokenHMR convention)."""
    return matrix[..., :2, :].reshape(*matrix.shape[:-2], 6)


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) → (..., 3, 3) by Gram-Schmidt, with b1, b2, b3 stacked as ROWS (TokenHMR convention)."""
    a1, a2 = rot6d[..., 0:3], rot6d[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def geodesic_angle(r_pred: torch.Tensor, r_gt: torch.Tensor) -> torch.Tensor:
    """Angle of ``r_pred · r_gtᵀ`` in radians, (..., 3, 3) × 2 → (...).

    Uses atan2(‖vee(R−Rᵀ)‖/2, (tr R − 1)/2), accurate near 0 and π, unlike arccos. Equals the norm of
    ``matrix_to_axis_angle(R_pred R_gtᵀ)`` used by the official ``joint_angle_error``.
    """
    r = r_pred @ r_gt.transpose(-1, -2)
    cos = (r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2] - 1.0) / 2.0
    vee = torch.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    sin = torch.linalg.norm(vee, dim=-1) / 2.0
    return torch.atan2(sin, cos)

"""Rotation conversions against scipy's Rotation (an independent reference) and round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from backend.geometry import (
    axis_angle_to_quaternion,
    axis_angle_to_rotmat,
    quaternion_to_axis_angle,
    rotmat_to_axis_angle,
    rotmat_to_quaternion,
)


def _random_rotvecs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0.0, np.pi, size=(n, 1))
    # Include the hard cases: zero, tiny, and exactly / almost 180 degrees.
    angles[:4, 0] = [0.0, 1e-9, np.pi, np.pi - 1e-7]
    return axes * angles


def test_axis_angle_to_rotmat_matches_scipy() -> None:
    rv = _random_rotvecs(200)
    ours = axis_angle_to_rotmat(torch.from_numpy(rv)).numpy()
    ref = Rotation.from_rotvec(rv).as_matrix()
    err = np.abs(ours - ref).max()
    assert err < 1e-12, f"rotation matrices differ from scipy by {err:.3g}"


def test_rotmat_to_axis_angle_matches_scipy_and_round_trips() -> None:
    rv = _random_rotvecs(200, seed=1)
    mats = Rotation.from_rotvec(rv).as_matrix()
    back = rotmat_to_axis_angle(torch.from_numpy(mats)).numpy()
    # Angles of exactly pi have two equivalent vectors (v and -v): compare the rotations they give.
    err = np.abs(Rotation.from_rotvec(back).as_matrix() - mats).max()
    assert err < 1e-9, f"axis-angle -> matrix round trip error {err:.3g}"
    away_from_pi = np.linalg.norm(rv, axis=1) < np.pi - 1e-3
    np.testing.assert_allclose(back[away_from_pi], rv[away_from_pi], atol=1e-9, err_msg="rotation vectors")
    assert np.all(np.linalg.norm(back, axis=1) <= np.pi + 1e-9), "angles must lie in [0, pi]"


def test_quaternions_are_scalar_first_and_positive() -> None:
    rv = _random_rotvecs(100, seed=2)
    mats = torch.from_numpy(Rotation.from_rotvec(rv).as_matrix())
    q = rotmat_to_quaternion(mats).numpy()
    ref = Rotation.from_rotvec(rv).as_quat()[:, [3, 0, 1, 2]]  # scipy is scalar-last
    ref = np.where(ref[:, :1] < 0, -ref, ref)
    assert np.all(q[:, 0] >= 0), "w must be non-negative"
    unambiguous = np.abs(ref[:, 0]) > 1e-6
    np.testing.assert_allclose(q[unambiguous], ref[unambiguous], atol=1e-9)
    np.testing.assert_allclose(quaternion_to_axis_angle(axis_angle_to_quaternion(torch.from_numpy(rv[4:]))).numpy(),
                               rv[4:], atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_angles_have_finite_gradients(dtype: torch.dtype) -> None:
    rv = torch.zeros(2, 3, dtype=dtype, requires_grad=True)
    axis_angle_to_rotmat(rv).sum().backward()
    assert torch.isfinite(rv.grad).all(), f"gradient at zero rotation must be finite, got {rv.grad}"

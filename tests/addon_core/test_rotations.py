"""The add-on's numpy rotation maths against scipy's Rotation (independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from blender_addon.core import (
    axis_angle_to_matrix,
    make_quaternions_continuous,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_slerp,
    quaternion_to_matrix,
    rotation_x,
)

RNG = np.random.default_rng(4)


def _wxyz(rot: Rotation) -> np.ndarray:
    xyzw = rot.as_quat()
    return np.concatenate([xyzw[..., 3:], xyzw[..., :3]], axis=-1)


def test_axis_angle_to_matrix_matches_scipy_including_tiny_and_pi_angles():
    aa = RNG.normal(size=(200, 3)) * 1.5
    aa[0] = 0.0
    aa[1] = [1e-14, 0, 0]
    aa[2] = [np.pi, 0, 0]
    aa[3] = [0, np.pi - 1e-9, 0]
    got = axis_angle_to_matrix(aa)
    want = Rotation.from_rotvec(aa).as_matrix()
    err = np.abs(got - want).max()
    assert err < 1e-12, f"Rodrigues vs scipy: expected max error < 1e-12, got {err}"


def test_matrix_to_quaternion_matches_scipy_up_to_sign_and_has_nonnegative_w():
    rots = Rotation.random(500, random_state=1)
    got = matrix_to_quaternion(rots.as_matrix())
    want = _wxyz(rots)
    want = np.where(want[:, :1] < 0, -want, want)
    err = np.abs(got - want).max()
    assert err < 1e-12, f"matrix→quaternion vs scipy: expected max error < 1e-12, got {err}"
    assert np.all(got[:, 0] >= 0), f"expected w >= 0 everywhere, min w was {got[:, 0].min()}"


def test_quaternion_round_trips():
    rots = Rotation.random(300, random_state=2)
    mats = rots.as_matrix()
    back = quaternion_to_matrix(matrix_to_quaternion(mats))
    assert np.abs(back - mats).max() < 1e-12, f"matrix→quat→matrix error {np.abs(back - mats).max()}"
    aa = rots.as_rotvec()
    aa_back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    err = np.abs(aa_back - aa).max()
    assert err < 1e-10, f"axis-angle→matrix→axis-angle: expected < 1e-10 (angles < pi), got {err}"


def test_rotation_x_matches_scipy():
    for deg in (-90.0, 90.0, 33.0):
        want = Rotation.from_euler("x", deg, degrees=True).as_matrix()
        err = np.abs(rotation_x(np.radians(deg)) - want).max()
        assert err < 1e-15, f"Rx({deg}) error {err}"


def test_make_quaternions_continuous_flips_only_the_antipodal_jumps():
    q = _wxyz(Rotation.from_rotvec(np.linspace(0, 1, 50)[:, None] * np.array([[0.0, 2.0, 0.0]])))
    signs = RNG.choice([-1.0, 1.0], size=(50, 1))
    noisy = q * signs
    fixed = make_quaternions_continuous(noisy)
    dots = np.sum(fixed[1:] * fixed[:-1], axis=-1)
    assert dots.min() > 0, f"expected every neighbour dot > 0, min was {dots.min()}"
    same = np.abs(np.abs(np.sum(fixed * q, axis=-1)) - 1).max()
    assert same < 1e-12, f"continuity must only flip signs (same rotations), |dot|-1 max {same}"
    assert np.allclose(fixed[0], noisy[0]), "the first key keeps its sign"


def test_quaternion_slerp_matches_scipy_slerp():
    a, b = Rotation.random(2, random_state=3)
    weights = np.linspace(0, 1, 11)
    want = Slerp([0, 1], Rotation.concatenate([a, b]))(weights).as_matrix()
    got = quaternion_to_matrix(quaternion_slerp(_wxyz(a), _wxyz(b), weights[:, None][:, 0]))
    err = np.abs(got - want).max()
    assert err < 1e-10, f"slerp vs scipy Slerp: max error {err}"


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0])
def test_quaternion_slerp_takes_the_short_arc_for_opposite_signs(w):
    a = _wxyz(Rotation.from_rotvec([0, 0, 0.2]))
    b = -_wxyz(Rotation.from_rotvec([0, 0, 0.4]))
    got = matrix_to_axis_angle(quaternion_to_matrix(quaternion_slerp(a, b, w)))
    want = 0.2 + 0.2 * w
    assert abs(got[2] - want) < 1e-12, f"slerp weight {w}: expected z angle {want}, got {got[2]}"

"""SMPL axis-angle → pose-bone rotations for arbitrary rest rolls, checked by composing Blender's bone chain.

The reference is independent of the formula under test: it rebuilds each bone's armature-space pose rotation
the way Blender does (``P_b = P_parent · R0_parent⁻¹ · R0_b · basis_b``) and compares ``P_b · R0_b⁻¹`` with the
SMPL global rotation mapped to Blender, computed with scipy.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from blender_addon.core import (
    CAMERA_TO_BLENDER,
    SMPL_PARENTS,
    SMPL_TO_BLENDER,
    bone_basis_matrices,
    bone_basis_quaternions,
    quaternion_to_matrix,
    root_location_keys,
)

C = Rotation.from_euler("x", 90, degrees=True).as_matrix()
M = Rotation.from_euler("x", -90, degrees=True).as_matrix()


def test_axis_constants_are_the_design_rotations():
    assert np.abs(SMPL_TO_BLENDER - C).max() < 1e-15, f"C should be Rx(+90°), got {SMPL_TO_BLENDER}"
    assert np.abs(CAMERA_TO_BLENDER - M).max() < 1e-15, f"M should be Rx(-90°), got {CAMERA_TO_BLENDER}"
    # SMPL canonical: body faces +Z and Y is up → Blender faces -Y, Z up.
    assert np.allclose(C @ [0, 0, 1], [0, -1, 0]) and np.allclose(C @ [0, 1, 0], [0, 0, 1])
    # OpenCV camera: z forward, y down → Blender +Y forward, -Z.
    assert np.allclose(M @ [0, 0, 1], [0, 1, 0]) and np.allclose(M @ [0, 1, 0], [0, 0, -1])


def _blender_chain(basis: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Armature-space pose rotations P_b from matrix_basis, the way Blender composes them."""
    t = basis.shape[0]
    pose = np.empty((t, 24, 3, 3))
    for b in range(24):
        p = SMPL_PARENTS[b]
        if p < 0:
            pose[:, b] = rest[b] @ basis[:, b]
        else:
            pose[:, b] = pose[:, p] @ (rest[p].T @ rest[b]) @ basis[:, b]
    return pose


def test_bone_rotations_reproduce_smpl_globals_for_random_rest_rolls():
    rng = np.random.default_rng(0)
    t = 7
    go = Rotation.random(t, random_state=5).as_rotvec()
    bp = rng.normal(scale=0.6, size=(t, 23, 3))
    rest = Rotation.random(24, random_state=6).as_matrix()  # arbitrary bone directions and rolls
    basis = bone_basis_matrices(go, bp, rest)
    pose = _blender_chain(basis, rest)
    # SMPL global rotations with scipy: G_0 = R_go (canonical → camera), G_j = G_parent · R_j.
    local = np.concatenate([Rotation.from_rotvec(go).as_matrix()[:, None],
                            Rotation.from_rotvec(bp.reshape(-1, 3)).as_matrix().reshape(t, 23, 3, 3)], axis=1)
    glob = np.empty_like(local)
    for j in range(24):
        p = SMPL_PARENTS[j]
        glob[:, j] = local[:, j] if p < 0 else glob[:, p] @ local[:, j]
    want = M @ glob @ C.T  # a rest-pose Blender vector C·v maps to M·G·v
    got = pose @ np.swapaxes(rest, -1, -2)
    err = np.abs(got - want).max()
    assert err < 1e-12, f"armature-space bone rotation vs SMPL global: expected < 1e-12, got {err}"


def test_rest_rotation_equal_to_c_reduces_to_known_forms():
    go = np.array([[np.pi, 0.0, 0.0]])  # upright person facing a level camera
    bp = np.zeros((1, 23, 3))
    bp[0, 17] = [0.0, 0.0, 0.5]
    rest = np.broadcast_to(C, (24, 3, 3))
    basis = bone_basis_matrices(go, bp, rest)
    # Root: C⁻¹ · M · Rx(180°) = identity (the character stands facing the camera, no extra turn).
    assert np.abs(basis[0, 0] - np.eye(3)).max() < 1e-12, f"root basis should be identity, got {basis[0, 0]}"
    # SXA layout: a child bone's basis is the SMPL rotation itself.
    want = Rotation.from_rotvec([0.0, 0.0, 0.5]).as_matrix()
    assert np.abs(basis[0, 18] - want).max() < 1e-12, f"elbow basis should equal R_smpl, got {basis[0, 18]}"
    assert np.abs(basis[0, 5] - np.eye(3)).max() < 1e-12, "zero pose gives identity basis"


def test_bone_basis_quaternions_are_continuous_and_match_matrices():
    t = 40
    angles = np.linspace(0, 3 * np.pi, t)
    go = np.stack([np.zeros(t), angles, np.zeros(t)], axis=1)
    bp = np.zeros((t, 23, 3))
    bp[:, 0, 0] = np.linspace(-3, 3, t)
    rest = Rotation.random(24, random_state=8).as_matrix()
    q = bone_basis_quaternions(go, bp, rest)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    assert dots.min() >= 0, f"expected sign-continuous quaternions, min neighbour dot {dots.min()}"
    err = np.abs(quaternion_to_matrix(q) - bone_basis_matrices(go, bp, rest)).max()
    assert err < 1e-12, f"quaternions must encode the basis matrices, error {err}"


def test_bad_shapes_name_the_argument():
    import pytest

    with pytest.raises(ValueError, match="body_pose: expected shape"):
        bone_basis_matrices(np.zeros((2, 3)), np.zeros((2, 24, 3)), np.zeros((24, 3, 3)))
    with pytest.raises(ValueError, match="rest_rotations"):
        bone_basis_matrices(np.zeros((2, 3)), np.zeros((2, 23, 3)), np.zeros((23, 3, 3)))


def test_root_location_is_rest_relative():
    rest = Rotation.random(1, random_state=9).as_matrix()[0]
    head = np.array([0.1, -0.2, 0.9])
    target = np.array([[1.0, 2.0, 3.0], [0.1, -0.2, 0.9]])
    loc = root_location_keys(target, head, rest)
    # Blender: posed head = head_rest + R0 · loc.
    back = head + loc @ rest.T
    assert np.abs(back - target).max() < 1e-12, f"posed head should reach the target, got {back}"
    assert np.abs(loc[1]).max() < 1e-12, f"the rest position needs zero location, got {loc[1]}"

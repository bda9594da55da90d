"""SMPL axis-angle pose to Blender pose-bone rotations and locations, for any bone rest orientation (DESIGN §5).

Frames:
- SMPL canonical: Y up, body facing +Z. ``C = Rx(+90°)`` maps it to Blender (Z up, facing −Y).
- Camera: OpenCV (x right, y down, z forward). ``M = Rx(−90°)`` maps it to Blender, with the camera at the
  origin looking along +Y.
- Armature space: the armature object has the identity transform, so armature space is Blender world space;
  ``R0`` is a bone's armature-space rest rotation (``bone.matrix_local.to_3x3()``), any roll allowed.

For a child bone, ``basis = R0⁻¹ · C · R_smpl · C⁻¹ · R0``; for the root, ``basis = R0⁻¹ · M · R_go · C⁻¹ · R0``.
The root's location key is rest-relative: ``loc = R0⁻¹ · (p_armature − head_rest)``.
"""

from __future__ import annotations

import numpy as np

from .rotations import axis_angle_to_matrix, make_quaternions_continuous, matrix_to_quaternion, rotation_x

__all__ = [
    "SMPL_TO_BLENDER",
    "CAMERA_TO_BLENDER",
    "bone_basis_matrices",
    "bone_basis_quaternions",
    "root_location_keys",
]

SMPL_TO_BLENDER = rotation_x(np.pi / 2)  # C
CAMERA_TO_BLENDER = rotation_x(-np.pi / 2)  # M


def bone_basis_matrices(
    global_orient: np.ndarray, body_pose: np.ndarray, rest_rotations: np.ndarray
) -> np.ndarray:
    """Pose-bone basis rotations that reproduce an SMPL pose on an armature with arbitrary rest rolls.

    Args:
        global_orient: (T, 3) axis-angle of the pelvis, SMPL canonical → camera frame.
        body_pose: (T, 23, 3) axis-angle of joints 1..23 relative to their parents, SMPL canonical frame.
        rest_rotations: (24, 3, 3) armature-space rest rotation ``R0`` of each bone, SMPL joint order.
    Returns:
        (T, 24, 3, 3) float64 ``pose_bone.matrix_basis`` rotations.
    """
    go = np.asarray(global_orient, dtype=np.float64)
    bp = np.asarray(body_pose, dtype=np.float64)
    r0 = np.asarray(rest_rotations, dtype=np.float64)
    if go.ndim != 2 or go.shape[1] != 3:
        raise ValueError(f"global_orient: expected shape (T, 3), got {go.shape}")
    if bp.shape != (go.shape[0], 23, 3):
        raise ValueError(f"body_pose: expected shape ({go.shape[0]}, 23, 3) to match global_orient, got {bp.shape}")
    if r0.shape != (24, 3, 3):
        raise ValueError(f"rest_rotations: expected shape (24, 3, 3), got {r0.shape}")
    r0_inv = np.swapaxes(r0, -1, -2)
    c, c_inv = SMPL_TO_BLENDER, SMPL_TO_BLENDER.T
    out = np.empty((go.shape[0], 24, 3, 3))
    r_go = axis_angle_to_matrix(go)
    out[:, 0] = r0_inv[0] @ CAMERA_TO_BLENDER @ r_go @ c_inv @ r0[0]
    r_body = axis_angle_to_matrix(bp)
    # (24 bones) each: R0⁻¹ C R C⁻¹ R0, broadcast over time.
    out[:, 1:] = r0_inv[1:] @ (c @ r_body @ c_inv) @ r0[1:]
    return out


def bone_basis_quaternions(
    global_orient: np.ndarray, body_pose: np.ndarray, rest_rotations: np.ndarray
) -> np.ndarray:
    """:func:`bone_basis_matrices` as sign-continuous quaternions.

    Returns:
        (T, 24, 4) float64 quaternions (w, x, y, z) with dot(q[t], q[t-1]) >= 0 per bone.
    """
    matrices = bone_basis_matrices(global_orient, body_pose, rest_rotations)
    return make_quaternions_continuous(matrix_to_quaternion(matrices))


def root_location_keys(pelvis_armature: np.ndarray, head_rest: np.ndarray, rest_rotation: np.ndarray) -> np.ndarray:
    """Root bone location keys that put the pelvis at ``pelvis_armature``.

    Args:
        pelvis_armature: (T, 3) wanted pelvis position in armature (= Blender world) space, metres.
        head_rest: (3,) the root bone's rest head in armature space.
        rest_rotation: (3, 3) the root bone's armature-space rest rotation ``R0``.
    Returns:
        (T, 3) float64 ``pose_bone.location`` values (bone rest frame).
    """
    p = np.asarray(pelvis_armature, dtype=np.float64)
    delta = p - np.asarray(head_rest, dtype=np.float64)
    # Row vectors: (R0⁻¹ d)ᵀ = dᵀ R0.
    return delta @ np.asarray(rest_rotation, dtype=np.float64)

"""Rest layout of the SMPL armature in Blender: bone heads at the joints, tails toward the chain's child.

Bones point along the limb (as artists and retargeters expect) instead of SXA's all-+Z layout; the pose maths in
:mod:`.bone_pose` works for any rest orientation, so this is purely a modelling choice.
"""

from __future__ import annotations

import numpy as np

from .bone_pose import SMPL_TO_BLENDER
from .joints import SMPL_PARENTS

__all__ = ["CHAIN_CHILD", "bone_layout"]

# The child a bone points at; -1 for end bones, which continue their parent's direction.
# pelvis → spine1 and spine3 → neck (not the hips / collars), so the spine reads as a chain.
CHAIN_CHILD: tuple[int, ...] = (
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -1, -1, 15, 16, 17, -1, 18, 19, 20, 21, 22, 23, -1, -1,
)
_END_BONE_LENGTH = 0.6  # end bones get this fraction of their parent's length
_MIN_LENGTH = 1e-3  # Blender deletes zero-length bones


def bone_layout(rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heads and tails of the 24 bones in Blender armature space.

    Args:
        rest_joints: (24, 3) rest joints J(β), SMPL canonical frame (Y up, facing +Z), metres.
    Returns:
        heads (24, 3) and tails (24, 3), float64, Blender frame (Z up, facing −Y).
    """
    joints = np.asarray(rest_joints, dtype=np.float64)
    if joints.shape != (24, 3):
        raise ValueError(f"rest_joints: expected shape (24, 3), got {joints.shape}")
    heads = joints @ SMPL_TO_BLENDER.T
    tails = np.empty_like(heads)
    for j in range(24):
        child = CHAIN_CHILD[j]
        if child >= 0:
            tails[j] = heads[child]
        else:
            parent = SMPL_PARENTS[j]
            direction = heads[j] - heads[parent]
            tails[j] = heads[j] + _END_BONE_LENGTH * direction
        if np.linalg.norm(tails[j] - heads[j]) < _MIN_LENGTH:
            tails[j] = heads[j] + np.array([0.0, 0.0, 0.05])
    return heads, tails

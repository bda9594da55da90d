"""The SMPL joint table as the add-on sees it (smplx names and parents, DESIGN.md §5).

The add-on cannot import ``backend`` (it ships alone inside Blender), so it keeps the 24-joint table here; the
backend's ``body_model`` reply carries names and parents too, and :func:`check_joint_table` refuses a reply
that disagrees with this table rather than building a character with swapped bones.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SMPL_JOINT_NAMES", "SMPL_PARENTS", "NUM_SMPL_JOINTS", "check_joint_table"]

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
NUM_SMPL_JOINTS = 24


def check_joint_table(joint_names: Sequence[str], parents: Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``joint_names``/``parents`` equal the SMPL table.

    Args:
        joint_names: 24 names from a ``body_model`` reply.
        parents: 24 parent indices (root -1) from the same reply.
    """
    names = tuple(str(n) for n in joint_names)
    pars = tuple(int(p) for p in parents)
    if names != SMPL_JOINT_NAMES:
        raise ValueError(
            f"body_model joint_names: expected the 24 smplx SMPL names {SMPL_JOINT_NAMES[:3]}..., got "
            f"{len(names)} names {names[:3]}...; the backend and add-on versions do not match, update both"
        )
    if pars != SMPL_PARENTS:
        raise ValueError(
            f"body_model parents: expected {list(SMPL_PARENTS)}, got {list(pars)}; "
            "the backend and add-on versions do not match, update both"
        )

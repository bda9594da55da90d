"""The one joint table of the project: SMPL joint names and parents (smplx order), the OpenPose joint map and the
names of the 44 keypoints the official TokenHMR / HMR 2.0 SMPL wrapper outputs.

Sources: smplx ``joint_names.py`` and ``vertex_ids.py`` (smplx 0.1.28), TokenHMR
``tokenhmr/lib/models/smpl_wrapper.py`` (``smpl_to_openpose``) and ``tokenhmr/lib/utils/smplify_invert.py``
(``JOINT_NAMES``). Data only.
"""

from __future__ import annotations

__all__ = [
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "NUM_SMPL_JOINTS",
    "NUM_BODY_JOINTS",
    "SMPL_TO_OPENPOSE",
    "SMPLH_EXTRA_VERTEX_IDS",
    "KEYPOINT_NAMES",
    "NUM_KEYPOINTS",
    "PELVIS_KEYPOINT_INDEX",
]

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)  # fmt: skip

SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)  # fmt: skip

NUM_SMPL_JOINTS = 24
NUM_BODY_JOINTS = 23  # joints 1..23, the official `body_pose`

# The 21 vertex picks smplx's VertexJointSelector appends after the 24 chain joints (vertex_ids['smplh']), in the
# order it appends them: 5 face, 6 feet, 5 left then 5 right fingertips. Indices 24..44 of the 45 smplx joints.
SMPLH_EXTRA_VERTEX_IDS: tuple[tuple[str, int], ...] = (
    ("nose", 332), ("reye", 6260), ("leye", 2800), ("rear", 4071), ("lear", 583),
    ("LBigToe", 3216), ("LSmallToe", 3226), ("LHeel", 3387),
    ("RBigToe", 6617), ("RSmallToe", 6624), ("RHeel", 6787),
    ("lthumb", 2746), ("lindex", 2319), ("lmiddle", 2445), ("lring", 2556), ("lpinky", 2673),
    ("rthumb", 6191), ("rindex", 5782), ("rmiddle", 5905), ("rring", 6016), ("rpinky", 6133),
)  # fmt: skip

# Official `smpl_to_openpose`: indices into the 45 smplx joints giving the 25 OpenPose BODY_25 joints.
SMPL_TO_OPENPOSE: tuple[int, ...] = (
    24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
)  # fmt: skip

# The 44 output keypoints: 25 OpenPose, then the 19 joints of SMPL_to_J19.pkl (official JOINT_NAMES order).
KEYPOINT_NAMES: tuple[str, ...] = (
    "OP Nose", "OP Neck", "OP RShoulder", "OP RElbow", "OP RWrist", "OP LShoulder", "OP LElbow", "OP LWrist",
    "OP MidHip", "OP RHip", "OP RKnee", "OP RAnkle", "OP LHip", "OP LKnee", "OP LAnkle", "OP REye", "OP LEye",
    "OP REar", "OP LEar", "OP LBigToe", "OP LSmallToe", "OP LHeel", "OP RBigToe", "OP RSmallToe", "OP RHeel",
    "Right Ankle", "Right Knee", "Right Hip", "Left Hip", "Left Knee", "Left Ankle", "Right Wrist", "Right Elbow",
    "Right Shoulder", "Left Shoulder", "Left Elbow", "Left Wrist", "Neck (LSP)", "Top of Head (LSP)",
    "Pelvis (MPII)", "Thorax (MPII)", "Spine (H36M)", "Jaw (H36M)", "Head (H36M)",
)  # fmt: skip

NUM_KEYPOINTS = 44
PELVIS_KEYPOINT_INDEX = 39  # official EXTRA.PELVIS_IND = 25 + 14

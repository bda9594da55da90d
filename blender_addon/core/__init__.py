"""bpy-free maths of the add-on: SMPL → bone rotations, camera → Blender, root motion, fps resampling.

Imports neither bpy nor torch, so plain pytest covers it (tests/addon_core).
"""

from .animation import CharacterKeys, PosePoint, PoseTrack, character_keys, person_pose_from_json, stack_track
from .body import RestBodyData, rest_body_from_mapping
from .bone_pose import (
    CAMERA_TO_BLENDER,
    SMPL_TO_BLENDER,
    bone_basis_matrices,
    bone_basis_quaternions,
    root_location_keys,
)
from .camera import (
    BLENDER_CAMERA_ROTATION,
    BlenderCameraSettings,
    blender_camera_settings,
    camera_to_blender_points,
    fps_to_blender,
    pelvis_camera_positions,
)
from .joints import NUM_SMPL_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS, check_joint_table
from .picking import pick_box, pixel_to_uv, uv_to_pixel
from .resample import ResampledTrack, resample_track, source_brackets
from .root_motion import (
    ROOT_MOTION_MODES,
    RootMotionMode,
    ground_clearance,
    joint_positions_camera,
    pelvis_trajectory,
)
from .rotations import (
    axis_angle_to_matrix,
    make_quaternions_continuous,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_slerp,
    quaternion_to_matrix,
    rotation_x,
)
from .skeleton import CHAIN_CHILD, bone_layout

__all__ = [
    "BLENDER_CAMERA_ROTATION",
    "BlenderCameraSettings",
    "CAMERA_TO_BLENDER",
    "CHAIN_CHILD",
    "CharacterKeys",
    "NUM_SMPL_JOINTS",
    "PosePoint",
    "PoseTrack",
    "ROOT_MOTION_MODES",
    "ResampledTrack",
    "RestBodyData",
    "RootMotionMode",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "SMPL_TO_BLENDER",
    "axis_angle_to_matrix",
    "blender_camera_settings",
    "bone_basis_matrices",
    "bone_basis_quaternions",
    "bone_layout",
    "camera_to_blender_points",
    "character_keys",
    "check_joint_table",
    "fps_to_blender",
    "ground_clearance",
    "joint_positions_camera",
    "make_quaternions_continuous",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "pelvis_camera_positions",
    "pelvis_trajectory",
    "person_pose_from_json",
    "pick_box",
    "pixel_to_uv",
    "quaternion_slerp",
    "quaternion_to_matrix",
    "resample_track",
    "rest_body_from_mapping",
    "root_location_keys",
    "rotation_x",
    "source_brackets",
    "stack_track",
    "uv_to_pixel",
]

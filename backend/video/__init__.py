"""Video mocap: decoding, multi-person tracking, smoothing, foot contact, resumable jobs and the streaming session."""

from .appearance import APPEARANCE_DIM, appearance_distance, appearance_embedding
from .rotations import axis_angle_to_rotmat, rot6d_to_rotmat, rotmat_to_6d, rotmat_to_axis_angle
from .skeleton import SkeletonModel
from .smoothing import OneEuroFilter, SmoothingConfig, robust_betas, smooth_offline, smooth_rotations_offline
from .tracker import ConfirmationBuffer, Detection, Tracker, TrackerConfig, TrackOutput, pose_distance

__all__ = [
    "APPEARANCE_DIM",
    "ConfirmationBuffer",
    "Detection",
    "OneEuroFilter",
    "SkeletonModel",
    "SmoothingConfig",
    "TrackOutput",
    "Tracker",
    "TrackerConfig",
    "appearance_distance",
    "appearance_embedding",
    "axis_angle_to_rotmat",
    "pose_distance",
    "robust_betas",
    "rot6d_to_rotmat",
    "rotmat_to_6d",
    "rotmat_to_axis_angle",
    "smooth_offline",
    "smooth_rotations_offline",
]

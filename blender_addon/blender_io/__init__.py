"""Everything that writes to ``bpy.data``: characters, actions (one bulk keyframe writer), scene, export."""

from .animate import (
    VISIBILITY_PATHS, AnimationSettings, animate_character, bone_rotation_path, follow_visibility, key_visibility,
    restore_visibility, show_for_evaluation,
)
from .build import (
    BuildSettings, build_keyed_character, character_from_person, export_person_fbx, fit_video_characters,
)
from .character import CHARACTER_PROP, Character, build_character, find_character, rest_lift, rest_rotations
from .export import EXPORT_FORMATS, ExportSettings, export_character
from .keyframes import CurveKeys, action_fcurves, add_keys, channelbag_of, fcurves_of, write_action
from .scene import fit_frame_range, match_camera, set_frame_range, set_scene_fps
from .video_frames import VideoFrameReader

__all__ = [
    "AnimationSettings",
    "BuildSettings",
    "CHARACTER_PROP",
    "Character",
    "CurveKeys",
    "EXPORT_FORMATS",
    "ExportSettings",
    "VISIBILITY_PATHS",
    "VideoFrameReader",
    "action_fcurves",
    "add_keys",
    "animate_character",
    "bone_rotation_path",
    "build_character",
    "build_keyed_character",
    "channelbag_of",
    "character_from_person",
    "export_character",
    "export_person_fbx",
    "fcurves_of",
    "find_character",
    "fit_frame_range",
    "fit_video_characters",
    "follow_visibility",
    "key_visibility",
    "match_camera",
    "rest_lift",
    "rest_rotations",
    "restore_visibility",
    "set_frame_range",
    "set_scene_fps",
    "show_for_evaluation",
    "write_action",
]

"""Key a character from a pose track: one action per character through the one keyframe writer."""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..core import PoseTrack, RestBodyData, RootMotionMode, character_keys, ground_clearance, resample_track
from .character import rest_rotations
from .keyframes import CurveKeys, write_action

__all__ = ["AnimationSettings", "animate_character", "bone_rotation_path"]


@dataclass(frozen=True)
class AnimationSettings:
    """How a track becomes keys."""

    root_motion: RootMotionMode = "camera"  # "camera", "in_place" or "ground_aligned"
    frame_offset: int = 1  # Blender frame of source frame 0 (frame 0 stays free for a T-pose)
    fps_source: float | None = None  # source frame rate; with fps_target, resample when they differ
    fps_target: float | None = None  # the scene's frame rate
    interpolation: str = "LINEAR"  # key interpolation


def bone_rotation_path(bone: str) -> str:
    """The data path of a pose bone's quaternion."""
    return f'pose.bones["{bone}"].rotation_quaternion'


def animate_character(
    arm_obj: bpy.types.Object,
    body: RestBodyData,
    track: PoseTrack,
    action_name: str,
    settings: AnimationSettings = AnimationSettings(),
) -> bpy.types.Action:
    """Write a new action on ``arm_obj`` that plays ``track``.

    Args:
        arm_obj: a character armature built from ``body`` (``build_character``).
        body: the rest body the armature was built from (its joints define the pelvis offset J0).
        track: the person's poses; source frame ``f`` is keyed at ``settings.frame_offset + f``
            (after resampling to ``fps_target`` when asked).
        action_name: name of the new action (e.g. "TM_track_3_vtest").
        settings: root motion mode, frame offset, resampling, interpolation.
    Returns:
        The assigned action: ``rotation_quaternion`` of all 24 bones and ``location`` of the pelvis.
    """
    r0, heads = rest_rotations(arm_obj, body.joint_names)
    keys = character_keys(track, body.joints, body.parents, r0, heads[0], settings.root_motion,
                          ground_clearance(body.vertices, body.joints))
    frames, quats, locs = keys.frames, keys.quaternions, keys.root_locations
    if settings.fps_source and settings.fps_target and abs(settings.fps_source / settings.fps_target - 1.0) > 1e-5:
        resampled = resample_track(frames, quats, locs, settings.fps_source, settings.fps_target)
        frames, quats, locs = resampled.frames, resampled.quaternions, resampled.locations
    blender_frames = frames.astype(np.float64) + settings.frame_offset
    curves = [
        CurveKeys(bone_rotation_path(name), blender_frames, quats[:, j], group=name)
        for j, name in enumerate(body.joint_names)
    ]
    root = body.joint_names[0]
    curves.append(CurveKeys(f'pose.bones["{root}"].location', blender_frames, locs, group=root))
    for pose_bone in arm_obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    return write_action(arm_obj, action_name, curves, settings.interpolation)

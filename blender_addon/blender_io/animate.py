"""Key a character from a pose track: one action per character through the one keyframe writer.

A video character is only on screen while its person is tracked: :func:`key_visibility` keys the armature's
``hide_viewport``/``hide_render`` (constant) on its own action, hidden the frame before the track's first key and
the frame after its last, and :func:`follow_visibility` drives the body mesh's from the armature's (drivers, no
second action). The action's manual frame range stays the track's keys, so ``action.frame_range`` (scene range,
export, retarget) is unchanged by the visibility keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..core import PoseTrack, RestBodyData, RootMotionMode, character_keys, ground_clearance, resample_track
from .character import rest_rotations
from .keyframes import CurveKeys, add_keys, channelbag_of, write_action

__all__ = [
    "AnimationSettings", "VISIBILITY_PATHS", "animate_character", "bone_rotation_path", "follow_visibility",
    "key_visibility", "restore_visibility", "show_for_evaluation",
]

VISIBILITY_PATHS: tuple[str, ...] = ("hide_viewport", "hide_render")  # object properties keyed / driven


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


def follow_visibility(obj: bpy.types.Object, source: bpy.types.Object) -> None:
    """Drive ``obj``'s ``hide_viewport`` and ``hide_render`` from ``source``'s (idempotent; no action on ``obj``)."""
    for path in VISIBILITY_PATHS:
        driver = obj.driver_add(path).driver
        driver.type = "AVERAGE"
        while driver.variables:
            driver.variables.remove(driver.variables[0])
        var = driver.variables.new()
        var.name = "hide"
        var.type = "SINGLE_PROP"
        target = var.targets[0]
        target.id_type = "OBJECT"
        target.id = source
        target.data_path = path
        setattr(obj, path, getattr(source, path))


def key_visibility(arm_obj: bpy.types.Object, scene_first: int, scene_last: int) -> bool:
    """Show a video character only over its track: key its armature's visibility, drive its meshes' from it.

    The armature's own action gets constant keys of ``hide_viewport`` and ``hide_render``: hidden at the frame
    before the track's first key, shown at the first key, hidden at the frame after the last key. A track that
    spans ``scene_first..scene_last`` gets none (and loses any it had, e.g. when the range was re-fitted). The
    action's manual frame range is set to the track's keys so ``action.frame_range`` ignores the hidden keys.

    Args:
        arm_obj: a keyed character armature (``animate_character``).
        scene_first, scene_last: the scene's frame range (every track of the video).
    Returns:
        True when the character got visibility keys.
    """
    action = arm_obj.animation_data.action
    first, last = (int(round(v)) for v in action.frame_range)  # the track's keys (manual range once keyed)
    bag = channelbag_of(arm_obj)
    if first <= scene_first and last >= scene_last:
        old = [fc for path in VISIBILITY_PATHS if (fc := bag.fcurves.find(path, index=0)) is not None]
        for fcurve in old:
            bag.fcurves.remove(fcurve)
        if old:
            action.use_frame_range = False
        for path in VISIBILITY_PATHS:
            setattr(arm_obj, path, False)
        return False
    action.frame_start, action.frame_end = first, last
    action.use_frame_range = True
    frames = np.array([first - 1, first, last + 1], dtype=np.float64)
    hidden = np.array([[1.0], [0.0], [1.0]])
    add_keys(bag, [CurveKeys(path, frames, hidden, group="Visibility") for path in VISIBILITY_PATHS], "CONSTANT")
    current = bpy.context.scene.frame_current
    for path in VISIBILITY_PATHS:  # the value at the current frame, before the next evaluation
        setattr(arm_obj, path, not first <= current <= last)
    for child in arm_obj.children:
        if child.type == "MESH":
            follow_visibility(child, arm_obj)
    return True


def show_for_evaluation(objects: list[bpy.types.Object]) -> list[tuple]:
    """Show ``objects`` whatever the current frame (Blender neither evaluates the pose of a hidden armature nor
    exports a hidden object): mute their visibility F-curves (the armature's action) and drivers (its meshes),
    then unhide them. Returns what :func:`restore_visibility` needs to undo it; call that in ``finally``."""
    saved = []
    for obj in objects:
        anim = obj.animation_data
        curves = []
        if anim is not None:
            if anim.action is not None and obj.type == "ARMATURE":
                try:
                    fcurves = channelbag_of(obj, ensure=False).fcurves
                except ValueError:  # a rig whose slot has no keys: nothing to mute
                    fcurves = None
                if fcurves is not None:
                    curves += [fcurves.find(path, index=0) for path in VISIBILITY_PATHS]
            curves += [anim.drivers.find(path, index=0) for path in VISIBILITY_PATHS]
        curves = [fc for fc in curves if fc is not None and not fc.mute]
        saved.append((obj, curves, [getattr(obj, path) for path in VISIBILITY_PATHS]))
        for fcurve in curves:
            fcurve.mute = True
        for path in VISIBILITY_PATHS:
            setattr(obj, path, False)
    return saved


def restore_visibility(saved: list[tuple]) -> None:
    """Undo :func:`show_for_evaluation`: unmute the curves and put the visibility back."""
    for obj, curves, values in saved:
        for fcurve in curves:
            fcurve.mute = False
        for path, value in zip(VISIBILITY_PATHS, values):
            setattr(obj, path, value)

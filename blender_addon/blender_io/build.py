"""Turn a ready character (poses + rest body from the backend) into keyed Blender objects; the demo's entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy

from ..core import PoseTrack, RestBodyData, RootMotionMode, person_pose_from_json, rest_body_from_mapping, stack_track
from .animate import AnimationSettings, animate_character, key_visibility
from .character import Character, build_character
from .export import ExportSettings, export_character
from .scene import fit_frame_range, match_camera, set_frame_range, set_scene_fps

__all__ = [
    "BuildSettings", "build_keyed_character", "character_from_person", "export_person_fbx", "fit_video_characters"
]


@dataclass(frozen=True)
class BuildSettings:
    """How ready characters become scene objects."""

    name_prefix: str = "TM"  # objects are "<prefix>_track_<id>"
    clip_name: str = "clip"  # the source (image or video stem), used in action names
    root_motion: RootMotionMode = "camera"  # "camera", "in_place" or "ground_aligned"
    fps_source: float | None = None  # video frame rate; None for a single image
    set_scene_fps: bool = True  # make the scene's frame rate the video's (else resample to the scene's)
    frame_offset: int = 1  # Blender frame of source frame 0
    image_size_wh: tuple[int, int] | None = None  # source image size, to match the scene camera; None = no camera


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text) or "clip"


def build_keyed_character(track_id: int, track: PoseTrack, body: RestBodyData, settings: BuildSettings) -> Character:
    """Build the armature + mesh of one track and key its action.

    The action is named "<prefix>_track_<id>_<clip>" so several takes sit side by side in the NLA.
    """
    scene = bpy.context.scene
    name = f"{settings.name_prefix}_track_{track_id}"
    character = build_character(name, body, track_id=track_id, betas=track.mean_betas())
    fps_target = None
    if settings.fps_source:
        if settings.set_scene_fps:
            set_scene_fps(scene, settings.fps_source)  # same rate: no resampling
        else:
            fps_target = scene.render.fps / scene.render.fps_base
    anim = AnimationSettings(settings.root_motion, settings.frame_offset, settings.fps_source, fps_target)
    action = animate_character(character.armature, body, track, f"{name}_{_safe(settings.clip_name)}", anim)
    first, last = action.frame_range
    if settings.fps_source:
        set_frame_range(scene, int(first), int(last))
    else:
        scene.frame_set(int(first))
    if settings.image_size_wh is not None:
        match_camera(scene, track.focal_length_px, *settings.image_size_wh)
    return character


def fit_video_characters(scene: bpy.types.Scene, characters: list[Character]) -> None:
    """Fit the scene's frame range to every track of a video, then show each character only over its track.

    Call it again whenever characters are added: a track that spanned the old range may not span the new one.
    """
    fit_frame_range(scene, [c.armature.animation_data.action for c in characters])
    for character in characters:
        key_visibility(character.armature, scene.frame_start, scene.frame_end)


def character_from_person(body_model: dict, person: dict, track_id: int = 0,
                          settings: BuildSettings = BuildSettings()) -> Character:
    """Build a keyed character from a ``body_model`` reply (arrays decoded) and one ``PersonResult`` JSON.

    Args:
        body_model: mapping with vertices (V,3), faces (F,3), weights (V,24), joints (24,3), parents (24,),
            joint_names (24) for the person's betas, SMPL canonical frame.
        person: ``PersonResult.to_json()`` of the person.
        track_id: names the character ("<prefix>_track_<id>").
        settings: root motion, naming, camera matching.
    """
    body = rest_body_from_mapping(body_model)
    point = person_pose_from_json(person)
    return build_keyed_character(track_id, stack_track([0], [point]), body, settings)


def export_person_fbx(body_model: dict, person: dict, filepath: str | Path, tpose_frame: bool = False,
                      settings: BuildSettings = BuildSettings()) -> Path:
    """:func:`character_from_person` then FBX export with the DESIGN §5 defaults; returns the file path."""
    character = character_from_person(body_model, person, settings=settings)
    return export_character(character.armature, filepath, ExportSettings("FBX", tpose_frame=tpose_frame))

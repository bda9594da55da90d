"""Export one character (armature, its mesh and its action) to FBX, BVH or glTF with engine-friendly defaults.

FBX defaults follow DESIGN §5: no leaf bones, only the character's own action (not NLA strips, not every action
in the file), no key simplification. The optional T-pose key goes one frame before the animation. Everything the
export changes in the scene (selection, active object, frame range, current frame, the assigned action) is
restored in ``finally``.

A video character hidden outside its track (``animate.key_visibility``) is exported whatever the current frame:
its visibility F-curves and its meshes' visibility drivers are muted and it is shown for the export, then they are
unmuted and its visibility restored. The visibility keys are not exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from .animate import restore_visibility, show_for_evaluation
from .keyframes import CurveKeys, add_keys, channelbag_of

__all__ = ["ExportSettings", "EXPORT_FORMATS", "export_character"]

EXPORT_FORMATS: tuple[str, ...] = ("FBX", "BVH", "GLTF")
_SUFFIXES = {"FBX": (".fbx",), "BVH": (".bvh",), "GLTF": (".glb", ".gltf")}


@dataclass(frozen=True)
class ExportSettings:
    """What to export and how."""

    file_format: str = "FBX"  # "FBX", "BVH" or "GLTF" (.glb binary or .gltf + .bin by the file's suffix)
    tpose_frame: bool = False  # key the rest (T) pose one frame before the animation, for engine retargeters
    include_mesh: bool = True  # export the skinned body with the armature (FBX, glTF)


def _action_range(arm_obj: bpy.types.Object) -> tuple[int, int]:
    start, end = arm_obj.animation_data.action.frame_range
    return int(np.floor(start)), int(np.ceil(end))


# The rest value of each pose-bone channel: what the T-pose key writes.
_REST_VALUES = {
    "rotation_quaternion": (1.0, 0.0, 0.0, 0.0),
    "rotation_euler": (0.0, 0.0, 0.0),
    "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0),
    "location": (0.0, 0.0, 0.0),
    "scale": (1.0, 1.0, 1.0),
}


def _add_tpose_key(arm_obj: bpy.types.Object, frame: int) -> None:
    """Key the rest value on every channel the action animates (quaternion, Euler or axis-angle rotations of a
    retargeted rig included). Bones the action does not animate get no key: a lone key would pin them to the rest
    pose for the whole clip."""
    channelbag = channelbag_of(arm_obj)
    curves = []
    for b in (bone.name for bone in arm_obj.data.bones):
        for channel, rest in _REST_VALUES.items():
            path = f'pose.bones["{b}"].{channel}'
            if any(channelbag.fcurves.find(path, index=i) is not None for i in range(len(rest))):
                curves.append(CurveKeys(path, np.array([frame]), np.array([rest]), group=b))
    add_keys(channelbag, curves, "LINEAR")


def _run_exporter(fmt: str, path: Path, frame_start: int, frame_end: int) -> None:
    if fmt == "FBX":
        bpy.ops.export_scene.fbx(
            filepath=str(path),
            use_selection=True,
            object_types={"ARMATURE", "MESH"},
            add_leaf_bones=False,
            bake_anim=True,
            bake_anim_use_all_bones=True,
            bake_anim_use_nla_strips=False,
            bake_anim_use_all_actions=False,
            bake_anim_force_startend_keying=True,
            bake_anim_step=1.0,
            bake_anim_simplify_factor=0.0,
            primary_bone_axis="Y",
            secondary_bone_axis="X",
            armature_nodetype="NULL",
        )
    elif fmt == "BVH":
        bpy.ops.export_anim.bvh(
            filepath=str(path), frame_start=frame_start, frame_end=frame_end, root_transform_only=False
        )
    else:
        bpy.ops.export_scene.gltf(
            filepath=str(path),
            export_format="GLB" if path.suffix.lower() == ".glb" else "GLTF_SEPARATE",
            use_selection=True,
            export_animations=True,
            export_animation_mode="ACTIVE_ACTIONS",
            export_skins=True,
            export_morph=False,
        )


def export_character(
    arm_obj: bpy.types.Object, filepath: str | Path, settings: ExportSettings = ExportSettings()
) -> Path:
    """Export a keyed character.

    Args:
        arm_obj: the character's armature (its child meshes go along when ``include_mesh``).
        filepath: output file; its suffix must match the format (.fbx, .bvh, .glb/.gltf).
        settings: format and options.
    Returns:
        The written file's path.
    """
    fmt = settings.file_format.upper()
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format: expected one of {EXPORT_FORMATS}, got {settings.file_format!r}")
    path = Path(filepath)
    if path.suffix.lower() not in _SUFFIXES[fmt]:
        raise ValueError(f"export: a {fmt} file must end in {' or '.join(_SUFFIXES[fmt])}, got {path.name!r}")
    if arm_obj.type != "ARMATURE":
        raise ValueError(f"export: expected a character armature, got {arm_obj.name!r} of type {arm_obj.type}")
    anim = arm_obj.animation_data
    if anim is None or anim.action is None:
        raise ValueError(f"export: {arm_obj.name!r} has no animation; run Video mocap or Reconstruct first")
    path.parent.mkdir(parents=True, exist_ok=True)

    scene = bpy.context.scene
    view_layer = bpy.context.view_layer
    selected = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    frame_state = (scene.frame_start, scene.frame_end, scene.frame_current)
    action, slot = anim.action, getattr(anim, "action_slot", None)  # no slots before Blender 4.4
    temp_action = None
    shown: list[tuple] = []
    try:
        start, end = _action_range(arm_obj)
        if settings.tpose_frame:
            # Key the T-pose on a copy so the artist's action is never edited.
            temp_action = action.copy()
            anim.action = temp_action
            if slot is not None:
                anim.action_slot = temp_action.slots[slot.identifier]
            start -= 1
            _add_tpose_key(arm_obj, start)
            if temp_action.use_frame_range:  # a manual range (a video character's track) takes the T-pose key in
                temp_action.frame_start = start
        meshes = [c for c in arm_obj.children if c.type == "MESH"] if settings.include_mesh else []
        shown = show_for_evaluation([arm_obj, *meshes])  # a hidden object is neither selectable nor exported
        for obj in selected:
            obj.select_set(False)
        arm_obj.select_set(True)
        for mesh in meshes:
            mesh.select_set(True)
        view_layer.objects.active = arm_obj
        scene.frame_start, scene.frame_end = start, end
        scene.frame_set(start)
        _run_exporter(fmt, path, start, end)
    finally:
        restore_visibility(shown)
        anim.action = action
        if slot is not None:
            anim.action_slot = slot
        if temp_action is not None:
            bpy.data.actions.remove(temp_action)
        for obj in view_layer.objects:
            obj.select_set(obj in selected)
        view_layer.objects.active = active
        scene.frame_start, scene.frame_end = frame_state[0], frame_state[1]
        scene.frame_set(frame_state[2])
    if not path.is_file():
        raise OSError(f"export: Blender's {fmt} exporter finished but wrote no file at {path}")
    return path

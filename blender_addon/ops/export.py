"""``tokenmocap.export``: the selected character to FBX, BVH or glTF with engine-friendly defaults."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ..blender_io import ExportSettings, export_character, find_character

__all__ = ["TOKENMOCAP_OT_export", "classes"]

_FORMAT_ITEMS = [
    ("FBX", "FBX", "Game engines and DCCs (no leaf bones, baked action only)"),
    ("BVH", "BVH", "Skeleton motion only"),
    ("GLTF", "glTF", "glTF 2.0 (.glb binary or .gltf)"),
]


class TOKENMOCAP_OT_export(bpy.types.Operator):
    """Export the selected TokenMocap character (armature, body mesh and its action)"""

    bl_idname = "tokenmocap.export"
    bl_label = "Export Character"

    filepath: StringProperty(name="File", subtype="FILE_PATH")
    file_format: EnumProperty(name="Format", items=_FORMAT_ITEMS, default="FBX")
    tpose_frame: BoolProperty(name="T-pose frame", default=False,
                              description="Key the rest (T) pose one frame before the animation, for retargeters")
    include_mesh: BoolProperty(name="Include mesh", default=True)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return find_character(context.active_object) is not None

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self.filepath:
            arm = find_character(context.active_object)
            suffix = {"FBX": ".fbx", "BVH": ".bvh", "GLTF": ".glb"}[self.file_format]
            self.filepath = bpy.path.abspath("//") + (arm.name if arm else "character") + suffix
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        arm = find_character(context.active_object)
        if arm is None:
            self.report({"ERROR"}, "select a TokenMocap character (its armature or body mesh) to export")
            return {"CANCELLED"}
        settings = ExportSettings(self.file_format, self.tpose_frame, self.include_mesh)
        try:
            path = export_character(arm, bpy.path.abspath(self.filepath), settings)
        except (ValueError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"exported {arm.name} to {path}")
        return {"FINISHED"}


classes = (TOKENMOCAP_OT_export,)

"""The 3D View sidebar panel: Reconstruct, Video mocap, progress and cancel, the person list, Export."""

from __future__ import annotations

import bpy

__all__ = ["TOKENMOCAP_PT_main", "TOKENMOCAP_PT_image_people", "TOKENMOCAP_UL_people", "classes"]


class TOKENMOCAP_UL_people(bpy.types.UIList):
    """People found in the last image: index, score and box."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        x1, y1, x2, y2 = item.bbox
        layout.label(text=f"#{item.index}  score {item.score:.2f}  box [{x1:.0f} {y1:.0f} {x2:.0f} {y2:.0f}]",
                     icon="USER")


class TOKENMOCAP_PT_main(bpy.types.Panel):
    bl_idname = "TOKENMOCAP_PT_main"
    bl_label = "TokenMocap"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "TokenMocap"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        wm = context.window_manager
        col = layout.column(align=True)
        col.operator("tokenmocap.reconstruct_image", icon="IMAGE_DATA")
        col.operator("tokenmocap.reconstruct_image", text="Detect People Only", icon="VIEWZOOM").detect_only = True
        col.operator("tokenmocap.video_mocap", icon="FILE_MOVIE")
        if wm.tokenmocap_running:
            box = layout.box()
            if hasattr(box, "progress"):
                box.progress(factor=wm.tokenmocap_progress, type="BAR", text=wm.tokenmocap_status)
            else:
                box.label(text=f"{wm.tokenmocap_status} ({wm.tokenmocap_progress * 100:.0f}%)")
            box.operator("tokenmocap.cancel", icon="CANCEL")
        else:
            layout.label(text=wm.tokenmocap_status, icon="INFO")
        if len(wm.tokenmocap_people):
            layout.label(text="People in the last image:")
            layout.template_list("TOKENMOCAP_UL_people", "", wm, "tokenmocap_people", wm, "tokenmocap_people_index",
                                 rows=3)
            op = layout.operator("tokenmocap.reconstruct_image", text="Build Selected Person")
            op.filepath = wm.tokenmocap_people_image
            op.person_index = wm.tokenmocap_people_index
            layout.label(text="Or click a box in the Image Editor (Pick Person)", icon="RESTRICT_SELECT_OFF")
        layout.separator()
        layout.operator("tokenmocap.export", icon="EXPORT")


class TOKENMOCAP_PT_image_people(bpy.types.Panel):
    """Image Editor sidebar: the people of the last image and the click-to-pick tool."""

    bl_idname = "TOKENMOCAP_PT_image_people"
    bl_label = "TokenMocap People"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "TokenMocap"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        wm = context.window_manager
        layout.operator("tokenmocap.reconstruct_image", text="Detect People", icon="VIEWZOOM").detect_only = True
        if len(wm.tokenmocap_people):
            layout.template_list("TOKENMOCAP_UL_people", "", wm, "tokenmocap_people", wm, "tokenmocap_people_index",
                                 rows=3)
            layout.operator("tokenmocap.pick_person", icon="RESTRICT_SELECT_OFF")
            op = layout.operator("tokenmocap.reconstruct_image", text="Build Selected Person")
            op.filepath = wm.tokenmocap_people_image
            op.person_index = wm.tokenmocap_people_index


classes = (TOKENMOCAP_UL_people, TOKENMOCAP_PT_main, TOKENMOCAP_PT_image_people)

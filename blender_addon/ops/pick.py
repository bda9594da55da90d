"""``tokenmocap.pick_person``: click a person's box in the Image Editor to select (and build) that person."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty

from ..core import pick_box, uv_to_pixel

__all__ = ["TOKENMOCAP_OT_pick_person", "classes", "pick_person_at"]


def pick_person_at(context: bpy.types.Context, u: float, v: float) -> int:
    """Select the listed person under image UV (u, v); returns their index or -1."""
    wm = context.window_manager
    image = bpy.data.images.get(wm.tokenmocap_people_image_name)
    if image is None or not len(wm.tokenmocap_people):
        return -1
    x, y = uv_to_pixel(u, v, image.size[0], image.size[1])
    boxes = np.array([list(p.bbox) for p in wm.tokenmocap_people])
    hit = pick_box(boxes, x, y)
    if hit >= 0:
        wm.tokenmocap_people_index = wm.tokenmocap_people[hit].index
    return hit


class TOKENMOCAP_OT_pick_person(bpy.types.Operator):
    """Click a person's box in the Image Editor to select them (Esc or right-click to stop)"""

    bl_idname = "tokenmocap.pick_person"
    bl_label = "Pick Person in Image"

    build: BoolProperty(name="Build on click", default=True,
                        description="Reconstruct the picked person as a character right away")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        space = context.space_data
        return space is not None and space.type == "IMAGE_EDITOR" and len(context.window_manager.tokenmocap_people) > 0

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.modal_handler_add(self)
        context.workspace.status_text_set("TokenMocap: click a person's box; Esc or right-click to stop")
        return {"RUNNING_MODAL"}

    def _end(self, context: bpy.types.Context) -> None:
        context.workspace.status_text_set(None)
        context.area.tag_redraw()

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type in {"ESC", "RIGHTMOUSE"} and event.value == "PRESS":
            self._end(context)
            return {"CANCELLED"}
        if event.type != "LEFTMOUSE" or event.value != "PRESS":
            return {"PASS_THROUGH"}
        u, v = context.region.view2d.region_to_view(event.mouse_region_x, event.mouse_region_y)
        hit = pick_person_at(context, u, v)
        if hit < 0:
            self.report({"WARNING"}, "no person box there; click inside a box")
            return {"RUNNING_MODAL"}
        self._end(context)
        wm = context.window_manager
        if self.build:
            bpy.ops.tokenmocap.reconstruct_image("INVOKE_DEFAULT", filepath=wm.tokenmocap_people_image,
                                                 person_index=wm.tokenmocap_people_index)
        return {"FINISHED"}


classes = (TOKENMOCAP_OT_pick_person,)

"""Person boxes drawn over the image in the Image Editor, so the artist can click the person to build.

The boxes are those of the last Reconstruct (``window_manager.tokenmocap_people``), drawn only over the image
they belong to; the selected person is highlighted. Drawing needs a GPU context, which the headless ``bpy``
module does not have, so this module is exercised only in a real Blender session.
"""

from __future__ import annotations

import blf
import bpy
import gpu
from gpu_extras.batch import batch_for_shader

from ..core import pixel_to_uv

__all__ = ["register_properties", "unregister_properties", "classes", "draw_people_boxes"]

classes = ()
# Blender's draw-handler API returns a handle that must be kept until it is removed; this holds it between
# register_properties() and unregister_properties() (the add-on's only module-level state).
_HANDLES: dict[str, object] = {}
_COLOUR = (1.0, 0.8, 0.1, 1.0)
_SELECTED = (0.2, 1.0, 0.4, 1.0)


def _image_rect_to_region(region: bpy.types.Region, box, width: int, height: int) -> list[tuple[float, float]]:
    view = region.view2d
    (u1, v1), (u2, v2) = pixel_to_uv(box[0], box[1], width, height), pixel_to_uv(box[2], box[3], width, height)
    corners = [(u1, v1), (u2, v1), (u2, v2), (u1, v2)]
    return [view.view_to_region(u, v, clip=False) for u, v in corners]


def draw_people_boxes() -> None:
    """POST_PIXEL draw callback of the Image Editor."""
    context = bpy.context
    space, region, wm = context.space_data, context.region, context.window_manager
    if space is None or space.image is None or not len(wm.tokenmocap_people):
        return
    if space.image.name != wm.tokenmocap_people_image_name:
        return
    width, height = space.image.size
    if width == 0 or height == 0:
        return
    shader = gpu.shader.from_builtin("UNIFORM_COLOR")
    gpu.state.line_width_set(2.0)
    for item in wm.tokenmocap_people:
        pts = _image_rect_to_region(region, item.bbox, width, height)
        lines = [pts[0], pts[1], pts[1], pts[2], pts[2], pts[3], pts[3], pts[0]]
        colour = _SELECTED if item.index == wm.tokenmocap_people_index else _COLOUR
        batch = batch_for_shader(shader, "LINES", {"pos": lines})
        shader.uniform_float("color", colour)
        batch.draw(shader)
        blf.position(0, pts[3][0] + 4, pts[3][1] - 16, 0)
        blf.size(0, 14)
        blf.color(0, *colour)
        blf.draw(0, f"#{item.index}  {item.score:.2f}")
    gpu.state.line_width_set(1.0)


def register_properties() -> None:
    _HANDLES["image"] = bpy.types.SpaceImageEditor.draw_handler_add(draw_people_boxes, (), "WINDOW", "POST_PIXEL")


def unregister_properties() -> None:
    handle = _HANDLES.pop("image", None)
    if handle is not None:
        bpy.types.SpaceImageEditor.draw_handler_remove(handle, "WINDOW")

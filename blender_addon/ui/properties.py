"""Window-manager properties the panel draws: job status, progress, the cancel flag, the last image's people."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty

__all__ = ["classes", "register_properties", "unregister_properties", "TOKENMOCAP_PersonItem"]


class TOKENMOCAP_PersonItem(bpy.types.PropertyGroup):
    """One detected person of the last image (the picker lists them)."""

    index: IntProperty(name="Index")
    score: FloatProperty(name="Score")
    bbox: FloatVectorProperty(name="Box", size=4, description="x1, y1, x2, y2 in image pixels")


_WM_PROPS = {
    "tokenmocap_status": lambda: StringProperty(name="Status", default="idle"),
    "tokenmocap_progress": lambda: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR"),
    "tokenmocap_running": lambda: BoolProperty(name="Running", default=False),
    "tokenmocap_cancel_requested": lambda: BoolProperty(name="Cancel requested", default=False),
    "tokenmocap_people": lambda: bpy.props.CollectionProperty(type=TOKENMOCAP_PersonItem),
    "tokenmocap_people_index": lambda: IntProperty(name="Person", default=0),
    "tokenmocap_people_image": lambda: StringProperty(
        name="Image", description="The image file the person list belongs to"),
    "tokenmocap_people_image_name": lambda: StringProperty(
        name="Image datablock", description="The Image Editor image the boxes are drawn over"),
}

classes = (TOKENMOCAP_PersonItem,)


def register_properties() -> None:
    for name, make in _WM_PROPS.items():
        setattr(bpy.types.WindowManager, name, make())


def unregister_properties() -> None:
    for name in reversed(list(_WM_PROPS)):
        delattr(bpy.types.WindowManager, name)

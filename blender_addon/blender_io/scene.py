"""Scene set-up: frame rate and range from the video, and a camera matching the backend's."""

from __future__ import annotations

import bpy
from mathutils import Matrix

from ..core import blender_camera_settings, fps_to_blender

__all__ = ["set_scene_fps", "set_frame_range", "fit_frame_range", "match_camera"]


def set_scene_fps(scene: bpy.types.Scene, fps: float) -> None:
    """Set ``render.fps`` / ``fps_base`` to the source frame rate (exact for 29.97 and friends)."""
    whole, base = fps_to_blender(fps)
    scene.render.fps = whole
    scene.render.fps_base = base


def set_frame_range(scene: bpy.types.Scene, first: int, last: int) -> None:
    """Set the scene's frame range to the clip's ``first..last`` (inclusive)."""
    if last < first:
        raise ValueError(f"frame range: expected first <= last, got {first}..{last}")
    scene.frame_start = int(first)
    scene.frame_end = int(last)


def fit_frame_range(scene: bpy.types.Scene, actions: list[bpy.types.Action]) -> None:
    """Set the scene's frame range to span every action (the union of the tracks of one video)."""
    ranges = [action.frame_range for action in actions if action is not None]
    if ranges:
        set_frame_range(scene, int(min(r[0] for r in ranges)), int(max(r[1] for r in ranges)))


def match_camera(
    scene: bpy.types.Scene, focal_length_px: float, width_px: int, height_px: int, name: str = "TM_camera"
) -> bpy.types.Object:
    """Create (or update) the camera ``name`` at the origin, matching the backend's pinhole camera.

    The scene's render resolution becomes the image size and the camera the scene camera.
    """
    settings = blender_camera_settings(focal_length_px, width_px, height_px)
    cam_obj = bpy.data.objects.get(name)
    if cam_obj is None or cam_obj.type != "CAMERA":
        cam_obj = bpy.data.objects.new(name, bpy.data.cameras.new(name))
        scene.collection.objects.link(cam_obj)
    cam = cam_obj.data
    cam.type = "PERSP"
    cam.lens = settings.lens_mm
    cam.sensor_fit = settings.sensor_fit
    if settings.sensor_fit == "HORIZONTAL":
        cam.sensor_width = settings.sensor_width_mm
    else:
        cam.sensor_height = settings.sensor_width_mm
    cam.shift_x = cam.shift_y = 0.0
    cam_obj.matrix_world = Matrix(settings.rotation).to_4x4()
    scene.render.resolution_x = settings.resolution_x
    scene.render.resolution_y = settings.resolution_y
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.camera = cam_obj
    return cam_obj

"""``tokenmocap.reconstruct_image``: characters from one image (a file, or the Image Editor's image)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from ..blender_io import BuildSettings
from ..bridge import ImageJob
from .modal import JobOperatorMixin
from .runtime import JobRun, make_worker

__all__ = ["TOKENMOCAP_OT_reconstruct_image", "classes", "ROOT_MOTION_ITEMS"]

_ENCODINGS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}
ROOT_MOTION_ITEMS = [
    ("camera", "Camera space", "Pelvis follows the backend camera translation; lines up with the matched camera"),
    ("ground_aligned", "Ground aligned", "Same motion, starting above the origin with the feet on z = 0"),
    ("in_place", "In place", "No horizontal travel; height kept, feet on the ground"),
]


def _editor_image(context: bpy.types.Context) -> bpy.types.Image | None:
    space = context.space_data
    if space is not None and space.type == "IMAGE_EDITOR" and space.image is not None:
        return space.image
    for area in context.screen.areas if context.screen else ():
        if area.type == "IMAGE_EDITOR" and area.spaces.active.image is not None:
            return area.spaces.active.image
    return None


def read_image_source(context: bpy.types.Context, filepath: str) -> tuple[bytes, str, str, tuple[int, int], str]:
    """The image to send: (file bytes, encoding, name, (width, height), image datablock name) from ``filepath``
    (loaded as an Image datablock so the picker can draw over it) or the Image Editor's image."""
    if filepath:
        path = Path(bpy.path.abspath(filepath))
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        encoding = _ENCODINGS.get(path.suffix.lower())
        if encoding is None:
            raise ValueError(f"{path.name}: expected a .jpg, .jpeg or .png image, got {path.suffix!r}; "
                             "convert it or open it in the Image Editor")
        image = bpy.data.images.load(str(path), check_existing=True)
        return path.read_bytes(), encoding, path.stem, (int(image.size[0]), int(image.size[1])), image.name
    image = _editor_image(context)
    if image is None:
        raise ValueError("no image: choose an image file, or open one in the Image Editor")
    source = Path(bpy.path.abspath(image.filepath)) if image.filepath else None
    if source is not None and source.is_file() and source.suffix.lower() in _ENCODINGS and not image.packed_file:
        return source.read_bytes(), _ENCODINGS[source.suffix.lower()], source.stem, tuple(image.size), image.name
    # Packed, generated or other formats: write a PNG copy (the image itself is not changed).
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "image.png"
        image.save_render(str(out))
        return out.read_bytes(), "png", Path(image.name).stem, tuple(image.size), image.name


class TOKENMOCAP_OT_reconstruct_image(JobOperatorMixin, bpy.types.Operator):
    """Reconstruct the people in an image as SMPL characters (armature + skinned mesh)"""

    bl_idname = "tokenmocap.reconstruct_image"
    bl_label = "Reconstruct from Image"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Image", subtype="FILE_PATH",
                             description="Image file; empty = the image open in the Image Editor")
    person_index: IntProperty(name="Person", default=-1, min=-1,
                              description="Which detected person to build (-1 = everyone)")
    root_motion: EnumProperty(name="Root motion", items=ROOT_MOTION_ITEMS, default="camera")
    detect_only: BoolProperty(name="Detect only", default=False,
                              description="Only list the people (and draw their boxes in the Image Editor) to "
                                          "pick one; builds no character")

    run_modal: BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"})
    filter_image: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    filter_folder: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})

    _image_path: str = ""
    _image_name: str = ""

    def needs_file(self, context: bpy.types.Context) -> bool:
        return not self.filepath and _editor_image(context) is None

    def start_run(self, context: bpy.types.Context) -> JobRun:
        data, encoding, name, size, image_name = read_image_source(context, self.filepath)
        worker = make_worker(context)
        people = None if self.person_index < 0 else [self.person_index]
        job = ImageJob(worker, data, encoding, person_indices=people, detect_only=self.detect_only)
        settings = BuildSettings(clip_name=name, root_motion=self.root_motion, image_size_wh=size)
        self._image_path = bpy.path.abspath(self.filepath) if self.filepath else ""
        self._image_name = image_name
        return JobRun(worker, job, settings)

    def on_finished(self, context: bpy.types.Context, run: JobRun) -> None:
        wm = context.window_manager
        people = wm.tokenmocap_people
        people.clear()
        for i, person in enumerate(run.job.people):
            item = people.add()
            item.index = i
            item.score = person.score
            item.bbox = [float(v) for v in person.bbox_xyxy]
        wm.tokenmocap_people_image = self._image_path
        wm.tokenmocap_people_image_name = self._image_name
        if self.person_index >= 0:
            wm.tokenmocap_people_index = self.person_index


classes = (TOKENMOCAP_OT_reconstruct_image,)

"""``tokenmocap demo``'s pieces: the photo preview and the FBX export through the Blender venv."""

from .fbx import BLENDER_PYTHON_ENV, FBXExportError, export_fbx, find_blender_python
from .preview import draw_preview, pose_mesh

__all__ = ["BLENDER_PYTHON_ENV", "FBXExportError", "draw_preview", "export_fbx", "find_blender_python", "pose_mesh"]

"""Read video frames with Blender's own decoder (FFmpeg inside Blender), as JPEG bytes to send to the backend.

The add-on has no OpenCV, and a remote backend cannot open the artist's file, so frames are decoded here: a
private scene holds the video as a sequencer strip and each frame is rendered (sequencer only, no 3D) to a JPEG.
The scene's frame rate equals the video's so scene frame ``i + 1`` is video frame ``i``; view transform
"Standard" keeps the pixel values. The artist's scene is never touched; :meth:`close` removes everything.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import bpy

from ..core import fps_to_blender

__all__ = ["VideoFrameReader"]


class VideoFrameReader:
    """Decode frames of one video file.

    Args:
        path: the video file.
        jpeg_quality: JPEG quality of the frames sent to the backend (1-100).
    Attributes:
        fps: frames per second (from the container).
        frame_count: number of frames.
        size: (width, height) in pixels.
    """

    def __init__(self, path: str | Path, jpeg_quality: int = 90) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video file not found: {self.path}")
        self._tmp = Path(tempfile.mkdtemp(prefix="tokenmocap_frames_"))
        self._scene = bpy.data.scenes.new("TM_video_decode")
        try:
            clip = bpy.data.movieclips.load(str(self.path), check_existing=False)
            try:
                self.fps = float(clip.fps)
                self.frame_count = int(clip.frame_duration)
                self.size = (int(clip.size[0]), int(clip.size[1]))
            finally:
                bpy.data.movieclips.remove(clip)
            if self.fps <= 0 or self.frame_count <= 0 or min(self.size) <= 0:
                raise ValueError(f"{self.path.name}: Blender could not decode it (fps {self.fps}, "
                                 f"{self.frame_count} frames, size {self.size}); is it a video file?")
            scene = self._scene
            # The frame rate must be set before the strip is added so video frame i sits at scene frame i + 1.
            scene.render.fps, scene.render.fps_base = fps_to_blender(self.fps)
            editor = scene.sequence_editor_create()
            strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # renamed in Blender 4.4
            strips.new_movie("video", str(self.path), channel=1, frame_start=1)
            render = scene.render
            render.resolution_x, render.resolution_y = self.size
            render.resolution_percentage = 100
            render.use_sequencer = True
            render.use_compositing = False
            render.image_settings.file_format = "JPEG"
            render.image_settings.quality = int(jpeg_quality)
            render.filepath = str(self._tmp / "frame_")
            # No metadata in the frames (render time, date, host name ...): pixels only.
            for name in dir(render):
                if name.startswith("use_stamp"):
                    setattr(render, name, False)
            scene.view_settings.view_transform = "Standard"
        except Exception:
            self.close()
            raise

    def read(self, index: int) -> bytes:
        """JPEG bytes of video frame ``index`` (0-based)."""
        if not 0 <= index < self.frame_count:
            raise ValueError(f"{self.path.name}: frame {index} is outside 0..{self.frame_count - 1}")
        frame = index + 1
        scene = self._scene
        scene.frame_start = scene.frame_end = frame
        # An animation render of one frame: a still render would use the active scene's current frame.
        bpy.ops.render.render(animation=True, scene=scene.name)
        out = self._tmp / f"frame_{frame:04d}.jpg"
        if not out.is_file():
            raise OSError(f"{self.path.name}: Blender did not decode frame {index} (no {out.name} written)")
        data = out.read_bytes()
        out.unlink()
        return data

    def close(self) -> None:
        """Remove the private scene and the temporary files."""
        if self._scene is not None:
            bpy.data.scenes.remove(self._scene)
            self._scene = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "VideoFrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""``tokenmocap.video_mocap``: track every person in a video and key one character per track."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..blender_io import BuildSettings
from ..bridge import VideoJob, VideoOptions
from .modal import JobOperatorMixin
from .reconstruct import ROOT_MOTION_ITEMS
from .runtime import JobRun, make_worker

__all__ = ["TOKENMOCAP_OT_video_mocap", "classes", "parse_track_ids", "video_frame_rate"]

_SMOOTHING_ITEMS = [
    ("one_euro", "One Euro", "Adaptive low-pass filter: smooth when slow, responsive when fast"),
    ("none", "None", "Raw per-frame results"),
]


def parse_track_ids(text: str) -> list[int] | None:
    """"1, 3" → [1, 3]; "" → None (every track). Raises ValueError naming the bad entry."""
    if not text.strip():
        return None
    ids = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part.lstrip("-").isdigit():
            raise ValueError(f"track ids: expected numbers separated by commas (e.g. '1, 3'), got {part!r}")
        ids.append(int(part))
    return ids


def video_frame_rate(path: Path) -> tuple[float, int]:
    """(fps, frame count) of a video, read with Blender's own decoder."""
    clip = bpy.data.movieclips.load(str(path), check_existing=False)
    try:
        fps, frames = float(clip.fps), int(clip.frame_duration)
    finally:
        bpy.data.movieclips.remove(clip)
    if fps <= 0 or frames <= 0:
        raise ValueError(f"{path.name}: Blender could not read a frame rate or frames from it (fps {fps}, "
                         f"{frames} frames); is it a video file?")
    return fps, frames


class TOKENMOCAP_OT_video_mocap(JobOperatorMixin, bpy.types.Operator):
    """Track the people in a video and key one SMPL character per track"""

    bl_idname = "tokenmocap.video_mocap"
    bl_label = "Video Mocap"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Video", subtype="FILE_PATH")
    frame_start: IntProperty(name="First frame", default=0, min=0, description="First video frame (0-based)")
    frame_end: IntProperty(name="Last frame", default=-1, min=-1, description="Last video frame; -1 = the end")
    track_ids: StringProperty(name="Tracks", default="",
                              description="Track ids to build, e.g. '1, 3'; empty = every track")
    min_track_frames: IntProperty(name="Min. track length", default=5, min=1,
                                  description="Skip shorter tracks (usually false detections) when Tracks is empty")
    smoothing: EnumProperty(name="Smoothing", items=_SMOOTHING_ITEMS, default="one_euro")
    smoothing_strength: FloatProperty(name="Strength", default=0.5, min=0.0, max=1.0, subtype="FACTOR")
    root_motion: EnumProperty(name="Root motion", items=ROOT_MOTION_ITEMS, default="camera")
    set_scene_fps: BoolProperty(name="Use video frame rate", default=True,
                                description="Set the scene's frame rate to the video's (else resample the motion)")

    def start_run(self, context: bpy.types.Context) -> JobRun:
        path = Path(bpy.path.abspath(self.filepath))
        if not path.is_file():
            raise FileNotFoundError(f"video file not found: {path}")
        if self.frame_end >= 0 and self.frame_end < self.frame_start:
            raise ValueError(f"frame range: last frame {self.frame_end} is before the first {self.frame_start}")
        fps, n_frames = video_frame_rate(path)
        track_ids = parse_track_ids(self.track_ids)
        end = n_frames - 1 if self.frame_end < 0 else min(self.frame_end, n_frames - 1)
        options = VideoOptions(self.frame_start, end, self.smoothing, self.smoothing_strength)
        worker = make_worker(context)
        job = VideoJob(worker, str(path), fps, options, track_ids=track_ids, min_track_frames=self.min_track_frames)
        job.frames_total = end - self.frame_start + 1
        width, height = _video_size(path)
        settings = BuildSettings(clip_name=path.stem, root_motion=self.root_motion, fps_source=fps,
                                 set_scene_fps=self.set_scene_fps, image_size_wh=(width, height))
        return JobRun(worker, job, settings)


def _video_size(path: Path) -> tuple[int, int]:
    clip = bpy.data.movieclips.load(str(path), check_existing=False)
    try:
        return int(clip.size[0]), int(clip.size[1])
    finally:
        bpy.data.movieclips.remove(clip)


classes = (TOKENMOCAP_OT_video_mocap,)

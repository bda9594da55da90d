"""``tokenmocap.video_mocap``: track every person in a video and key one character per track."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from ..blender_io import BuildSettings, VideoFrameReader
from ..bridge import VideoJob, VideoOptions
from .modal import JobOperatorMixin
from .reconstruct import ROOT_MOTION_ITEMS
from .runtime import JobRun, make_worker

__all__ = ["TOKENMOCAP_OT_video_mocap", "classes", "parse_track_ids"]

_SMOOTHING_ITEMS = [
    ("one_euro", "One Euro", "Causal adaptive low-pass filter on the backend: smooth when slow, responsive when fast"),
    ("none", "None", "Raw per-frame results"),
]


def parse_track_ids(text: str) -> list[int] | None:
    """"1, 3" → [1, 3]; "" → None (every track). Raises ValueError naming the bad entry."""
    if not text.strip():
        return None
    ids = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"track ids: expected numbers separated by commas (e.g. '1, 3'), got {part!r}")
        ids.append(int(part))
    return ids


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
    batch_frames: IntProperty(name="Batch frames", default=1, min=1, max=64,
                              description="Frames per model call on the backend (higher is faster on a GPU)")
    root_motion: EnumProperty(name="Root motion", items=ROOT_MOTION_ITEMS, default="camera")
    set_scene_fps: BoolProperty(name="Use video frame rate", default=True,
                                description="Set the scene's frame rate to the video's (else resample the motion)")
    run_modal: BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"})
    filter_movie: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    filter_folder: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})

    def needs_file(self, context: bpy.types.Context) -> bool:
        return not self.filepath

    def start_run(self, context: bpy.types.Context) -> JobRun:
        track_ids = parse_track_ids(self.track_ids)
        if self.frame_end >= 0 and self.frame_end < self.frame_start:
            raise ValueError(f"frame range: last frame {self.frame_end} is before the first {self.frame_start}")
        reader = VideoFrameReader(Path(bpy.path.abspath(self.filepath)))
        try:
            last = reader.frame_count - 1 if self.frame_end < 0 else min(self.frame_end, reader.frame_count - 1)
            if self.frame_start > last:
                raise ValueError(f"{reader.path.name} has {reader.frame_count} frames; the first frame "
                                 f"{self.frame_start} is past its end")
            worker = make_worker(context)
        except Exception:
            reader.close()
            raise
        options = VideoOptions(smooth=self.smoothing != "none", batch_frames=self.batch_frames)
        job = VideoJob(worker, reader.fps, range(self.frame_start, last + 1), reader.read, options,
                       track_ids=track_ids, min_track_frames=self.min_track_frames)
        settings = BuildSettings(clip_name=reader.path.stem, root_motion=self.root_motion, fps_source=reader.fps,
                                 set_scene_fps=self.set_scene_fps, image_size_wh=reader.size)
        return JobRun(worker, job, settings, cleanup=reader.close)


classes = (TOKENMOCAP_OT_video_mocap,)

"""A resumable video mocap job: video file in, per-track SMPL sequences (.npz) and a summary JSON out.

Layout of the output folder::

    job.json          what is processed (video, frame rate, engine, options), written atomically
    frames.jsonl      one record per finished frame, appended + fsync'd as it completes (see .jobs)
    tracks/track_001.npz ...   one per confirmed track (see .sequences.write_track_npz)
    summary.json      tracks, frame ranges, timings; written last, atomically

A killed or cancelled job is resumed with ``resume=True``: finished frames are read back (an interrupted last line
is dropped), decoding restarts at the next frame, and the tracker is replayed over everything, so no finished
frame is lost or computed twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .decode import VideoInfo, iter_video_frames, probe_video
from .jobs import FrameLog, JobFileError, read_frame_log, read_json, write_json_atomic
from .people_tracking import frame_appearances
from .pipeline import PipelineConfig, StageTimes, run_pipeline_timed
from .sequences import build_sequences, frame_record, write_track_npz
from .skeleton import SkeletonModel
from .smoothing import SmoothingConfig
from .tracker import TrackerConfig

__all__ = ["JobOptions", "JobResult", "run_video_job", "JOB_VERSION"]

log = logging.getLogger(__name__)

JOB_VERSION = 1


@dataclass(frozen=True)
class JobOptions:
    """What a job does besides running the model."""

    start_frame: int = 0  # first video frame to process
    end_frame: int | None = None  # frame to stop before (None: end of the video)
    smooth: bool = True  # zero-lag smoothing of the exported tracks
    fix_foot_skating: bool = False  # correct the root translation while feet are planted
    fsync_interval_s: float = 0.0  # 0: fsync every frame record; > 0: at most once per interval (see FrameLog)
    fps: str | None = None  # frame rate instead of the container's ("30000/1001"); None: the container's
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def identity(self) -> dict:
        """The options that must not change between a run and its resumption (they change the frame records)."""
        identity = {"start_frame": self.start_frame, "end_frame": self.end_frame}
        return identity | ({"fps": self.fps} if self.fps else {})  # absent unless given: older jobs stay resumable


@dataclass
class JobResult:
    """Outcome of :func:`run_video_job`."""

    out_dir: Path
    frames_done: int
    frames_resumed: int
    complete: bool  # False when cancelled before the end
    track_files: list[Path]
    summary_path: Path | None
    times: StageTimes


def _check_resumable(out_dir: Path, job: dict, resume: bool) -> None:
    meta_path = out_dir / "job.json"
    if not meta_path.exists():
        if (out_dir / "frames.jsonl").exists():
            raise JobFileError(f"{out_dir} has frames.jsonl but no job.json; it is not a job folder written by this "
                               "version. Choose another --out")
        return
    if not resume:
        raise FileExistsError(f"{out_dir} already holds a job ({meta_path}); pass --resume to continue it, or choose "
                              "another --out")
    old = read_json(meta_path)
    for key in ("version", "video", "options"):
        if old.get(key) != job.get(key):
            raise JobFileError(f"{meta_path}: cannot resume, '{key}' differs (job has {old.get(key)!r}, this run "
                               f"{job.get(key)!r}); to continue the job, resume with its own video and leave out "
                               "--start/--end/--fps; for a different video, frame range or rate, use a new --out")
    # One clip, one engine: mixing engines' frames would make tracks jump (different shapes, cameras, poses).
    if old.get("engine") != job.get("engine"):
        raise JobFileError(f"{meta_path}: cannot resume, the job's frames were made by the {old.get('engine')!r} "
                           f"engine and this run uses {job.get('engine')!r}; resume with --engine "
                           f"{old.get('engine')}, or use a new --out to redo the clip with {job.get('engine')!r}")


def run_video_job(video_path: str | Path, out_dir: str | Path, engine: Any, skeleton: SkeletonModel,
                  options: JobOptions = JobOptions(), resume: bool = False,
                  progress: Callable[[int, int | None], None] | None = None,
                  stop: threading.Event | None = None) -> JobResult:
    """Runs (or resumes) a video through the engine, tracker and smoother, writing the job folder.

    Args:
        video_path: the video file.
        out_dir: output folder (created).
        engine: a loaded Engine (StagedEngine for cross-frame batching).
        skeleton: rest joints (J0(β) for the pelvis; FK for foot contact).
        options: frame range, smoothing, foot skating, tracker/pipeline settings.
        resume: continue the job already in ``out_dir``.
        progress: called as progress(frames done, frames total or None) after each frame.
        stop: set to cancel; finished frames stay on disk and the job can be resumed.
    Returns:
        :class:`JobResult`; ``complete`` is False after a cancel (no tracks are written then).
    """
    out_dir = Path(out_dir)
    info: VideoInfo = probe_video(video_path, fps=options.fps)
    end = options.end_frame
    if info.frame_count:  # 0 means the container does not say: decode to the end
        end = info.frame_count if end is None else min(end, info.frame_count)
    total = max(0, end - options.start_frame) if end is not None else None
    job = {"version": JOB_VERSION, "video": info.to_json() | {"path": str(Path(video_path).resolve())},
           "options": options.identity(), "engine": getattr(engine, "name", type(engine).__name__)}
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resumable(out_dir, job, resume)
    records, good_end = read_frame_log(out_dir / "frames.jsonl")
    resumed = len(records)
    if not (out_dir / "job.json").exists():
        write_json_atomic(out_dir / "job.json", job | {"created": time.time()})
    next_frame = records[-1]["index"] + 1 if records else options.start_frame
    if resumed:
        log.info("resuming %s: %d finished frames on disk, continuing at frame %d", out_dir, resumed, next_frame)
    stop = stop if stop is not None else threading.Event()
    times = StageTimes()
    frames = iter_video_frames(info.path, start=next_frame, stop=end)
    with FrameLog(out_dir / "frames.jsonl", truncate_to=good_end,
                  fsync_interval_s=options.fsync_interval_s) as frame_log:
        if progress is not None:
            progress(len(records), total)
        for index, image, people in run_pipeline_timed(frames, engine, options.pipeline, stop, times):
            t0 = time.perf_counter()
            record = frame_record(index, people, frame_appearances(image, people))
            times.add("appearance", time.perf_counter() - t0)
            t0 = time.perf_counter()
            frame_log.append(record)
            times.add("write", time.perf_counter() - t0)
            records.append(record)
            if progress is not None:
                progress(len(records), total)
    # The pipeline ends by itself only at the end of the frame range (errors raise), so not stopped = complete.
    complete = not stop.is_set()
    if not complete:
        log.info("job %s stopped after %d frames; resume with --resume", out_dir, len(records))
        return JobResult(out_dir, len(records), resumed, False, [], None, times)
    t0 = time.perf_counter()
    fps = info.fps
    sequences = build_sequences(records, skeleton, float(fps), options.tracker, options.smoothing,
                                smooth=options.smooth, fix_foot_skating=options.fix_foot_skating)
    times.add("track+smooth", time.perf_counter() - t0)
    tracks_dir = out_dir / "tracks"
    tracks_dir.mkdir(exist_ok=True)
    files = []
    for seq in sequences:
        path = tracks_dir / f"track_{seq.track_id:03d}.npz"
        write_track_npz(path, seq, fps)
        files.append(path)
    summary = {
        "video": job["video"],
        "engine": job["engine"],
        "fps": f"{fps.numerator}/{fps.denominator}",
        "frames_processed": len(records),
        "first_frame": records[0]["index"] if records else None,
        "last_frame": records[-1]["index"] if records else None,
        "frames_resumed": resumed,
        "options": {"smooth": options.smooth, "fix_foot_skating": options.fix_foot_skating,
                    "tracker": asdict(options.tracker), "smoothing": asdict(options.smoothing)},
        "coordinates": "OpenCV camera frame of the video (x right, y down, z forward), metres; transl is the SMPL "
                       "origin (pelvis = J0(betas) + transl); no camera-motion compensation",
        "tracks": [{"track_id": s.track_id, "file": f"tracks/track_{s.track_id:03d}.npz",
                    "first_frame": int(s.frame_indices[0]), "last_frame": int(s.frame_indices[-1]),
                    "num_frames": int(len(s.frame_indices)), "num_observed": int(s.observed.sum())}
                   for s in sequences],
        "stage_seconds": {k: round(v, 4) for k, v in times.seconds.items()},
    }
    write_json_atomic(out_dir / "summary.json", summary)
    return JobResult(out_dir, len(records), resumed, True, files, out_dir / "summary.json", times)

"""``tokenmocap mocap VIDEO --out DIR``: multi-person video mocap to per-track SMPL sequences, resumable."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

NAME = "mocap"
HELP = "track and reconstruct every person in a video; writes per-track SMPL .npz files and summary.json (resumable)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.commands._checks import non_negative_float, non_negative_int, positive_int

    parser.add_argument("video", type=Path, help="video file (anything OpenCV decodes: mp4, avi, mov, ...)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (job files, tracks/, summary.json)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted job in --out (its frame range and engine are kept)")
    parser.add_argument("--engine", default="auto", choices=("auto", "tokenhmr", "hmr2", "lite"))
    parser.add_argument("--detector", default="auto", choices=("auto", "torchvision", "mediapipe", "hog", "full_frame"))
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available)")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--start", type=non_negative_int, default=None, help="first frame to process (default 0)")
    parser.add_argument("--end", type=positive_int, default=None, help="frame to stop before (default: end of video)")
    parser.add_argument("--fps", type=_frame_rate, default=None,
                        help="frame rate to use instead of the file's, e.g. 30000/1001 or 25 (for files that report "
                             "none or a wrong one)")
    parser.add_argument("--no-smooth", action="store_true", help="export raw per-frame results (no smoothing)")
    parser.add_argument("--fix-foot-skating", action="store_true",
                        help="correct the root translation while a foot is planted")
    parser.add_argument("--batch", type=positive_int, default=16, help="most crops per forward pass (across frames)")
    parser.add_argument("--fsync-interval", type=non_negative_float, default=0.0, metavar="SECONDS",
                        help="fsync the job file at most this often (default 0: every frame; a killed process never "
                             "loses flushed frames, fsync only matters for power loss)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _frame_rate(text: str) -> str:
    """argparse type: a positive frame rate ('30000/1001', '25', '29.97'), kept as its exact fraction's text."""
    from backend.video import fps_fraction

    try:
        return str(fps_fraction(text if "/" in text else float(text)))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a positive frame rate such as 25, 29.97 or 30000/1001; got "
                                         f"{text!r}") from None


class _ProgressBar:
    """A one-line progress bar on stderr (frames, percentage, frames/s, time left)."""

    def __init__(self, stream=sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.t0 = time.perf_counter()
        self.start_done: int | None = None
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if self.start_done is None:
            self.start_done, self.t0 = done, now
        if now - self._last < 0.1 and (total is None or done < total):
            return
        self._last = now
        rate = (done - self.start_done) / max(now - self.t0, 1e-9)
        if total:
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * self.width)
            eta = f"{(total - done) / rate:5.0f} s" if rate > 0 else "    ? s"
            line = f"\r[{bar:<{self.width}}] {done}/{total} frames {100 * frac:5.1f}%  {rate:5.1f} fps  ETA {eta}"
        else:
            line = f"\r{done} frames  {rate:5.1f} fps"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _adopt_job_settings(args: argparse.Namespace) -> None:
    """``--resume`` without ``--start`` / ``--end`` / ``--engine`` continues with the interrupted job's own, so the
    plain ``tokenmocap mocap VIDEO --out DIR --resume`` works whatever range and engine the job was started with."""
    from backend.video.jobs import read_json

    meta_path = args.out / "job.json"
    if not meta_path.is_file():
        log.warning("%s holds no job to resume; starting a new one", args.out)
        return
    job = read_json(meta_path)
    options = job.get("options") or {}
    if args.start is None:
        args.start = options.get("start_frame")
    if args.end is None:
        args.end = options.get("end_frame")
    if args.fps is None and options.get("fps"):
        args.fps = options["fps"]
    if args.engine == "auto" and job.get("engine") in ("tokenhmr", "hmr2", "lite"):
        args.engine = job["engine"]


def _resume_command(args: argparse.Namespace) -> str:
    """The command line that continues this job (the options that shape its frames, repeated)."""
    import shlex

    words = ["tokenmocap", "mocap", str(args.video), "--out", str(args.out), "--resume"]
    for flag, value, default in (("--engine", args.engine, "auto"), ("--detector", args.detector, "auto"),
                                 ("--device", args.device, None), ("--models-dir", args.models_dir, None),
                                 ("--batch", args.batch, 16), ("--fps", args.fps, None)):
        if value != default:
            words += [flag, str(value)]
    for flag, on in (("--no-smooth", args.no_smooth), ("--fix-foot-skating", args.fix_foot_skating)):
        if on:
            words.append(flag)
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from backend.commands._checks import check_input_file, check_output_folder
    from backend.engine import EngineUnavailable, make_engine
    from backend.lite import LiteUnavailableError
    from backend.paths import models_dir as default_models_dir
    from backend.video import (
        JobFileError,
        JobOptions,
        PipelineConfig,
        VideoReadError,
        probe_video,
        run_video_job,
        skeleton_for_models_dir,
    )

    # Fail before the (slow) model load on the mistakes we can see now.
    check_input_file(args.video, "VIDEO, a video file (mp4, avi, mov, ...)")
    if (args.out / "job.json").exists() and not args.resume:
        log.error("%s already holds a job; pass --resume to continue it, or choose another --out", args.out)
        return 2
    if args.resume:
        _adopt_job_settings(args)
    try:
        info = probe_video(args.video, fps=args.fps)
    except (FileNotFoundError, VideoReadError) as e:
        log.error("%s", e)
        return 2
    start = args.start or 0
    if info.frame_count and start >= info.frame_count:
        log.error("--start %d is past the end of %s, which has %d frames (0-%d); pass a smaller --start",
                  start, args.video, info.frame_count, info.frame_count - 1)
        return 2
    if args.end is not None and args.end <= start:
        log.error("--end %d must be greater than --start %d (--end is the frame to stop before); got an empty range",
                  args.end, start)
        return 2
    check_output_folder(args.out, "--out")
    models = args.models_dir if args.models_dir is not None else default_models_dir()
    try:
        engine = make_engine(args.engine, models, device=args.device, detector=args.detector, max_batch=args.batch)
    except (EngineUnavailable, LiteUnavailableError, FileNotFoundError) as e:  # the message names what to install
        log.error("%s", e)
        return 2
    skeleton = skeleton_for_models_dir(models)
    options = JobOptions(start_frame=start, end_frame=args.end, smooth=not args.no_smooth,
                         fix_foot_skating=args.fix_foot_skating, fsync_interval_s=args.fsync_interval, fps=args.fps,
                         pipeline=PipelineConfig(batch_crops=args.batch))
    bar = None if args.no_progress else _ProgressBar()
    try:
        result = run_video_job(args.video, args.out, engine, skeleton, options, resume=args.resume, progress=bar)
    except (FileExistsError, JobFileError, VideoReadError) as e:
        if bar is not None:
            bar.close()
        log.error("%s", e)
        return 2
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        log.warning("cancelled; finished frames are saved in %s. Continue with: %s", args.out, _resume_command(args))
        return 130
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    if bar is not None:
        bar.close()
    log.info("%d frames (%d resumed), %d tracks -> %s", result.frames_done, result.frames_resumed,
             len(result.track_files), result.summary_path)
    if not result.track_files:
        log.warning("no person was tracked: the %s engine did not find anyone in %d consecutive frames (small people "
                    "in a wide shot need a person detector: --detector hog, offline, or --detector torchvision with its "
                    "weights installed)",
                    getattr(engine, "name", args.engine), options.tracker.n_init)
    return 0

"""Video file decoding with OpenCV: frame rate kept as an exact fraction, frames as (index, BGR image).

Container frame rates such as NTSC's 29.97 are rationals (30000/1001); OpenCV reports a float, which we turn
back into the nearest fraction with a denominator of at most 1001, so a 30000/1001 clip stays 30000/1001 in the
job files and in Blender instead of drifting by a frame every few minutes. Frame streams from clients do not come
through here: they are pushed frame by frame into a :class:`~backend.video.session.VideoSession`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

__all__ = ["VideoInfo", "VideoReadError", "probe_video", "iter_video_frames", "fps_fraction"]


class VideoReadError(ValueError):
    """A video file that cannot be opened or decoded."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself.

    Attributes:
        path: the file.
        fps: frame rate as an exact fraction (e.g. Fraction(30000, 1001)).
        frame_count: number of frames the container reports (may be approximate for some codecs; decoding
            stops at the real end).
        width, height: frame size in pixels.
    """

    path: Path
    fps: Fraction
    frame_count: int
    width: int
    height: int

    def to_json(self) -> dict:
        return {"path": str(self.path), "fps": f"{self.fps.numerator}/{self.fps.denominator}",
                "fps_float": float(self.fps), "frame_count": self.frame_count, "width": self.width,
                "height": self.height}


_NTSC_BASES = (24, 30, 48, 60, 120, 240)


def fps_fraction(fps: float | Fraction | str) -> Fraction:
    """A frame rate as a fraction: 29.97002997 → 30000/1001, 25.0 → 25, "24000/1001" → 24000/1001.

    Floats within 0.01 % of an NTSC rate (n·1000/1001) snap to it: containers often store 29.97 as 2997/100
    (OpenCV's AVI writer does), which every editor treats as 30000/1001.
    """
    try:
        value = Fraction(fps) if not isinstance(fps, float) else Fraction(fps).limit_denominator(1001)
    except (ValueError, ZeroDivisionError) as e:
        raise ValueError(f"frame rate must be a positive number or fraction like '30000/1001'; got {fps!r}") from e
    if value <= 0:
        raise ValueError(f"frame rate must be positive; got {fps!r}")
    if isinstance(fps, float):
        for base in _NTSC_BASES:
            ntsc = Fraction(base * 1000, 1001)
            if abs(float(value) / float(ntsc) - 1.0) < 1e-4:
                return ntsc
    return value


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoReadError(
            f"{path}: OpenCV cannot open this file as a video (unsupported container/codec or not a video). "
            "Convert it, e.g. `ffmpeg -i INPUT -c:v libx264 OUTPUT.mp4`, or export an image sequence.")
    return cap


def probe_video(path: str | Path, fps: str | float | Fraction | None = None) -> VideoInfo:
    """Opens a video, checks that its first frame decodes, and returns its size, frame rate and frame count.

    Args:
        path: the video file.
        fps: the frame rate to use instead of the container's ('30000/1001', 25, ...), for files that report none
            or a wrong one (variable-rate phone clips).
    Raises:
        ValueError: ``fps`` is not a positive number or fraction.
        FileNotFoundError: no such file.
        VideoReadError: not a decodable video, or no usable frame rate.
    """
    path = Path(path)
    cap = _open(path)
    try:
        container_fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise VideoReadError(f"{path}: opened, but its first frame cannot be decoded (corrupt or empty video)")
    if fps is not None:
        rate = fps_fraction(fps)
    elif not container_fps or not math.isfinite(container_fps) or container_fps <= 0:
        raise VideoReadError(f"{path}: the container reports no frame rate ({container_fps!r}); give it, e.g. "
                             "`tokenmocap mocap VIDEO --fps 30000/1001`")
    else:
        rate = fps_fraction(float(container_fps))
    return VideoInfo(path, rate, max(count, 0), int(frame.shape[1]), int(frame.shape[0]))


def iter_video_frames(path: str | Path, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Decodes frames in order.

    Args:
        path: video file.
        start: first frame index to yield (earlier frames are grabbed without decoding: exact, unlike seeking).
        stop: index to stop before; None for the end of the file.
    Yields:
        (index, image_bgr (H, W, 3) uint8).
    """
    path = Path(path)
    cap = _open(path)
    try:
        index = 0
        while index < start:
            if not cap.grab():
                return
            index += 1
        while stop is None or index < stop:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield index, frame
            index += 1
    finally:
        cap.release()

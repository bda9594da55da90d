"""Frame-rate resampling of keyed tracks: exact timing, slerp for rotations, linear for locations.

Integer-step subsampling (``step = int(src/dst)``) gets 50 → 30 fps wrong (step 1); here every target frame
``k`` at time ``k / fps_dst`` is interpolated between the two source samples around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rotations import make_quaternions_continuous, quaternion_slerp

__all__ = ["ResampledTrack", "resample_track", "source_brackets"]


@dataclass(frozen=True)
class ResampledTrack:
    """A track sampled on the target frame grid."""

    frames: np.ndarray  # (N,) int64 target frame numbers
    quaternions: np.ndarray  # (N, J, 4) float64 (w, x, y, z), sign-continuous
    locations: np.ndarray  # (N, 3) float64


def source_brackets(
    source_frames: np.ndarray, fps_src: float, fps_dst: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each target frame inside the source's time span, the two source samples around it.

    Args:
        source_frames: (N,) increasing source frame numbers (gaps allowed).
        fps_src: source frame rate.
        fps_dst: target frame rate.
    Returns:
        target_frames (M,) int64, lower (M,) and upper (M,) indices into ``source_frames``, weight (M,) in [0, 1].
    """
    src = np.asarray(source_frames, dtype=np.float64)
    if src.ndim != 1 or src.size == 0:
        raise ValueError(f"source_frames: expected a non-empty 1-D array, got shape {src.shape}")
    if np.any(np.diff(src) <= 0):
        raise ValueError("source_frames: expected strictly increasing frame numbers")
    if not (fps_src > 0 and fps_dst > 0):
        raise ValueError(f"frame rates must be positive, got source {fps_src} and target {fps_dst}")
    times = src / fps_src
    # Round before ceil/floor so 1/3 s at 30 → 90 fps lands exactly on frame 30, not 29 or 31.
    first = int(np.ceil(np.round(times[0] * fps_dst, 9)))
    last = int(np.floor(np.round(times[-1] * fps_dst, 9)))
    target = np.arange(first, last + 1, dtype=np.int64)
    t = target / fps_dst
    upper = np.clip(np.searchsorted(times, t, side="left"), 0, src.size - 1)
    lower = np.clip(upper - 1, 0, src.size - 1)
    exact = np.isclose(times[upper], t, rtol=0.0, atol=1e-9)
    lower = np.where(exact, upper, lower)
    span = times[upper] - times[lower]
    weight = np.where(span > 0, (t - times[lower]) / np.where(span > 0, span, 1.0), 0.0)
    return target, lower, upper, np.clip(weight, 0.0, 1.0)


def resample_track(
    source_frames: np.ndarray,
    quaternions: np.ndarray,
    locations: np.ndarray,
    fps_src: float,
    fps_dst: float,
) -> ResampledTrack:
    """Resample per-frame bone quaternions and root locations to another frame rate.

    Args:
        source_frames: (N,) increasing source frame numbers.
        quaternions: (N, J, 4) bone quaternions (w, x, y, z).
        locations: (N, 3) root locations.
        fps_src: source frame rate.
        fps_dst: target frame rate.
    Returns:
        The track on the target grid (frames ``k`` with ``k / fps_dst`` inside the source span).
    """
    q = np.asarray(quaternions, dtype=np.float64)
    loc = np.asarray(locations, dtype=np.float64)
    n = np.asarray(source_frames).shape[0]
    if q.ndim != 3 or q.shape[0] != n or q.shape[2] != 4:
        raise ValueError(f"quaternions: expected shape ({n}, J, 4), got {q.shape}")
    if loc.shape != (n, 3):
        raise ValueError(f"locations: expected shape ({n}, 3), got {loc.shape}")
    target, lower, upper, w = source_brackets(source_frames, fps_src, fps_dst)
    q_out = quaternion_slerp(q[lower], q[upper], np.broadcast_to(w[:, None], (w.size, q.shape[1])))
    loc_out = loc[lower] + w[:, None] * (loc[upper] - loc[lower])
    return ResampledTrack(target, make_quaternions_continuous(q_out), loc_out)

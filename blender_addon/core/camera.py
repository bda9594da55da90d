"""Camera maths: OpenCV camera frame → Blender, the pelvis position, the matching Blender camera, frame rates.

The backend reports ``cam_t_full``, the translation of the SMPL *origin* in the full-image OpenCV camera
frame, and ``focal_length`` in pixels (5000/256 · max(W, H)), with the principal point at the image centre.
The Blender camera sits at the origin looking along +Y (its rotation is ``Rx(+90°)``), so a point ``p_cam``
lands at ``M · p_cam`` in Blender with ``M = Rx(−90°)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .bone_pose import CAMERA_TO_BLENDER

__all__ = [
    "camera_to_blender_points",
    "pelvis_camera_positions",
    "BlenderCameraSettings",
    "blender_camera_settings",
    "BLENDER_CAMERA_ROTATION",
    "fps_to_blender",
]

# Blender cameras look along their local −Z with +Y up; OpenCV looks along +z with y down.
# World rotation = M · diag(1, −1, −1) = Rx(+90°).
BLENDER_CAMERA_ROTATION = CAMERA_TO_BLENDER @ np.diag([1.0, -1.0, -1.0])


def camera_to_blender_points(points_cam: np.ndarray) -> np.ndarray:
    """(..., 3) points in the OpenCV camera frame → (..., 3) Blender world points (camera at the origin)."""
    p = np.asarray(points_cam, dtype=np.float64)
    if p.shape[-1] != 3:
        raise ValueError(f"points_cam: expected shape (..., 3), got {p.shape}")
    return p @ CAMERA_TO_BLENDER.T


def pelvis_camera_positions(joint0_rest: np.ndarray, cam_t_full: np.ndarray) -> np.ndarray:
    """Pelvis in the camera frame: ``J0(β) + t`` (``cam_t_full`` moves the SMPL origin, not the pelvis).

    The root joint rotates about J0, so the pelvis stays at J0 + t whatever ``global_orient`` is.

    Args:
        joint0_rest: (3,) rest pelvis joint J0(β) in the SMPL canonical frame, metres.
        cam_t_full: (T, 3) SMPL origin translation in the OpenCV camera frame, metres.
    Returns:
        (T, 3) pelvis positions in the OpenCV camera frame.
    """
    j0 = np.asarray(joint0_rest, dtype=np.float64).reshape(3)
    t = np.asarray(cam_t_full, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"cam_t_full: expected shape (T, 3), got {t.shape}")
    return t + j0


@dataclass(frozen=True)
class BlenderCameraSettings:
    """A Blender camera equivalent to the backend's pinhole camera."""

    lens_mm: float  # focal length in millimetres for ``sensor_width_mm``
    sensor_width_mm: float  # sensor size along the fitted axis
    sensor_fit: str  # 'HORIZONTAL' when the image is wider than tall, else 'VERTICAL'
    resolution_x: int  # render width in pixels (the source image's)
    resolution_y: int  # render height in pixels
    rotation: tuple[tuple[float, float, float], ...]  # (3, 3) world rotation of the camera object


def blender_camera_settings(
    focal_length_px: float, width_px: int, height_px: int, sensor_width_mm: float = 36.0
) -> BlenderCameraSettings:
    """The Blender camera whose projection equals the backend's (square pixels, centred principal point).

    The sensor is fitted to the longer image side, so ``lens_mm / sensor_width_mm = focal_px / max(W, H)``.

    Args:
        focal_length_px: focal length in pixels of the full image.
        width_px: image width in pixels.
        height_px: image height in pixels.
        sensor_width_mm: sensor size used along the fitted axis.
    """
    if focal_length_px <= 0 or width_px <= 0 or height_px <= 0:
        raise ValueError(
            f"camera: expected positive focal length and image size, got focal {focal_length_px} px, "
            f"size {width_px}x{height_px}"
        )
    fit = "HORIZONTAL" if width_px >= height_px else "VERTICAL"
    lens = float(focal_length_px) * sensor_width_mm / float(max(width_px, height_px))
    rot = tuple(tuple(float(v) for v in row) for row in BLENDER_CAMERA_ROTATION)
    return BlenderCameraSettings(lens, sensor_width_mm, fit, int(width_px), int(height_px), rot)


def fps_to_blender(fps: float) -> tuple[int, float]:
    """A frame rate as Blender's ``(render.fps, render.fps_base)`` pair, exact for NTSC rates.

    29.97 → (30, 1.001), 23.976 → (24, 1.001), 25 → (25, 1.0).

    Args:
        fps: frames per second of the source video, > 0.
    """
    if not fps > 0:
        raise ValueError(f"fps: expected a positive frame rate, got {fps}")
    for base in (1.0, 1.001):
        whole = round(fps * base)
        if whole >= 1 and abs(whole / base - fps) < 1e-3 * max(1.0, fps / 30.0):
            return int(whole), base
    frac = Fraction(fps).limit_denominator(1001)
    whole = max(1, round(fps))
    return whole, whole / float(frac)

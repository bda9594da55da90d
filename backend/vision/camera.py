"""Camera maths of the official TokenHMR / HMR 2.0 code, as free functions on torch tensors or numpy arrays.

Frames: the OpenCV camera (x right, y down, z forward). ``pred_cam`` is the weak-perspective camera (s, tx, ty)
of the 256 crop in crop-normalised units; ``cam_t`` translates the SMPL origin (not the pelvis), so the pelvis is
``J0(betas) + cam_t`` (the root rotation turns the body about J0, which therefore does not move).
Sources: ``tokenhmr/lib/models/tokenhmr.py forward_step``, ``lib/utils/geometry.py perspective_projection``,
``lib/utils/renderer.py cam_crop_to_full``. Each function returns the type it is given.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "FOCAL_LENGTH",
    "focal_length_px",
    "cam_crop_to_cam_t",
    "cam_crop_to_full",
    "perspective_projection",
    "pelvis_from_cam_t",
    "cam_t_from_pelvis",
]

Array = TypeVar("Array", torch.Tensor, np.ndarray)

FOCAL_LENGTH = 5000.0  # EXTRA.FOCAL_LENGTH: focal length in pixels of the 256-pixel crop
IMAGE_SIZE = 256  # MODEL.IMAGE_SIZE


def _stack(items: list, like: Array) -> Array:
    if isinstance(like, torch.Tensor):
        return torch.stack(items, dim=-1)
    return np.stack(items, axis=-1)


def focal_length_px(img_size_wh: Array) -> Array:
    """Per-image full-image focal length ``5000 / 256 * max(W, H)`` in pixels.

    Args:
        img_size_wh: (B, 2) image sizes [W, H].

    Returns:
        (B,) focal lengths. (The official demo takes the max over the whole batch; per image is what it means.)
    """
    if isinstance(img_size_wh, torch.Tensor):
        return FOCAL_LENGTH / IMAGE_SIZE * img_size_wh.max(dim=-1).values
    return FOCAL_LENGTH / IMAGE_SIZE * np.max(img_size_wh, axis=-1)


def cam_crop_to_cam_t(pred_cam: Array, focal_length: float = FOCAL_LENGTH, image_size: int = IMAGE_SIZE) -> Array:
    """Official ``pred_cam_t``: the perspective translation for the crop, ``[tx, ty, 2 f / (S s + 1e-9)]``.

    Args:
        pred_cam: (B, 3) weak-perspective (s, tx, ty).
        focal_length: crop focal length in pixels of the ``image_size`` crop (5000).
        image_size: crop side (256).

    Returns:
        (B, 3) translation of the SMPL origin in the crop camera, metres.
    """
    s, tx, ty = pred_cam[..., 0], pred_cam[..., 1], pred_cam[..., 2]
    return _stack([tx, ty, 2 * focal_length / (image_size * s + 1e-9)], pred_cam)


def cam_crop_to_full(
    pred_cam: Array, box_center: Array, box_size: Array, img_size_wh: Array, focal_px: Array
) -> Array:
    """Official ``cam_crop_to_full``: the crop camera expressed in the full image.

    Args:
        pred_cam: (B, 3) weak-perspective (s, tx, ty) of the crop.
        box_center: (B, 2) box centre (x, y) in image pixels (``PersonCrop.box_center``).
        box_size: (B,) square crop side in image pixels (``PersonCrop.box_size``).
        img_size_wh: (B, 2) image sizes [W, H].
        focal_px: (B,) full-image focal lengths in pixels (:func:`focal_length_px`).

    Returns:
        (B, 3) ``cam_t_full``: translation of the SMPL origin in the full-image camera (principal point at the
        image centre), metres.
    """
    img_w, img_h = img_size_wh[..., 0], img_size_wh[..., 1]
    cx, cy = box_center[..., 0], box_center[..., 1]
    w_2, h_2 = img_w / 2.0, img_h / 2.0
    bs = box_size * pred_cam[..., 0] + 1e-9
    tz = 2 * focal_px / bs
    tx = (2 * (cx - w_2) / bs) + pred_cam[..., 1]
    ty = (2 * (cy - h_2) / bs) + pred_cam[..., 2]
    return _stack([tx, ty, tz], pred_cam)


def perspective_projection(
    points: Array, translation: Array, focal_length: Array, camera_center: Array | None = None
) -> Array:
    """Pinhole projection with identity rotation (official ``perspective_projection``).

    Args:
        points: (B, N, 3) points in the body frame (camera axes).
        translation: (B, 3) added to every point (``cam_t``).
        focal_length: (B, 2) focal lengths (fx, fy) in the output units; (B,) or a float for fx = fy.
        camera_center: (B, 2) principal point in the output units; None for 0 (the official crop projection).

    Returns:
        (B, N, 2) image coordinates. The official crop keypoints use focal ``5000/256`` and no centre, giving
        crop-normalised coordinates (crop pixels = (k + 0.5) * 256).
    """
    pts = points + translation[..., None, :]
    # Same operation order as K @ (p / z): divide first, then scale (adding the zero entries of K is exact).
    xy = pts[..., :2] / pts[..., 2:3]
    if isinstance(focal_length, (int, float)):
        f = focal_length
    else:
        f = focal_length if focal_length.ndim == 2 else _stack([focal_length, focal_length], focal_length)
        f = f[..., None, :]
    out = xy * f
    if camera_center is not None:
        out = out + camera_center[..., None, :]
    return out


def pelvis_from_cam_t(cam_t: Array, pelvis_rest: Array) -> Array:
    """Pelvis position in the camera frame: ``J0(betas) + cam_t``.

    Args:
        cam_t: (..., 3) translation of the SMPL origin (``pred_cam_t`` or ``cam_t_full``).
        pelvis_rest: (..., 3) J0 of the shaped rest body (``SMPLBodyOutput.smpl_joints[:, 0]`` at any pose).

    Returns:
        (..., 3) pelvis in the camera frame, metres.
    """
    return pelvis_rest + cam_t


def cam_t_from_pelvis(pelvis_cam: Array, pelvis_rest: Array) -> Array:
    """Inverse of :func:`pelvis_from_cam_t`: the SMPL-origin translation that puts the pelvis at ``pelvis_cam``."""
    return pelvis_cam - pelvis_rest

"""Placing the posed skeleton in the full-image camera, the way TokenHMR's outputs are placed.

Camera model (DESIGN.md §5, ``backend.vision.camera``): OpenCV axes, principal point at the image centre, focal
``5000 / 256 * max(W, H)`` pixels; ``cam_t_full`` translates the SMPL origin. The lite engine has no crop network,
so it solves the translation from MediaPipe's 2D landmarks and derives the crop camera ``cam_crop`` (s, tx, ty)
that ``cam_crop_to_full`` maps back to the same ``cam_t_full``.
"""

from __future__ import annotations

import numpy as np

from backend.body import NUM_KEYPOINTS
from backend.lite.skeleton import MARKER_NAMES
from backend.vision import crop_box_square, focal_length_px

__all__ = ["fit_translation", "project_points", "cam_crop_from_full", "keypoints_44", "MIN_DEPTH_M"]

MIN_DEPTH_M = 0.1  # a solved SMPL origin closer to the camera than this means the 2D fit failed
MIN_WEIGHTED_POINTS = 4
_M = {name: i for i, name in enumerate(MARKER_NAMES)}


def fit_translation(
    points: np.ndarray, image_px: np.ndarray, weights: np.ndarray, image_wh: tuple[int, int]
) -> np.ndarray:
    """The translation t (3,) that best projects ``points + t`` onto ``image_px`` (linear least squares).

    For each point, ``f (X + tx) = (u - cx) (Z + tz)`` and the same for y: two equations linear in t, weighted.

    Args:
        points: (N, 3) body points relative to the SMPL origin, camera axes, metres.
        image_px: (N, 2) observed pixels.
        weights: (N,) non-negative weights (MediaPipe visibility).
        image_wh: (W, H) of the image.

    Raises:
        ValueError: fewer than 4 points with weight > 0, or a solution behind or at the camera.
    """
    width, height = image_wh
    focal = float(focal_length_px(np.array([width, height], dtype=np.float64)))
    cx, cy = width / 2.0, height / 2.0
    w = np.asarray(weights, dtype=np.float64)
    if int((w > 0).sum()) < MIN_WEIGHTED_POINTS:
        raise ValueError(
            f"fit_translation: need at least {MIN_WEIGHTED_POINTS} landmarks with weight > 0, got {(w > 0).sum()}"
        )
    du, dv = image_px[:, 0] - cx, image_px[:, 1] - cy
    n = points.shape[0]
    a = np.zeros((2 * n, 3))
    b = np.zeros(2 * n)
    a[:n, 0], a[:n, 2], b[:n] = focal, -du, du * points[:, 2] - focal * points[:, 0]
    a[n:, 1], a[n:, 2], b[n:] = focal, -dv, dv * points[:, 2] - focal * points[:, 1]
    sw = np.sqrt(np.concatenate([w, w]))
    t, *_ = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)
    if t[2] + float(points[:, 2].min()) < MIN_DEPTH_M:
        raise ValueError(f"fit_translation: the fitted body lies at or behind the camera (t = {t.round(3).tolist()})")
    return t


def project_points(points: np.ndarray, cam_t: np.ndarray, image_wh: tuple[int, int]) -> np.ndarray:
    """(N, 2) pixels of ``points + cam_t`` (N, 3) in the full-image camera of an image of size (W, H)."""
    focal = float(focal_length_px(np.array(image_wh, dtype=np.float64)))
    p = points + cam_t
    return focal * p[:, :2] / p[:, 2:3] + np.array([image_wh[0] / 2.0, image_wh[1] / 2.0])


def cam_crop_from_full(
    cam_t_full: np.ndarray, bbox_xyxy: np.ndarray, image_wh: tuple[int, int]
) -> np.ndarray:
    """Inverse of ``cam_crop_to_full`` for the official crop of ``bbox_xyxy``: (s, tx, ty) in crop units."""
    center, box_size = crop_box_square(np.asarray(bbox_xyxy, dtype=np.float64), image_wh)
    focal = float(focal_length_px(np.array(image_wh, dtype=np.float64)))
    box_size = float(box_size)
    s = 2.0 * focal / (box_size * float(cam_t_full[2]))
    bs = box_size * s
    tx = float(cam_t_full[0]) - 2.0 * (float(center[0]) - image_wh[0] / 2.0) / bs
    ty = float(cam_t_full[1]) - 2.0 * (float(center[1]) - image_wh[1] / 2.0) / bs
    return np.array([s, tx, ty])


def keypoints_44(joints: np.ndarray, markers: np.ndarray) -> np.ndarray:
    """The 44 TokenHMR keypoints (``backend.body.KEYPOINT_NAMES``) from the posed skeleton.

    OpenPose joints map to SMPL joints and face / foot markers as the official ``smpl_to_openpose`` does with
    SMPL joints and vertices. The 19 extra joints (LSP / MPII / H36M) come from SMPL joints and head markers:
    SMPL's J19 regressor is licensed data, so these are approximations of the same anatomical points.

    Args:
        joints: (24, 3) posed SMPL joints.
        markers: (M, 3) posed markers (``skeleton.MARKER_NAMES`` order).

    Returns:
        (44, 3) keypoints in the same frame.
    """

    def m(name: str) -> np.ndarray:
        return markers[_M[name]]

    thorax = 0.5 * (joints[16] + joints[17])
    out = [
        m("nose"), joints[12], joints[17], joints[19], joints[21], joints[16], joints[18], joints[20],
        joints[0], joints[2], joints[5], joints[8], joints[1], joints[4], joints[7],
        m("right_eye"), m("left_eye"), m("right_ear"), m("left_ear"),
        m("left_foot_index"), m("left_small_toe"), m("left_heel"),
        m("right_foot_index"), m("right_small_toe"), m("right_heel"),
        joints[8], joints[5], joints[2], joints[1], joints[4], joints[7], joints[21], joints[19], joints[17],
        joints[16], joints[18], joints[20], joints[12], m("head_top"), joints[0], thorax, joints[6], m("jaw"),
        m("head_h36m"),
    ]  # fmt: skip
    result = np.stack(out)
    assert result.shape[0] == NUM_KEYPOINTS, result.shape  # internal: the table above lists every keypoint
    return result

"""Choosing a person by clicking the image: image-editor coordinates to pixels, and the box under the cursor."""

from __future__ import annotations

import numpy as np

__all__ = ["uv_to_pixel", "pixel_to_uv", "pick_box"]


def uv_to_pixel(u: float, v: float, width: int, height: int) -> tuple[float, float]:
    """Blender image UV (origin bottom-left, 0..1) → image pixels (origin top-left, x right, y down)."""
    return u * width, (1.0 - v) * height


def pixel_to_uv(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """Inverse of :func:`uv_to_pixel`."""
    return x / width, 1.0 - y / height


def pick_box(boxes_xyxy: np.ndarray, x: float, y: float) -> int:
    """Index of the box containing pixel (x, y); the smallest one when boxes overlap (the person in front is
    usually the one fully inside the other's box). -1 when no box contains the point.

    Args:
        boxes_xyxy: (N, 4) boxes x1, y1, x2, y2 in image pixels.
        x: pixel column.
        y: pixel row.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    if not inside.any():
        return -1
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    candidates = np.flatnonzero(inside)
    return int(candidates[np.argmin(areas[candidates])])

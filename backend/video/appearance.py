"""A cheap appearance embedding for tracking: hue-saturation histograms of a person's box.

PHALP encodes a UV texture map with an autoencoder, which needs a mesh renderer and a GPU pass per (track,
detection) pair. Clothing colour is most of what separates people in a shot, so we use two HSV histograms (upper
and lower half of the box: shirt and trousers), square-rooted so that the Euclidean distance between embeddings is
the Hellinger distance between the histograms (0 = identical, 1 = disjoint).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["APPEARANCE_DIM", "appearance_embedding", "appearance_distance"]

_H_BINS, _S_BINS = 12, 4
APPEARANCE_DIM = 2 * _H_BINS * _S_BINS


def _hist(hsv: np.ndarray) -> np.ndarray:
    if hsv.size == 0:
        return np.zeros(_H_BINS * _S_BINS)
    # OpenCV hue is 0..179 for uint8 images.
    h = cv2.calcHist([hsv], [0, 1], None, [_H_BINS, _S_BINS], [0, 180, 0, 256]).reshape(-1).astype(np.float64)
    total = h.sum()
    return np.sqrt(h / total) / np.sqrt(2.0) if total > 0 else h


def appearance_embedding(image_bgr: np.ndarray, bbox_xyxy: np.ndarray) -> np.ndarray:
    """Appearance vector of one person.

    Args:
        image_bgr: (H, W, 3) uint8 BGR frame.
        bbox_xyxy: (4,) person box in pixels; clipped to the image. The central 60 % of the width is used so
            background at the sides weighs less.
    Returns:
        (APPEARANCE_DIM,) float64 vector with unit norm per half (zeros for a box outside the image).
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"appearance_embedding: expected (H, W, 3) uint8 BGR; got {image_bgr.shape} {image_bgr.dtype}")
    h_img, w_img = image_bgr.shape[:2]
    x1, y1, x2, y2 = np.asarray(bbox_xyxy, dtype=np.float64).reshape(4)
    cx, half_w = (x1 + x2) / 2, 0.3 * (x2 - x1)
    xa, xb = int(np.clip(cx - half_w, 0, w_img)), int(np.clip(cx + half_w, 0, w_img))
    ya, yb = int(np.clip(y1, 0, h_img)), int(np.clip(y2, 0, h_img))
    ym = (ya + yb) // 2
    crop = image_bgr[ya:yb, xa:xb]
    if crop.size == 0:
        return np.zeros(APPEARANCE_DIM)
    hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2HSV)
    split = ym - ya
    return np.concatenate([_hist(hsv[:split]), _hist(hsv[split:])])


def appearance_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hellinger-style distance in [0, 1] between embeddings: a (N, D), b (M, D) → (N, M)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    # Each half contributes at most 1 (sqrt-histograms scaled by 1/sqrt 2), so the mean over halves is /2.
    return np.sqrt(np.clip(d2 / 2.0, 0.0, 1.0))

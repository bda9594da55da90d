"""Foot contact from foot velocity and height, and foot-skate removal by correcting the root translation.

Everything is in the camera frame of the video (OpenCV axes, y down), for one track. The ground is not known:
"up" is estimated as the median direction from the feet to the pelvis (people stand and walk upright most of a
clip), and ground height as a low percentile of the feet's heights along it. So a clip of someone lying down, or a
moving camera, breaks the estimate (documented limit; there is no camera-motion compensation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .skeleton import LEFT_FOOT, PELVIS, RIGHT_FOOT

__all__ = ["FootContactConfig", "estimate_up", "detect_foot_contacts", "remove_foot_skating", "FOOT_JOINTS"]

FOOT_JOINTS = (LEFT_FOOT, RIGHT_FOOT)


@dataclass(frozen=True)
class FootContactConfig:
    """Contact thresholds (metres, seconds)."""

    max_speed_mps: float = 0.35  # a foot moving slower than this may be planted
    height_margin_m: float = 0.08  # ... and must be within this of the estimated ground
    ground_percentile: float = 5.0  # ground height = this percentile of foot heights
    min_contact_frames: int = 2  # shorter contact runs are dropped (noise)


def estimate_up(joints_cam: np.ndarray) -> np.ndarray:
    """Unit "up" vector in the camera frame: median of pelvis − mid-feet over the sequence.

    Args:
        joints_cam: (T, 24, 3) joints in the camera frame.
    Returns:
        (3,) unit vector.
    """
    v = joints_cam[:, PELVIS] - joints_cam[:, list(FOOT_JOINTS)].mean(1)
    up = np.median(v, axis=0)
    n = np.linalg.norm(up)
    if n < 1e-6:
        raise ValueError("estimate_up: the pelvis is level with the feet over the clip; cannot tell which way is up")
    return up / n


def _drop_short_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    out = mask.copy()
    t = 0
    while t < len(mask):
        if mask[t]:
            end = t
            while end < len(mask) and mask[end]:
                end += 1
            if end - t < min_len:
                out[t:end] = False
            t = end
        else:
            t += 1
    return out


def detect_foot_contacts(joints_cam: np.ndarray, fps: float,
                         config: FootContactConfig = FootContactConfig()) -> np.ndarray:
    """Per-frame contact of the left and right foot.

    Args:
        joints_cam: (T, 24, 3) joints in the camera frame including the root translation, metres (smoothed
            sequences work much better: per-frame depth noise looks like foot motion).
        fps: frame rate.
        config: thresholds.
    Returns:
        (T, 2) bool, columns (left, right).
    """
    joints_cam = np.asarray(joints_cam, dtype=np.float64)
    if joints_cam.ndim != 3 or joints_cam.shape[1:] != (24, 3):
        raise ValueError(f"detect_foot_contacts: expected (T, 24, 3) joints; got {joints_cam.shape}")
    n = joints_cam.shape[0]
    if n < 2:
        return np.zeros((n, 2), dtype=bool)
    up = estimate_up(joints_cam)
    feet = joints_cam[:, list(FOOT_JOINTS)]  # (T, 2, 3)
    height = feet @ up  # (T, 2)
    ground = np.percentile(height, config.ground_percentile)
    vel = np.zeros_like(feet)
    # Central differences inside, one-sided at the ends: the speed at frame t, not half a frame later.
    vel[1:-1] = (feet[2:] - feet[:-2]) * fps / 2.0
    vel[0] = (feet[1] - feet[0]) * fps
    vel[-1] = (feet[-1] - feet[-2]) * fps
    speed = np.linalg.norm(vel, axis=-1)
    contact = (speed < config.max_speed_mps) & (height < ground + config.height_margin_m)
    return np.stack([_drop_short_runs(contact[:, k], config.min_contact_frames) for k in range(2)], axis=1)


def remove_foot_skating(transl: np.ndarray, joints_cam: np.ndarray, contacts: np.ndarray,
                        planar: bool = True) -> np.ndarray:
    """Corrects the root translation so planted feet stay where they landed.

    While a foot is in contact its frame-to-frame displacement is skating; the root is moved back by it (by the
    mean over planted feet when both are). The accumulated correction is held between contacts, so the trajectory
    stays continuous.

    Args:
        transl: (T, 3) root translation (``cam_t_full``), camera frame.
        joints_cam: (T, 24, 3) joints in the camera frame with that translation applied.
        contacts: (T, 2) bool from :func:`detect_foot_contacts`.
        planar: only correct along the ground plane (keep the height the model saw).
    Returns:
        (T, 3) corrected translation; apply the same change to ``joints_cam`` by adding ``result − transl``.
    """
    transl = np.asarray(transl, dtype=np.float64)
    joints_cam = np.asarray(joints_cam, dtype=np.float64)
    contacts = np.asarray(contacts, dtype=bool)
    n = transl.shape[0]
    if joints_cam.shape[0] != n or contacts.shape != (n, 2):
        raise ValueError(f"remove_foot_skating: expected transl (T, 3), joints (T, 24, 3), contacts (T, 2) with the "
                         f"same T; got {transl.shape}, {joints_cam.shape}, {contacts.shape}")
    if n < 2:
        return transl.copy()
    up = estimate_up(joints_cam) if planar else None
    feet = joints_cam[:, list(FOOT_JOINTS)]
    offset = np.zeros(3)
    out = transl.copy()
    for t in range(1, n):
        planted = contacts[t] & contacts[t - 1]
        if planted.any():
            skate = (feet[t, planted] - feet[t - 1, planted]).mean(0)
            if up is not None:
                skate = skate - (skate @ up) * up
            offset = offset - skate
        out[t] = transl[t] + offset
    return out

"""Temporal smoothing of SMPL sequences: a causal One-Euro filter for streaming, a zero-lag smoother for clips.

Rotations are filtered in the continuous 6D representation (:mod:`.rotations`), never as Euler angles or raw
axis-angle, and mapped back to rotations by Gram-Schmidt. Translation is filtered separately with its own
parameters (metres, and much noisier in depth than in x/y). Shape is not filtered but replaced by one robust
per-track estimate (:func:`robust_betas`).

Causal filter. The classic One-Euro filter (Casiez et al., CHI 2012) is a first-order low-pass whose cutoff rises
with the filtered speed: ``fc = min_cutoff + beta·|dx/dt|``. With a first-order section it cannot reach both a 5×
jitter reduction and a lag of at most 2 frames on human-like motion (measured on sums of 0.2-1.5 Hz sines at 30 fps
with 0.03 rad noise: the best first-order settings give 5.4× at 2.9 frames or 3.6× at 1.6 frames). A second-order
section falls off at 40 dB/decade instead of 20, and acceleration noise lives near the Nyquist frequency, so
``order=2`` (the default) keeps One-Euro's speed-adaptive cutoff but filters with a Butterworth-damped
(Q = 1/√2) state-variable filter in its topology-preserving form, which stays stable while the cutoff changes every
sample. With the defaults, on joint positions of random 24-joint motion with 0.05 rad rotation noise: 6.7-7.8×
lower acceleration error at 1.6 frames lag (tests/video/test_smoothing.py). ``order=1`` is the classic filter.

Offline smoother. A second-order Butterworth low-pass run forward and backward (``scipy.signal.filtfilt``): zero
phase, so no lag at all, for finished clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, filtfilt

from .rotations import rot6d_to_rotmat, rotmat_to_6d

__all__ = [
    "OneEuroFilter",
    "SmoothingConfig",
    "smooth_offline",
    "smooth_rotations_offline",
    "robust_betas",
]


@dataclass(frozen=True)
class SmoothingConfig:
    """Parameters of the streaming and offline smoothers.

    The defaults were chosen on synthetic human-like motion (see the module docstring); rotations are in 6D units
    (about radians for small changes), translation in metres.
    """

    rot_min_cutoff_hz: float = 3.5  # One-Euro cutoff at rest for the 6D rotation channels
    rot_beta: float = 0.5  # cutoff increase per unit/s of 6D speed
    transl_min_cutoff_hz: float = 2.0  # One-Euro cutoff at rest for the pelvis translation, metres
    transl_beta: float = 2.0  # cutoff increase per m/s of speed
    d_cutoff_hz: float = 1.0  # cutoff of the speed estimate that drives the adaptive cutoff
    order: int = 2  # 2: second-order section (default); 1: the classic first-order One-Euro filter
    offline_rot_cutoff_hz: float = 4.0  # zero-phase Butterworth cutoff for rotations of finished clips
    offline_transl_cutoff_hz: float = 3.0  # zero-phase Butterworth cutoff for translations of finished clips
    betas_trim: float = 0.2  # fraction trimmed at each end for the per-track robust betas

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise ValueError(f"SmoothingConfig.order must be 1 (classic One-Euro) or 2; got {self.order}")
        for name in ("rot_min_cutoff_hz", "transl_min_cutoff_hz", "d_cutoff_hz", "offline_rot_cutoff_hz",
                     "offline_transl_cutoff_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SmoothingConfig.{name} must be > 0; got {getattr(self, name)}")
        if not 0 <= self.betas_trim < 0.5:
            raise ValueError(f"SmoothingConfig.betas_trim must be in [0, 0.5); got {self.betas_trim}")


def _ema_alpha(cutoff_hz: np.ndarray | float, fps: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau * fps)


class OneEuroFilter:
    """Speed-adaptive causal low-pass over a vector of channels (each channel adapts independently).

    Args:
        fps: sample rate in frames per second.
        min_cutoff_hz: cutoff when the signal is still.
        beta: cutoff increase per unit/s of filtered speed.
        d_cutoff_hz: cutoff of the first-order filter on the speed estimate.
        order: 1 (classic One-Euro) or 2 (second-order state-variable section, Q = 1/√2).
    """

    def __init__(self, fps: float, min_cutoff_hz: float, beta: float, d_cutoff_hz: float = 1.0,
                 order: int = 2) -> None:
        if not fps > 0:
            raise ValueError(f"OneEuroFilter: fps must be > 0; got {fps}")
        if order not in (1, 2):
            raise ValueError(f"OneEuroFilter: order must be 1 or 2; got {order}")
        self.fps = float(fps)
        self.min_cutoff_hz = float(min_cutoff_hz)
        self.beta = float(beta)
        self.d_cutoff_hz = float(d_cutoff_hz)
        self.order = order
        self._x_prev: np.ndarray | None = None
        self._dx = None
        self._ic1 = None  # state-variable filter integrator states (order 2)
        self._ic2 = None
        self._y = None  # output state (order 1)

    def reset(self) -> None:
        """Forget the history; the next sample passes through unchanged."""
        self._x_prev = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filters one sample.

        Args:
            x: (D,) sample (any shape; filtered element-wise).
        Returns:
            Filtered sample, same shape, float64.
        """
        x = np.asarray(x, dtype=np.float64)
        if self._x_prev is None:
            self._x_prev = x.copy()
            self._dx = np.zeros_like(x)
            self._ic1 = np.zeros_like(x)
            self._ic2 = x.copy()
            self._y = x.copy()
            return x.copy()
        if x.shape != self._x_prev.shape:
            raise ValueError(f"OneEuroFilter: sample shape changed from {self._x_prev.shape} to {x.shape}")
        a_d = _ema_alpha(self.d_cutoff_hz, self.fps)
        self._dx = a_d * (x - self._x_prev) * self.fps + (1.0 - a_d) * self._dx
        self._x_prev = x.copy()
        # Keep the cutoff below Nyquist, where the bilinear pre-warp (tan) diverges.
        cutoff = np.minimum(self.min_cutoff_hz + self.beta * np.abs(self._dx), 0.45 * self.fps)
        if self.order == 1:
            a = _ema_alpha(cutoff, self.fps)
            self._y = a * x + (1.0 - a) * self._y
            return self._y.copy()
        # Zavalishin's topology-preserving-transform SVF, low-pass output, k = 1/Q = sqrt(2) (Butterworth).
        g = np.tan(np.pi * cutoff / self.fps)
        k = np.sqrt(2.0)
        a1 = 1.0 / (1.0 + g * (g + k))
        a2 = g * a1
        a3 = g * a2
        v3 = x - self._ic2
        v1 = a1 * self._ic1 + a2 * v3
        v2 = self._ic2 + a2 * self._ic1 + a3 * v3
        self._ic1 = 2.0 * v1 - self._ic1
        self._ic2 = 2.0 * v2 - self._ic2
        return v2.copy()


def smooth_offline(x: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """Zero-phase low-pass of a finished sequence (2nd-order Butterworth, forward and backward).

    Args:
        x: (T, ...) samples along axis 0.
        fps: frame rate.
        cutoff_hz: cutoff frequency; at or above Nyquist the input is returned unchanged.
    Returns:
        (T, ...) float64. Sequences shorter than 4 frames are returned unchanged (nothing to filter).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 4 or cutoff_hz >= fps / 2:
        return x.copy()
    b, a = butter(2, cutoff_hz / (fps / 2.0))
    # filtfilt pads by reflection (odd extension) so the ends have no start-up transient.
    padlen = min(3 * max(len(a), len(b)), x.shape[0] - 1)
    return filtfilt(b, a, x, axis=0, padlen=padlen)


def smooth_rotations_offline(rotmats: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """Zero-phase smoothing of rotation sequences in 6D.

    Args:
        rotmats: (T, J, 3, 3) rotation matrices.
        fps: frame rate.
        cutoff_hz: low-pass cutoff.
    Returns:
        (T, J, 3, 3) smoothed rotation matrices.
    """
    rotmats = np.asarray(rotmats, dtype=np.float64)
    if rotmats.ndim != 4 or rotmats.shape[-2:] != (3, 3):
        raise ValueError(f"smooth_rotations_offline: expected (T, J, 3, 3) rotations; got {rotmats.shape}")
    return rot6d_to_rotmat(smooth_offline(rotmat_to_6d(rotmats), fps, cutoff_hz))


def robust_betas(betas: np.ndarray, trim: float = 0.2, weights: np.ndarray | None = None) -> np.ndarray:
    """One shape for a whole track: per-coefficient trimmed mean (robust to a few bad frames).

    Args:
        betas: (T, B) per-frame shape coefficients.
        trim: fraction of frames dropped at each end of every coefficient's sorted values.
        weights: (T,) optional per-frame weights (e.g. detection scores) applied to the kept values.
    Returns:
        (B,) float64.
    """
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 2 or betas.shape[0] == 0:
        raise ValueError(f"robust_betas: expected (T >= 1, B) betas; got {betas.shape}")
    t = betas.shape[0]
    w = np.ones(t) if weights is None else np.asarray(weights, dtype=np.float64).reshape(t)
    k = int(np.floor(trim * t))
    order = np.argsort(betas, axis=0)
    keep = order[k:t - k] if t - 2 * k > 0 else order
    vals = np.take_along_axis(betas, keep, axis=0)
    ws = w[keep]
    return (vals * ws).sum(0) / np.maximum(ws.sum(0), 1e-12)

"""Accuracy metrics of the human-mesh-recovery literature, as pure numpy functions.

Conventions follow the evaluation code of SPIN / HMR 2.0 / TokenHMR: 3D errors are computed on the 14 LSP joints
regressed from the mesh, after aligning both skeletons at the pelvis (the mid-point of the two hips), reported in
millimetres by the caller (these functions return metres when given metres). PA-MPJPE first applies the similarity
transform (rotation, translation and scale) that best aligns the prediction to the ground truth.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LSP14_LEFT_HIP",
    "LSP14_RIGHT_HIP",
    "align_by_pelvis",
    "procrustes_align",
    "mpjpe",
    "pa_mpjpe",
    "mve",
    "pck",
    "acceleration_error",
    "jitter",
]

# Indices of the hips in the 14 LSP joints (R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow,
# R shoulder, L shoulder, L elbow, L wrist, neck, head top).
LSP14_RIGHT_HIP = 2
LSP14_LEFT_HIP = 3


def _check_pair(pred: np.ndarray, gt: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"{name}: expected prediction and ground truth of the same shape (N, J, D); "
                         f"got {pred.shape} and {gt.shape}")
    return pred, gt


def align_by_pelvis(joints: np.ndarray, left_hip: int = LSP14_LEFT_HIP, right_hip: int = LSP14_RIGHT_HIP) -> np.ndarray:
    """Subtracts the pelvis (mid-point of the hips) from every joint.

    Args:
        joints: (N, J, 3) joint positions.
        left_hip: index of the left hip joint.
        right_hip: index of the right hip joint.
    Returns:
        (N, J, 3) pelvis-relative joints.
    """
    joints = np.asarray(joints, dtype=np.float64)
    pelvis = 0.5 * (joints[:, left_hip] + joints[:, right_hip])
    return joints - pelvis[:, None, :]


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Aligns each predicted point set to its ground truth with the best similarity transform (Umeyama).

    Args:
        pred: (N, J, 3) predicted points.
        gt: (N, J, 3) ground-truth points.
    Returns:
        (N, J, 3) ``s · R · pred + t`` minimising the squared distance to ``gt`` for each sample.
    """
    pred, gt = _check_pair(pred, gt, "procrustes_align")
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    xp = pred - mu_p
    xg = gt - mu_g
    var_p = (xp**2).sum(axis=(1, 2))
    # K[n] = Σ_j xg[n,j] xp[n,j]^T  (3x3 cross-covariance per sample)
    k = np.einsum("nji,njk->nik", xg, xp)
    u, sing, vt = np.linalg.svd(k)
    # Reflection guard: force det(R) = +1.
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(sing)
    fix[:, -1] = d
    rot = u @ (fix[:, :, None] * vt)
    scale = (sing * fix).sum(axis=1) / np.maximum(var_p, 1e-12)
    aligned = scale[:, None, None] * np.einsum("nik,njk->nji", rot, xp) + mu_g
    return aligned


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean per-joint position error of each sample (no alignment; align first if the protocol says so).

    Args:
        pred: (N, J, 3) predicted joints.
        gt: (N, J, 3) ground-truth joints.
    Returns:
        (N,) mean Euclidean joint error per sample, in the input's unit.
    """
    pred, gt = _check_pair(pred, gt, "mpjpe")
    return np.linalg.norm(pred - gt, axis=-1).mean(axis=1)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """MPJPE after Procrustes alignment with scale; (N,) per sample."""
    return mpjpe(procrustes_align(pred, gt), gt)


def mve(pred_vertices: np.ndarray, gt_vertices: np.ndarray) -> np.ndarray:
    """Mean vertex error (a.k.a. PVE / MPVPE) per sample; align both meshes the same way beforehand.

    Args:
        pred_vertices: (N, V, 3).
        gt_vertices: (N, V, 3).
    Returns:
        (N,) mean Euclidean vertex error.
    """
    return mpjpe(pred_vertices, gt_vertices)


def pck(pred_2d: np.ndarray, gt_2d: np.ndarray, visible: np.ndarray, threshold: float, scale: np.ndarray | float = 1.0) -> float:
    """Percentage of correct 2D keypoints: a visible keypoint is correct when its error is below
    ``threshold · scale`` (HMR 2.0 uses crop-normalised keypoints, i.e. scale = crop size, thresholds 0.05 / 0.1).

    Args:
        pred_2d: (N, K, 2) predicted keypoints.
        gt_2d: (N, K, 2) ground-truth keypoints.
        visible: (N, K) bool or {0,1}: which ground-truth keypoints count.
        threshold: fraction of ``scale``.
        scale: scalar or (N,) normaliser per sample (e.g. the box size in pixels).
    Returns:
        Fraction in [0, 1] of visible keypoints that are correct (nan when none is visible).
    """
    pred_2d, gt_2d = _check_pair(pred_2d, gt_2d, "pck")
    visible = np.asarray(visible).astype(bool)
    if visible.shape != pred_2d.shape[:2]:
        raise ValueError(f"pck: visibility must be (N, K) = {pred_2d.shape[:2]}; got {visible.shape}")
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (pred_2d.shape[0],))
    err = np.linalg.norm(pred_2d - gt_2d, axis=-1)
    correct = err < threshold * scale[:, None]
    n = visible.sum()
    return float(correct[visible].sum() / n) if n else float("nan")


def acceleration_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean difference of joint accelerations between prediction and ground truth (HMMR / VIBE protocol).

    Args:
        pred: (T, J, 3) predicted joints of one sequence, consecutive frames.
        gt: (T, J, 3) ground-truth joints.
    Returns:
        Mean over frames 1..T-2 and joints of ``‖a_pred − a_gt‖`` with ``a_t = x_{t-1} − 2x_t + x_{t+1}``, in input
        units per frame².
    """
    pred, gt = _check_pair(pred, gt, "acceleration_error")
    if pred.shape[0] < 3:
        raise ValueError(f"acceleration_error: needs at least 3 frames; got {pred.shape[0]}")
    acc_p = pred[:-2] - 2 * pred[1:-1] + pred[2:]
    acc_g = gt[:-2] - 2 * gt[1:-1] + gt[2:]
    return float(np.linalg.norm(acc_p - acc_g, axis=-1).mean())


def jitter(joints: np.ndarray, fps: float) -> float:
    """Mean jerk magnitude of a joint sequence (the "jitter" of GLAMR / WHAM tables).

    Args:
        joints: (T, J, 3) joints of one sequence, consecutive frames.
        fps: frame rate.
    Returns:
        Mean of ``‖x_{t+3} − 3x_{t+2} + 3x_{t+1} − x_t‖ · fps³`` over frames and joints, in input units per s³.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[0] < 4:
        raise ValueError(f"jitter: expected (T >= 4, J, 3) joints; got {joints.shape}")
    jerk = joints[3:] - 3 * joints[2:-1] + 3 * joints[1:-2] - joints[:-3]
    return float(np.linalg.norm(jerk, axis=-1).mean() * fps**3)

"""Training losses: pose-tokenizer reconstruction, HMR keypoint/parameter losses and TALS.

Pure functions with shapes in their docstrings (STYLE.md §5). The HMR losses follow the official
``tokenhmr/lib/models/losses.py`` and ``TokenHMR.compute_loss``: keypoint and parameter losses are SUMS over
the batch (not means), the 2D error is measured in crop-normalised units (crop pixels / 256 − 0.5), 3D keypoints
are pelvis-aligned at index 39 (25 + 14).

TALS (threshold-adaptive loss scaling, paper §3): for pseudo-GT samples, a keypoint whose squared 2D error is
within its threshold, or a joint whose geodesic error is within its threshold, is supervised with weight α
(``loose_weight``) instead of 1, because errors that small are explained by the pseudo-GT's camera and fitting
noise. Samples with real 3D ground truth always get the full loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backend.geometry import rotmat_to_axis_angle

__all__ = [
    "PELVIS_INDEX",
    "joint_angle_error",
    "TALSMasks",
    "keypoint_2d_loss",
    "keypoint_3d_loss",
    "parameter_loss",
    "tals_keypoint_2d_masks",
    "tals_pose_masks",
    "tokenizer_losses",
]

PELVIS_INDEX = 39  # "Pelvis (MPII)" in the 44-joint list, EXTRA.PELVIS_IND of the official config


def tokenizer_losses(
    pose_pred: torch.Tensor,
    pose_gt: torch.Tensor,
    joints_pred: torch.Tensor,
    joints_gt: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two reconstruction terms of the pose tokenizer (paper: L_RE = λ_RE·(L1 pose + L1 joints)).

    Args:
        pose_pred: (B, 21, 3, 3) decoded body-joint rotation matrices.
        pose_gt: (B, 21, 3, 3) input rotation matrices.
        joints_pred: (B, J, 3) joints of the decoded pose (metres, SMPL canonical frame, zero root).
        joints_gt: (B, J, 3) joints of the input pose.
    Returns:
        (pose_l1, joints_l1): means of the absolute differences.
    """
    return (pose_pred - pose_gt).abs().mean(), (joints_pred - joints_gt).abs().mean()


def keypoint_2d_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    weak_weight: torch.Tensor | None = None,
    loose_weight: float = 0.01,
) -> torch.Tensor:
    """Confidence-weighted L1 on 2D keypoints, summed, plus α × the L1 of the TALS-weak keypoints.

    Args:
        pred: (B, N, 2) predicted keypoints, crop-normalised.
        gt: (B, N, 3) ground truth (x, y, confidence); the confidence here already excludes weak keypoints.
        weak_weight: (B, N) weight of the keypoints inside their threshold (confidence × weak), or None.
        loose_weight: α, the weight of the weak keypoints.
    Returns:
        Scalar loss.
    """
    l1 = (pred - gt[..., :2]).abs()
    loss = (gt[..., 2:3] * l1).sum()
    if weak_weight is not None:
        loss = loss + loose_weight * (weak_weight[..., None] * l1).sum()
    return loss


def keypoint_3d_loss(pred: torch.Tensor, gt: torch.Tensor, pelvis_index: int = PELVIS_INDEX) -> torch.Tensor:
    """Confidence-weighted L1 on pelvis-aligned 3D keypoints, summed over the batch.

    Args:
        pred: (B, N, 3) predicted keypoints (metres, camera-aligned, any origin).
        gt: (B, N, 4) ground truth (x, y, z, confidence).
        pelvis_index: the keypoint both sets are re-centred on.
    Returns:
        Scalar loss.
    """
    pred = pred - pred[:, pelvis_index : pelvis_index + 1]
    gt_xyz = gt[..., :3] - gt[:, pelvis_index : pelvis_index + 1, :3]
    return (gt[..., 3:4] * (pred - gt_xyz).abs()).sum()


def parameter_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    full_weight: torch.Tensor,
    weak_weight: torch.Tensor | None = None,
    loose_weight: float = 0.01,
) -> torch.Tensor:
    """Squared error per item, weighted and summed (official ``ParameterLoss`` / ``ParameterLossPCKT``).

    Args:
        pred: (B, J, 3, 3) rotation matrices, or (B, P) parameters such as betas.
        gt: same shape as ``pred``.
        full_weight: (B, J) for matrices, (B,) for flat parameters: the weight of the full loss.
        weak_weight: same shape as ``full_weight``, the TALS-weak items (matrices only), or None.
        loose_weight: α.
    Returns:
        Scalar loss: Σ full·e + α·Σ weak·e, where e is the squared error summed over a matrix or over a row.
    """
    sq = (pred - gt) ** 2
    err = sq.sum(dim=(-1, -2)) if pred.dim() == 4 else sq.sum(dim=-1)
    loss = (full_weight * err).sum()
    if weak_weight is not None:
        loss = loss + loose_weight * (weak_weight * err).sum()
    return loss


def joint_angle_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Geodesic angle per joint, ‖log(R_pred R_gtᵀ)‖ in radians (official ``joint_angle_error``).

    Args:
        pred: (..., 3, 3) rotation matrices.
        gt: (..., 3, 3) rotation matrices.
    Returns:
        (...) angles in [0, π].
    """
    return torch.linalg.norm(rotmat_to_axis_angle(pred @ gt.transpose(-1, -2)), dim=-1)


@dataclass(frozen=True)
class TALSMasks:
    """Per-item weights chosen by TALS. ``full`` gets weight 1, ``weak`` gets α; each is (B, N) float."""

    full: torch.Tensor
    weak: torch.Tensor


def tals_keypoint_2d_masks(
    pred: torch.Tensor, gt: torch.Tensor, thresholds: torch.Tensor, has_3d_gt: torch.Tensor | None = None
) -> TALSMasks:
    """Split 2D keypoints into above-threshold (full loss) and within-threshold (α loss).

    The error is the official ``conf · Σ_xy (pred − gt)²`` in crop-normalised units, compared with a
    per-keypoint threshold; a keypoint is "full" when its error is strictly larger. Samples with real 3D ground
    truth keep the full loss on every keypoint (the paper's L_GT; upstream's code also loosened their 2D loss).

    Args:
        pred: (B, N, 2) predicted keypoints.
        gt: (B, N, 3) ground truth with confidence.
        thresholds: (N,) squared-error thresholds.
        has_3d_gt: (B,) 1 where the sample is real 3D ground truth, or None (every sample is pseudo-GT).
    Returns:
        ``TALSMasks`` with ``full = conf·([err > t] ∨ 3D)`` and ``weak = conf·¬([err > t] ∨ 3D)``, both (B, N).
    """
    conf = gt[..., 2]
    err = conf * ((pred.detach() - gt[..., :2]) ** 2).sum(dim=-1)
    above = err > thresholds.to(err)[None, :]
    if has_3d_gt is not None:
        above = above | (has_3d_gt[:, None] > 0)
    above_f = above.to(conf.dtype)
    return TALSMasks(full=conf * above_f, weak=conf * (1.0 - above_f))


def tals_pose_masks(
    pred: torch.Tensor,
    gt: torch.Tensor,
    thresholds: torch.Tensor,
    has_gt: torch.Tensor,
    has_3d_gt: torch.Tensor,
) -> TALSMasks:
    """Split joints into above-threshold (full) and within-threshold (α) by their geodesic error.

    Args:
        pred: (B, J, 3, 3) predicted rotation matrices.
        gt: (B, J, 3, 3) (pseudo-)ground-truth rotation matrices.
        thresholds: (J,) angle thresholds in radians.
        has_gt: (B,) 1 where the sample has a pose annotation.
        has_3d_gt: (B,) 1 where it is real 3D ground truth: every joint gets the full loss.
    Returns:
        ``TALSMasks`` (B, J): ``full = has·([angle > t] ∨ 3D)`` and ``weak = has·¬full``.
    """
    angle = joint_angle_error(pred.detach().float(), gt.float())
    above = angle > thresholds.to(angle)[None, :]
    has = has_gt[:, None] > 0
    # Upstream ORs the 3D flag in after masking by has_gt, supervising a missing annotation; we keep has_gt.
    full = (above | (has_3d_gt[:, None] > 0)) & has
    weak = (~full) & has
    return TALSMasks(full=full.to(pred.dtype), weak=weak.to(pred.dtype))

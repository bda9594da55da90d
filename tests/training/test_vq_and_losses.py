"""VQ maths and training losses against hand-computed values."""

from __future__ import annotations

import math

import torch

from backend.geometry import axis_angle_to_rotmat as axis_angle_to_matrix
from backend.models import QuantizeEMAReset
from training import (
    codebook_usage,
    keypoint_2d_loss,
    keypoint_3d_loss,
    parameter_loss,
    tals_keypoint_2d_masks,
    tals_pose_masks,
    tokenizer_losses,
)
from training.losses import joint_angle_error


def _close(actual: torch.Tensor | float, expected: float, tol: float = 1e-6) -> None:
    value = float(actual.detach()) if isinstance(actual, torch.Tensor) else float(actual)
    assert abs(value - expected) <= tol, f"expected {expected}, got {value}"


def _quantizer(code_sum: torch.Tensor, code_count: torch.Tensor) -> QuantizeEMAReset:
    q = QuantizeEMAReset(code_sum.shape[0], code_sum.shape[1], mu=0.9)
    q.code_sum.copy_(code_sum)
    q.code_count.copy_(code_count)
    q.codebook.copy_(code_sum / code_count[:, None])
    q.initialized.fill_(True)
    return q


def test_ema_update_matches_hand_computation() -> None:
    """The backend quantizer's EMA step, which the tokenizer training runs, against hand-worked numbers."""
    q = _quantizer(torch.tensor([[2.0, 2.0], [0.5, 0.5], [4.0, 0.0]]), torch.tensor([2.0, 1.0, 1.0]))
    x = torch.tensor([[1.0, 3.0], [0.0, 2.0], [5.0, 5.0], [4.4, 0.2]])
    idx = q.quantize(x)
    # codes (1,1), (0.5,0.5), (4,0): squared distances (4, 6.5, 18), (2, 2.5, 20), (32, 40.5, 26), (11.6, 15.3, 0.2)
    assert idx.tolist() == [0, 0, 2, 2], f"expected nearest codes [0, 0, 2, 2], got {idx.tolist()}"
    q.update_codebook(x, idx)
    # code 0: sum 0.9·(2,2) + 0.1·(1,5) = (1.9,2.3), count 0.9·2 + 0.1·2 = 2.0 → code (0.95, 1.15)
    # code 2: sum 0.9·(4,0) + 0.1·(9.4,5.2) = (4.54,0.52), count 0.9 + 0.2 = 1.1 → code (4.1273, 0.4727)
    expected_count = torch.tensor([2.0, 0.9, 1.1])
    assert torch.allclose(q.code_count, expected_count, atol=1e-6), f"expected {expected_count}, got {q.code_count}"
    assert torch.allclose(q.codebook[0], torch.tensor([0.95, 1.15]), atol=1e-6), f"code 0: got {q.codebook[0]}"
    expected2 = torch.tensor([4.54 / 1.1, 0.52 / 1.1])
    assert torch.allclose(q.codebook[2], expected2, atol=1e-5), f"code 2: expected {expected2}, got {q.codebook[2]}"


def test_dead_code_is_reset_to_a_batch_vector() -> None:
    """Code 1's EMA count falls to 0.9 < 1, so it is replaced by a vector of the current batch."""
    q = _quantizer(torch.tensor([[2.0, 2.0], [0.5, 0.5], [4.0, 0.0]]), torch.tensor([2.0, 1.0, 1.0]))
    x = torch.tensor([[1.0, 3.0], [0.0, 2.0], [5.0, 5.0], [4.4, 0.2]])
    q.update_codebook(x, q.quantize(x))
    distance = torch.cdist(q.codebook[1:2], x).min()
    assert float(distance) < 1e-6, f"dead code should equal a batch vector, distance {float(distance)}"
    assert not torch.allclose(q.codebook[1], torch.tensor([0.5, 0.5])), "dead code kept its old value"


def test_quantizer_forward_losses_and_straight_through() -> None:
    q = _quantizer(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([1.0, 1.0])).eval()
    latent = torch.tensor([[[0.2, 0.9], [0.1, 1.2]]], requires_grad=True)  # (B=1, D=2, T=2)
    quantized, commit, ppl = q(latent)
    # token 0 = (0.2, 0.1) → code 0, token 1 = (0.9, 1.2) → code 1;
    # squared errors 0.04 + 0.01 + 0.01 + 0.04 → mean 0.025
    value = float(commit.detach())
    assert abs(value - 0.025) < 1e-6, f"expected commitment loss 0.025, got {value}"
    assert abs(float(ppl) - 2.0) < 1e-4, f"two codes used once each: expected perplexity 2, got {float(ppl)}"
    expected = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    assert torch.allclose(quantized.detach(), expected), f"expected {expected}, got {quantized}"
    quantized.sum().backward()
    assert torch.equal(latent.grad, torch.ones_like(latent)), f"straight-through gradient must be 1, got {latent.grad}"


def test_codebook_usage() -> None:
    _close(codebook_usage(torch.tensor([[0, 1], [1, 3]]), 8), 3 / 8)


def test_tokenizer_losses_are_l1_means() -> None:
    pose_gt = torch.eye(3).expand(1, 21, 3, 3).clone()
    pose_pred = pose_gt.clone()
    pose_pred[0, 0, 0, 0] = 0.5  # one entry off by 0.5 over 189 entries
    joints_gt = torch.zeros(1, 2, 3)
    joints_pred = torch.tensor([[[0.1, 0.0, 0.0], [0.0, -0.2, 0.3]]])
    pose_l1, joints_l1 = tokenizer_losses(pose_pred, pose_gt, joints_pred, joints_gt)
    _close(pose_l1, 0.5 / 189)
    _close(joints_l1, 0.6 / 6)


def test_keypoint_losses_hand_values() -> None:
    pred = torch.tensor([[[0.1, 0.2], [0.0, 0.0]]])
    gt = torch.tensor([[[0.0, 0.0, 1.0], [0.5, -0.5, 0.5]]])
    # |Δ| = (0.1+0.2)·1 + (0.5+0.5)·0.5 = 0.8
    _close(keypoint_2d_loss(pred, gt), 0.8)
    weak = torch.tensor([[0.0, 2.0]])
    _close(keypoint_2d_loss(pred, gt, weak, loose_weight=0.01), 0.8 + 0.01 * 2.0 * 1.0)
    pred3 = torch.zeros(1, 40, 3)
    pred3[0, 0] = torch.tensor([1.0, 0.0, 0.0])
    gt3 = torch.zeros(1, 40, 4)
    gt3[..., 3] = 1.0
    gt3[0, 39, :3] = torch.tensor([0.0, 0.0, 2.0])  # gt pelvis moved: pelvis alignment must remove it...
    gt3[0, :, 2] += 2.0  # ...so shift every gt joint by the same amount
    gt3[0, 39, 2] = 2.0
    # after alignment only joint 0 differs, by (1, 0, 0): loss 1
    _close(keypoint_3d_loss(pred3, gt3, pelvis_index=39), 1.0)


def test_tals_2d_below_and_above_threshold() -> None:
    gt = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])
    pred = torch.tensor([[[0.05, 0.0], [0.2, 0.0], [0.3, 0.0]]])
    thresholds = torch.tensor([0.01, 0.01, 0.01])
    # errors: 0.0025 (≤ 0.01: weak), 0.04 (> 0.01: full), conf 0 → neither
    masks = tals_keypoint_2d_masks(pred, gt, thresholds)
    assert masks.full.tolist() == [[0.0, 1.0, 0.0]], f"expected full [[0,1,0]], got {masks.full.tolist()}"
    assert masks.weak.tolist() == [[1.0, 0.0, 0.0]], f"expected weak [[1,0,0]], got {masks.weak.tolist()}"
    gt_full = torch.cat([gt[..., :2], masks.full[..., None]], -1)
    loss = keypoint_2d_loss(pred, gt_full, masks.weak, loose_weight=0.01)
    _close(loss, 0.2 + 0.01 * 0.05)
    # the same keypoints of a 3D-GT sample (second row) all keep the full loss; the p-GT row is unchanged
    two = tals_keypoint_2d_masks(pred.expand(2, 3, 2), gt.expand(2, 3, 3), thresholds, torch.tensor([0.0, 1.0]))
    assert two.full.tolist() == [[0, 1, 0], [1, 1, 0]], f"expected full [[0,1,0],[1,1,0]], got {two.full.tolist()}"
    assert two.weak.tolist() == [[1, 0, 0], [0, 0, 0]], f"expected weak [[1,0,0],[0,0,0]], got {two.weak.tolist()}"


def test_tals_pose_masks_and_loss() -> None:
    angles = torch.tensor([[0.1, 0.5], [0.1, 0.5], [0.1, 0.5]])
    axis = torch.zeros(3, 2, 3)
    axis[..., 2] = angles
    gt = torch.eye(3).expand(3, 2, 3, 3).clone()
    pred = axis_angle_to_matrix(axis)
    thresholds = torch.tensor([0.3, 0.3])
    has_gt = torch.tensor([1.0, 1.0, 0.0])
    has_3d = torch.tensor([0.0, 1.0, 0.0])
    masks = tals_pose_masks(pred, gt, thresholds, has_gt, has_3d)
    # sample 0 (pseudo-GT): joint 0 within threshold → weak, joint 1 above → full
    # sample 1 (3D GT): both full; sample 2 (no GT): nothing
    assert masks.full.tolist() == [[0, 1], [1, 1], [0, 0]], f"full mask wrong: {masks.full.tolist()}"
    assert masks.weak.tolist() == [[1, 0], [0, 0], [0, 0]], f"weak mask wrong: {masks.weak.tolist()}"
    # squared Frobenius error of a z-rotation by θ against identity: 4(1 − cos θ)
    e = lambda t: 4 * (1 - math.cos(t))  # noqa: E731
    loss = parameter_loss(pred, gt, masks.full, masks.weak, loose_weight=0.01)
    _close(loss, e(0.5) + e(0.1) + e(0.5) + 0.01 * e(0.1), 1e-5)


def test_parameter_loss_flat_betas() -> None:
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    gt = torch.tensor([[0.0, 0.0], [3.0, 3.0]])
    _close(parameter_loss(pred, gt, torch.tensor([1.0, 0.0])), 5.0)


def test_joint_angle_error_matches_applied_angles() -> None:
    gen = torch.Generator().manual_seed(3)
    aa = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    r = axis_angle_to_matrix(aa)
    angle = joint_angle_error(r, torch.eye(3, dtype=torch.float64).expand(50, 3, 3))
    wrapped = torch.linalg.norm(aa, dim=-1) % (2 * math.pi)
    expected = torch.minimum(wrapped, 2 * math.pi - wrapped)
    assert torch.allclose(angle, expected, atol=1e-6), f"max angle error {float((angle - expected).abs().max())}"
    # relative rotation: R·Rz(0.3) against R is 0.3 whatever R is
    rz = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 0.3], dtype=torch.float64))
    rel = joint_angle_error(r @ rz, r)
    assert torch.allclose(rel, torch.full((50,), 0.3, dtype=torch.float64), atol=1e-6), f"got {rel[:3]}"

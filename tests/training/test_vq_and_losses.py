"""VQ maths and training losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from training import (
    codebook_usage,
    ema_codebook_update,
    keypoint_2d_loss,
    keypoint_3d_loss,
    nearest_codes,
    parameter_loss,
    perplexity,
    random_codes_from_batch,
    reset_dead_codes,
    straight_through,
    tals_keypoint_2d_masks,
    tals_pose_masks,
    tokenizer_losses,
    vq_losses,
)
from training._rotations import axis_angle_to_matrix, geodesic_angle, matrix_to_rot6d, rot6d_to_matrix


def _close(actual: torch.Tensor | float, expected: float, tol: float = 1e-6) -> None:
    value = float(actual.detach()) if isinstance(actual, torch.Tensor) else float(actual)
    assert abs(value - expected) <= tol, f"expected {expected}, got {value}"


def test_nearest_codes_picks_smallest_l2() -> None:
    codebook = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    x = torch.tensor([[0.9, 0.1], [0.1, 1.2], [-0.2, -0.3], [0.2, 0.9]])
    # distances² to codes: row0 → (0.82, 0.02, 3.62); row1 → (1.45, 2.25, 0.65); row3 → (0.85, 1.45, 1.25)
    idx = nearest_codes(x, codebook)
    assert idx.tolist() == [1, 2, 0, 0], f"expected [1, 2, 0, 0], got {idx.tolist()}"


def test_ema_update_matches_hand_computation() -> None:
    code_sum = torch.tensor([[2.0, 2.0], [0.0, 0.0], [4.0, 0.0]])
    code_count = torch.tensor([2.0, 0.5, 1.0])
    x = torch.tensor([[1.0, 3.0], [3.0, 1.0], [5.0, 5.0]])
    idx = torch.tensor([0, 0, 2])
    new_sum, new_count = ema_codebook_update(code_sum, code_count, x, idx, mu=0.9)
    # code 0: 0.9·(2,2) + 0.1·(4,4) = (2.2, 2.2), count 0.9·2 + 0.1·2 = 2.0
    # code 1: 0.9·(0,0) = (0,0), count 0.45; code 2: 0.9·(4,0) + 0.1·(5,5) = (4.1, 0.5), count 1.0
    expected_sum = torch.tensor([[2.2, 2.2], [0.0, 0.0], [4.1, 0.5]])
    expected_count = torch.tensor([2.0, 0.45, 1.0])
    assert torch.allclose(new_sum, expected_sum, atol=1e-6), f"expected {expected_sum}, got {new_sum}"
    assert torch.allclose(new_count, expected_count, atol=1e-6), f"expected {expected_count}, got {new_count}"


def test_reset_dead_codes_replaces_only_dead_codes() -> None:
    code_sum = torch.tensor([[2.2, 2.2], [0.1, 0.0], [4.1, 0.5]])
    code_count = torch.tensor([2.0, 0.45, 1.0])
    random_codes = torch.tensor([[9.0, 9.0], [7.0, -7.0], [8.0, 8.0]])
    codebook, new_sum, new_count, alive = reset_dead_codes(code_sum, code_count, random_codes)
    expected = torch.tensor([[1.1, 1.1], [7.0, -7.0], [4.1, 0.5]])
    assert torch.allclose(codebook, expected, atol=1e-6), f"expected {expected}, got {codebook}"
    assert alive.tolist() == [True, False, True], f"expected alive [True, False, True], got {alive.tolist()}"
    # the reset code's statistics now describe the new code (sum = code, count = 1)
    assert torch.allclose(new_sum[1], torch.tensor([7.0, -7.0])), f"expected reset sum (7,-7), got {new_sum[1]}"
    assert new_count.tolist() == pytest.approx([2.0, 1.0, 1.0]), f"expected counts [2,1,1], got {new_count}"


def test_random_codes_tile_small_batches_with_noise() -> None:
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    codes = random_codes_from_batch(x, 6, gen)
    assert codes.shape == (6, 4), f"expected (6, 4), got {tuple(codes.shape)}"
    # every code is a batch vector plus noise of std 0.01/√4 = 0.005: within 0.05 of a row, but not equal
    dist = torch.cdist(codes, x).min(dim=1).values
    assert float(dist.max()) < 0.05, f"expected codes near batch rows, max distance {float(dist.max())}"
    assert float(dist.min()) > 0.0, "expected tiled codes to carry noise, found an exact copy"


def test_vq_losses_and_straight_through() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x_q = torch.tensor([[1.5, 2.0], [2.0, 4.0]], requires_grad=True)
    embed, commit = vq_losses(x, x_q)
    # squared differences 0.25, 0, 1, 0 → mean 0.3125 for both losses
    _close(embed, 0.3125)
    _close(commit, 0.3125)
    commit.backward()
    assert x_q.grad is None or float(x_q.grad.abs().sum()) == 0.0, "commitment loss must not reach the codebook"
    expected_grad = 2 * (x.detach() - x_q.detach()) / 4
    assert torch.allclose(x.grad, expected_grad), f"expected grad {expected_grad}, got {x.grad}"
    st = straight_through(x, x_q)
    assert torch.equal(st.detach(), x_q.detach()), f"straight-through value must equal x_q, got {st}"
    x.grad = None
    st.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x)), f"straight-through gradient must be 1, got {x.grad}"


def test_perplexity_and_usage() -> None:
    _close(perplexity(torch.tensor([0, 0, 0, 0]), 4), 1.0, 1e-5)
    _close(perplexity(torch.tensor([0, 1, 2, 3]), 4), 4.0, 1e-4)
    _close(perplexity(torch.tensor([0, 0, 1, 1]), 4), 2.0, 1e-4)
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


def test_rotation_helpers_round_trip_and_angle() -> None:
    gen = torch.Generator().manual_seed(3)
    aa = torch.randn(50, 3, generator=gen)
    r = axis_angle_to_matrix(aa)
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(r)), r, atol=1e-5), "6D round trip failed"
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand(50, 3, 3), atol=1e-5), "not orthonormal"
    angle = geodesic_angle(r, torch.eye(3).expand(50, 3, 3))
    wrapped = torch.linalg.norm(aa, dim=-1) % (2 * math.pi)
    expected = torch.minimum(wrapped, 2 * math.pi - wrapped)
    assert torch.allclose(angle, expected, atol=1e-4), f"max angle error {float((angle - expected).abs().max())}"
    # rows convention: the 6D vector is the first two rows
    assert torch.equal(matrix_to_rot6d(r)[0, :3], r[0, 0]), "6D must hold the first row first"

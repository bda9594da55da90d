"""Threshold analysis on synthetic bodies with known cameras, and the thresholds file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares

from training import TALSThresholds, default_thresholds, load_thresholds, save_thresholds
from backend.geometry import axis_angle_to_rotmat as axis_angle_to_matrix
from training.thresholds import (
    HMR_CROP_PX,
    HMR_FOCAL_PX,
    fit_hmr_translation,
    hmr_camera_keypoint_errors,
    joint_angle_errors,
    thresholds_from_errors,
    thresholds_from_npz,
)


def _bodies(n: int, depth_spread: float, seed: int = 0) -> np.ndarray:
    """(n, 44, 3) keypoints of a 1.7 m tall 'body' 4 m in front of the camera, depth spread ± depth_spread."""
    rng = np.random.default_rng(seed)
    pts = np.stack(
        [
            rng.uniform(-0.4, 0.4, (n, 44)),
            rng.uniform(-0.85, 0.85, (n, 44)),
            rng.uniform(-1, 1, (n, 44)) * depth_spread,
        ],
        -1,
    )
    pts[..., 0] += rng.uniform(-0.5, 0.5, (n, 1))
    pts[..., 2] += 4.0
    return pts


def test_hmr_camera_reproduces_a_matching_camera_exactly() -> None:
    joints = _bodies(8, 0.3)
    # a true camera whose focal, for the crop, equals the HMR focal: f_px / box_size = 5000 / 256,
    # principal point at the crop centre → the HMR camera can explain the image exactly
    box_size = np.full(8, 512.0)
    focal = HMR_FOCAL_PX / HMR_CROP_PX * box_size
    principal = np.tile([[640.0, 360.0]], (8, 1))
    err = hmr_camera_keypoint_errors(joints, focal, principal, box_center=principal, box_size=box_size)
    assert err.max() < 1e-12, f"expected zero error for a matching camera, got max {err.max()}"


def test_planar_body_has_no_camera_error_for_any_focal() -> None:
    joints = _bodies(6, 0.0)  # every keypoint at the same depth: perspective is a similarity
    err = hmr_camera_keypoint_errors(joints, np.full(6, 600.0), np.tile([[320.0, 240.0]], (6, 1)))
    assert err.max() < 1e-12, f"expected zero error for a fronto-parallel body, got max {err.max()}"


def test_known_camera_error_matches_an_independent_fit() -> None:
    joints = _bodies(4, 0.4, seed=1)
    focal = np.array([500.0, 800.0, 1500.0, 3000.0])
    principal = np.tile([[320.0, 240.0]], (4, 1))
    err = hmr_camera_keypoint_errors(joints, focal, principal)
    # independent reference: scipy's nonlinear least squares over the translation, from the same target
    uv = focal[:, None, None] * joints[..., :2] / joints[..., 2:3] + principal[:, None, :]
    lo, hi = uv.min(1), uv.max(1)
    center = (lo + hi) / 2
    size = 1.2 * np.maximum(hi[:, 1] - lo[:, 1], (hi[:, 0] - lo[:, 0]) * 256 / 192)
    f = HMR_FOCAL_PX / HMR_CROP_PX
    for i in range(4):
        target = (uv[i] - center[i]) / size[i]

        def residual(t: np.ndarray, i: int = i, target: np.ndarray = target) -> np.ndarray:
            p = joints[i] + t
            return (f * p[:, :2] / p[:, 2:3] - target).ravel()

        sol = least_squares(residual, x0=np.array([0.0, 0.0, 40.0]), xtol=1e-14, ftol=1e-14, gtol=1e-14)
        ref = (sol.fun.reshape(44, 2) ** 2).sum(-1)
        assert np.allclose(err[i], ref, rtol=1e-5, atol=1e-12), f"sample {i}: ours {err[i][:4]} vs scipy {ref[:4]}"
    # the same body nearer the camera (stronger perspective) leaves a larger error under the HMR camera, which
    # behaves like a camera ~40 m away (normalised focal 5000/256); the focal length itself does not matter
    body = _bodies(1, 0.4, seed=3)[0] - np.array([0.0, 0.0, 4.0])
    distances = np.array([2.0, 4.0, 8.0, 16.0])
    near_far = body[None] + np.stack([np.zeros(4), np.zeros(4), distances], -1)[:, None, :]
    totals = hmr_camera_keypoint_errors(near_far, np.full(4, 1000.0), principal).sum(axis=1)
    assert np.all(np.diff(totals) < 0), f"expected the error to fall with distance {distances}, got {totals}"
    same_body_other_focal = hmr_camera_keypoint_errors(near_far, np.full(4, 3000.0), principal).sum(axis=1)
    assert np.allclose(totals, same_body_other_focal, rtol=1e-6), "crop-normalised error must not depend on focal"


def test_fit_translation_recovers_a_known_translation() -> None:
    joints = _bodies(3, 0.3, seed=2) - np.array([0, 0, 4.0])
    t_true = np.array([[0.1, -0.2, 40.0], [0.0, 0.3, 35.0], [-0.2, 0.0, 50.0]])
    f = HMR_FOCAL_PX / HMR_CROP_PX
    p = joints + t_true[:, None]
    target = f * p[..., :2] / p[..., 2:3]
    t = fit_hmr_translation(joints, target, f)
    assert np.allclose(t, t_true, atol=1e-6), f"expected {t_true}, got {t}"


def test_pose_thresholds_from_known_angle_errors() -> None:
    n = 5
    gt = axis_angle_to_matrix(torch.zeros(n, 23, 3, dtype=torch.float64))
    angles = torch.linspace(0.05, 0.6, 23, dtype=torch.float64)
    aa = torch.zeros(n, 23, 3, dtype=torch.float64)
    aa[..., 0] = angles
    errors = joint_angle_errors(axis_angle_to_matrix(aa), gt)
    assert torch.allclose(errors, angles.expand(n, 23), atol=1e-9), "geodesic errors must equal the applied angles"
    thr = thresholds_from_errors(np.full((n, 44), 0.01), errors.numpy(), np.full((n, 1), 0.3), pose_scale=0.8)
    assert thr.body_pose == pytest.approx(tuple(0.8 * angles.numpy())), f"got {thr.body_pose}"
    assert thr.global_orient == pytest.approx((0.3,)), f"global orient is not scaled, got {thr.global_orient}"
    assert thr.keypoints_2d == pytest.approx((0.01,) * 44)


def test_thresholds_file_round_trip_and_errors(tmp_path: Path) -> None:
    thr = default_thresholds()
    assert len(thr.keypoints_2d) == 44 and len(thr.body_pose) == 23, "official thresholds have 44 and 23 values"
    assert thr.body_pose[0] == pytest.approx(0.273709 * 0.8), f"official body pose ×0.8, got {thr.body_pose[0]}"
    path = tmp_path / "t.json"
    save_thresholds(thr, path)
    assert load_thresholds(path) == thr, "thresholds changed in a save/load round trip"
    data = json.loads(path.read_text())
    data["body_pose"] = data["body_pose"][:5]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="'body_pose' must be a list of 23"):
        load_thresholds(path)
    assert isinstance(thr, TALSThresholds)


def test_thresholds_from_npz(tmp_path: Path) -> None:
    n = 4
    joints = _bodies(n, 0.3)
    eye = np.tile(np.eye(3), (n, 23, 1, 1))
    path = tmp_path / "analysis.npz"
    np.savez(
        path, keypoints_3d_cam=joints, focal_px=np.full(n, 1000.0), principal_px=np.tile([[320.0, 240.0]], (n, 1)),
        pred_body_pose=eye, gt_body_pose=eye, pred_global_orient=eye[:, :1], gt_global_orient=eye[:, :1],
    )
    thr = thresholds_from_npz(path)
    assert all(v > 1e-9 for v in thr.keypoints_2d), "a 1000 px camera with depth must leave non-zero 2D error"
    assert max(thr.body_pose) <= 1e-11, f"identical poses must give ~0 pose thresholds, got {max(thr.body_pose)}"
    np.savez(tmp_path / "bad.npz", keypoints_3d_cam=joints)
    with pytest.raises(ValueError, match="missing key"):
        thresholds_from_npz(tmp_path / "bad.npz")


def test_thresholds_command_writes_a_file_training_reads(tmp_path: Path) -> None:
    from training.thresholds import main

    n = 3
    eye = np.tile(np.eye(3), (n, 23, 1, 1))
    np.savez(
        tmp_path / "a.npz", keypoints_3d_cam=_bodies(n, 0.3), focal_px=np.full(n, 800.0),
        principal_px=np.tile([[320.0, 240.0]], (n, 1)), pred_body_pose=eye, gt_body_pose=eye,
        pred_global_orient=eye[:, :1], gt_global_orient=eye[:, :1],
    )
    assert main(["--input", str(tmp_path / "a.npz"), "--out", str(tmp_path / "t.json"), "--statistic", "p90"]) == 0
    thr = load_thresholds(tmp_path / "t.json")
    assert len(thr.keypoints_2d) == 44 and "a.npz" in thr.source, f"unexpected file content {thr}"

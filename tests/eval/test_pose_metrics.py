from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.eval.pose_metrics import (
    acceleration_error,
    align_by_pelvis,
    jitter,
    mpjpe,
    mve,
    pa_mpjpe,
    pck,
    procrustes_align,
)


def test_mpjpe_hand_computed():
    gt = np.zeros((1, 2, 3))
    pred = np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(mpjpe(pred, gt), [3.0], atol=1e-12)  # (5 + 1) / 2


def test_align_by_pelvis_uses_mid_hips():
    joints = np.zeros((1, 14, 3))
    joints[0, 2] = [1.0, 0.0, 0.0]
    joints[0, 3] = [3.0, 2.0, 0.0]
    out = align_by_pelvis(joints)
    np.testing.assert_allclose(out[0, 0], [-2.0, -1.0, 0.0], atol=1e-12)


def test_procrustes_recovers_similarity_transform():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 14, 3))
    rot = Rotation.from_rotvec(rng.normal(size=(4, 3))).as_matrix()
    pred = 0.7 * np.einsum("nik,njk->nji", rot, gt) + rng.normal(size=(4, 1, 3))
    assert mpjpe(pred, gt).min() > 0.1
    np.testing.assert_allclose(pa_mpjpe(pred, gt), np.zeros(4), atol=1e-9)
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-9)


def test_pa_mpjpe_hand_computed():
    # gt: a unit cross; pred: the cross stretched 2x along x. By symmetry the best rotation is the identity and the
    # best scale is <gt, pred> / |pred|^2 = (2+2+1+1) / (4+4+1+1) = 0.6, so the aligned points are (±1.2, 0, 0) and
    # (0, ±0.6, 0): errors 0.2, 0.2, 0.4, 0.4, mean 0.3. Shifting and rotating pred changes nothing.
    gt = np.array([[[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]]])
    pred = gt * np.array([2.0, 1.0, 1.0])
    assert pa_mpjpe(pred, gt)[0] == pytest.approx(0.3, abs=1e-12)
    np.testing.assert_allclose(procrustes_align(pred, gt)[0], [[1.2, 0, 0], [-1.2, 0, 0], [0, 0.6, 0], [0, -0.6, 0]],
                               atol=1e-12)
    moved = Rotation.from_euler("z", 40, degrees=True).apply(pred[0])[None] + np.array([3.0, -1.0, 2.0])
    assert pa_mpjpe(moved, gt)[0] == pytest.approx(0.3, abs=1e-12)
    # Without alignment: errors 1, 1, 0, 0 -> MPJPE 0.5.
    assert mpjpe(pred, gt)[0] == pytest.approx(0.5, abs=1e-12)


def test_mve_hand_computed():
    gt = np.zeros((2, 3, 3))
    pred = np.zeros((2, 3, 3))
    pred[0, 0] = [0.0, 3.0, 4.0]  # sample 0: errors 5, 0, 0 -> 5/3
    pred[1] += [1.0, 2.0, 2.0]  # sample 1: every vertex off by 3
    np.testing.assert_allclose(mve(pred, gt), [5.0 / 3.0, 3.0], atol=1e-12)


def test_procrustes_never_reflects():
    gt = np.random.default_rng(1).normal(size=(1, 10, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    # A mirror image cannot be aligned by a proper rotation: the error stays clearly above zero.
    assert pa_mpjpe(mirrored, gt)[0] > 0.05


def test_pck_counts_visible_only():
    gt = np.zeros((1, 3, 2))
    pred = np.array([[[0.04, 0.0], [0.2, 0.0], [5.0, 0.0]]])
    vis = np.array([[1, 1, 0]])
    assert pck(pred, gt, vis, threshold=0.05) == pytest.approx(0.5)
    assert pck(pred, gt, vis, threshold=0.05, scale=10.0) == pytest.approx(1.0)


def test_acceleration_error_hand_computed():
    t = np.arange(5, dtype=np.float64)
    gt = np.zeros((5, 1, 3))
    gt[:, 0, 0] = 2 * t  # constant velocity: zero acceleration
    pred = gt.copy()
    pred[2, 0, 0] += 1.0  # a one-frame bump: accelerations (0,1,0)->(1,-2,1) at frames 1,2,3
    assert acceleration_error(gt, gt) == pytest.approx(0.0)
    assert acceleration_error(pred, gt) == pytest.approx((1 + 2 + 1) / 3)


def test_jitter_of_a_cubic_is_constant_jerk():
    t = np.arange(6, dtype=np.float64)
    joints = np.zeros((6, 1, 3))
    joints[:, 0, 1] = t**3  # third difference of t^3 is 6
    assert jitter(joints, fps=10.0) == pytest.approx(6 * 1000.0)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"same shape"):
        mpjpe(np.zeros((1, 14, 3)), np.zeros((1, 24, 3)))

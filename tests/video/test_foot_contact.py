"""Foot contact detection and skate removal on a synthetic walker with known stance phases."""

from __future__ import annotations

import numpy as np

from backend.video import detect_foot_contacts, estimate_up, remove_foot_skating
from backend.video.skeleton import LEFT_FOOT, PELVIS, RIGHT_FOOT

FPS = 30.0


def _walker(n: int = 120):
    """Camera frame (y down), ground at y = 1.0, walking along +x at 1 m/s. Each foot: 20 frames planted, 10 frames
    swinging 0.5 m forward with a 12 cm arc, feet half a cycle apart. Returns joints (T, 24, 3), contact (T, 2)."""
    joints = np.zeros((n, 24, 3))
    contact = np.zeros((n, 2), dtype=bool)
    for side, (joint, phase) in enumerate([(LEFT_FOOT, 0), (RIGHT_FOOT, 15)]):
        x = -0.3 + 0.25 * (side == 1)
        for t in range(n):
            c = (t + phase) % 30
            if c < 20:
                contact[t, side] = True
                pos = np.array([x, 1.0, 5.0])
            else:
                s = (c - 20 + 1) / 10.0  # swing progress in (0, 1]
                pos = np.array([x + 0.5 * s, 1.0 - 0.12 * np.sin(np.pi * s), 5.0])
            if c == 29:
                x += 0.5
            joints[t, joint] = pos + np.array([0, 0, 0.1 * side])
    joints[:, PELVIS] = np.stack([joints[:, [LEFT_FOOT, RIGHT_FOOT], 0].mean(1), np.full(n, 0.1), np.full(n, 5.05)], 1)
    for k in range(24):  # other joints ride with the pelvis
        if k not in (PELVIS, LEFT_FOOT, RIGHT_FOOT):
            joints[:, k] = joints[:, PELVIS] + np.array([0, -0.02 * k, 0])
    return joints, contact


def test_up_vector_is_minus_y_in_the_camera_frame():
    joints, _ = _walker()
    up = estimate_up(joints)
    assert up[1] < -0.99, f"expected up ≈ (0, -1, 0) for an upright walker in camera axes, got {up}"


def test_contacts_match_stance_phases():
    joints, truth = _walker()
    got = detect_foot_contacts(joints, FPS)
    agree = (got == truth).mean()
    tp = (got & truth).sum()
    f1 = 2 * tp / (got.sum() + truth.sum())
    assert f1 >= 0.9 and agree >= 0.9, f"expected contact F1 and agreement >= 0.9, got F1 {f1:.3f}, {agree:.3f}"


def test_skate_removal_pins_planted_feet():
    joints, truth = _walker()
    n = len(joints)
    # The root translation drifts sideways and forwards (an HMR depth/translation error): feet skate.
    drift = np.stack([0.06 * np.sin(np.arange(n) / 9.0), np.zeros(n), 0.05 * np.cos(np.arange(n) / 13.0)], 1)
    transl = np.zeros((n, 3)) + drift
    skating = joints + drift[:, None, :]
    contacts = detect_foot_contacts(skating, FPS)

    def planted_motion(j):
        feet = j[:, [LEFT_FOOT, RIGHT_FOOT]]
        step = np.linalg.norm(feet[1:] - feet[:-1], axis=-1)
        both = truth[1:] & truth[:-1]
        return step[both].mean()

    recall = (contacts & truth).sum() / truth.sum()
    assert recall >= 0.8, f"expected >= 80 % of stance frames detected despite skating, got {recall:.2f}"
    before = planted_motion(skating)
    fixed_transl = remove_foot_skating(transl, skating, contacts)
    fixed = skating + (fixed_transl - transl)[:, None, :]
    after = planted_motion(fixed)
    assert before > 0.004, f"the drift should make planted feet move (got {before:.4f} m/frame)"
    assert after < before / 4, f"expected planted-foot motion cut >= 4x, got {before:.4f} -> {after:.4f} m/frame"
    # Height is kept (planar correction): the vertical component of the translation is unchanged.
    np.testing.assert_allclose(fixed_transl[:, 1], transl[:, 1], atol=1e-6)

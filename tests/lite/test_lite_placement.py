"""Placing the lite engine's skeleton in TokenHMR's full-image camera."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.body import KEYPOINT_NAMES, MANNEQUIN_JOINTS, SMPL_PARENTS
from backend.lite import (
    cam_crop_from_full,
    fit_translation,
    forward_kinematics,
    keypoints_44,
    make_skeleton,
    posed_markers,
    project_points,
)
from backend.vision import cam_crop_to_full, crop_box_square, focal_length_px

SKELETON = make_skeleton(MANNEQUIN_JOINTS, np.asarray(SMPL_PARENTS))


def _posed(rot0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    local = np.tile(np.eye(3), (24, 1, 1))
    local[0] = rot0
    joints, rot_global = forward_kinematics(local, SKELETON.joints_rest, SKELETON.parents)
    return joints, posed_markers(SKELETON, joints, rot_global)


def test_fit_translation_recovers_a_known_translation() -> None:
    joints, markers = _posed(Rotation.from_rotvec([np.pi, 0.3, 0.0]).as_matrix())
    image_wh = (640, 480)
    truth = np.array([0.4, -0.2, 12.0])
    pixels = project_points(markers[:33], truth, image_wh)
    weights = np.ones(33)
    weights[25:] = 0.0  # hidden legs must not matter
    t = fit_translation(markers[:33], pixels, weights, image_wh)
    np.testing.assert_allclose(t, truth, rtol=1e-8, atol=1e-8)
    # Principal point at the image centre, focal 5000/256 * max(W, H): the pelvis projects as TokenHMR's would.
    focal = float(focal_length_px(np.array(image_wh, float)))
    pelvis = joints[0] + truth
    expected = focal * pelvis[:2] / pelvis[2] + np.array([320.0, 240.0])
    np.testing.assert_allclose(project_points(joints[:1], truth, image_wh)[0], expected, atol=1e-9)


def test_fit_translation_rejects_too_few_points_and_bodies_behind_the_camera() -> None:
    _, markers = _posed(Rotation.from_rotvec([np.pi, 0.0, 0.0]).as_matrix())
    pixels = project_points(markers[:33], np.array([0.0, 0.0, 10.0]), (512, 512))
    weights = np.zeros(33)
    weights[:3] = 1.0
    with pytest.raises(ValueError, match="at least 4"):
        fit_translation(markers[:33], pixels, weights, (512, 512))
    # Pixels that only a body behind the camera explains (the body mirrored through the principal point).
    mirrored = 2 * np.array([256.0, 256.0]) - pixels
    with pytest.raises(ValueError, match="behind the camera"):
        fit_translation(markers[:33], mirrored, np.ones(33), (512, 512))


def test_cam_crop_is_the_inverse_of_cam_crop_to_full() -> None:
    image_wh = (1280, 720)
    box = np.array([400.0, 100.0, 620.0, 700.0])
    cam_t = np.array([-0.3, 0.25, 18.0])
    cam_crop = cam_crop_from_full(cam_t, box, image_wh)
    center, size = crop_box_square(box.astype(np.float32), image_wh)
    back = cam_crop_to_full(
        cam_crop[None], center[None].astype(np.float64), np.array([size], np.float64),
        np.array([image_wh], np.float64), focal_length_px(np.array([image_wh], np.float64)),
    )[0]  # fmt: skip
    np.testing.assert_allclose(back, cam_t, rtol=1e-6, atol=1e-6)
    assert cam_crop[0] > 0, f"scale must be positive, got {cam_crop}"


def test_keypoints_44_follow_the_official_layout() -> None:
    joints, markers = _posed(np.eye(3))
    kp = keypoints_44(joints, markers)
    index = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
    assert kp.shape == (44, 3), kp.shape
    np.testing.assert_allclose(kp[index["OP LShoulder"]], joints[16])
    np.testing.assert_allclose(kp[index["Right Wrist"]], joints[21])
    np.testing.assert_allclose(kp[index["OP MidHip"]], joints[0])
    # Rest pose, SMPL canonical (+x = the body's left): left keypoints at +x, the head top above the neck.
    assert kp[index["OP LEye"], 0] > 0 > kp[index["OP REye"], 0], (kp[index["OP LEye"]], kp[index["OP REye"]])
    assert kp[index["OP LBigToe"], 2] > kp[index["OP LHeel"], 2], "toes must be in front of the heel"
    assert kp[index["Top of Head (LSP)"], 1] > kp[index["Neck (LSP)"], 1] + 0.15, "head top too low"

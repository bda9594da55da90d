"""Camera maths against the official outputs (outputs.npz) and hand-worked values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from backend.vision import (
    cam_crop_to_cam_t,
    cam_crop_to_full,
    cam_t_from_pelvis,
    focal_length_px,
    pelvis_from_cam_t,
    perspective_projection,
)


@pytest.mark.parametrize("as_torch", [False, True])
def test_matches_official_camera(parity_fixture: Path, as_torch: bool) -> None:
    ref = np.load(parity_fixture / "outputs.npz")
    conv = torch.from_numpy if as_torch else np.asarray
    focal = focal_length_px(conv(ref["img_size"]))
    np.testing.assert_allclose(np.asarray(focal), ref["scaled_focal_length_per_image"], rtol=0, atol=0)
    full = cam_crop_to_full(conv(ref["pred_cam"]), conv(ref["box_center"]), conv(ref["box_size"]),
                            conv(ref["img_size"]), focal)
    np.testing.assert_allclose(np.asarray(full), ref["pred_cam_t_full"], rtol=1e-4, atol=1e-5)
    assert not np.allclose(ref["pred_cam_t_full"], ref["pred_cam_t_full_batch_max_focal"]), "fixture cases differ"
    cam_t = cam_crop_to_cam_t(conv(ref["pred_cam"]))
    np.testing.assert_allclose(np.asarray(cam_t), ref["pred_cam_t"], rtol=1e-4, atol=1e-5)
    kp2d = perspective_projection(conv(ref["pred_keypoints_3d"]), conv(ref["pred_cam_t"]),
                                  conv(ref["focal_length"]) / 256.0)
    np.testing.assert_allclose(np.asarray(kp2d), ref["pred_keypoints_2d"], rtol=1e-4, atol=1e-5)


def test_hand_worked_full_camera() -> None:
    # Box centred in a 1000x500 image, s = 1 on a 250 px box: tz = 2 f / 250 with f = 5000/256 * 1000.
    full = cam_crop_to_full(np.array([[1.0, 0.1, -0.2]]), np.array([[500.0, 250.0]]), np.array([250.0]),
                            np.array([[1000.0, 500.0]]), focal_length_px(np.array([[1000.0, 500.0]])))
    np.testing.assert_allclose(full, [[0.1, -0.2, 2 * 5000 / 256 * 1000 / 250]], rtol=1e-9)
    # Projecting a point on the optical axis lands on the principal point; off-axis scales by f / z.
    pts = np.array([[[0.0, 0.0, 0.0], [1.0, -2.0, 0.0]]])
    uv = perspective_projection(pts, np.array([[0.0, 0.0, 10.0]]), np.array([100.0]), np.array([[320.0, 240.0]]))
    np.testing.assert_allclose(uv, [[[320.0, 240.0], [330.0, 220.0]]])


def test_pelvis_round_trip() -> None:
    cam_t = np.array([[0.1, 0.2, 30.0]])
    j0 = np.array([[0.0, -0.23, 0.02]])
    pelvis = pelvis_from_cam_t(cam_t, j0)
    np.testing.assert_allclose(pelvis, [[0.1, -0.03, 30.02]])
    np.testing.assert_allclose(cam_t_from_pelvis(pelvis, j0), cam_t)

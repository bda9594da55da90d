"""Camera → Blender, pelvis = J0(β) + t, camera lens, frame rates, forward kinematics and root motion modes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from blender_addon.core import (
    BLENDER_CAMERA_ROTATION,
    SMPL_PARENTS,
    blender_camera_settings,
    bone_layout,
    camera_to_blender_points,
    fps_to_blender,
    ground_clearance,
    joint_positions_camera,
    pelvis_camera_positions,
    pelvis_trajectory,
)


def _rest_joints() -> np.ndarray:
    rng = np.random.default_rng(3)
    joints = np.zeros((24, 3))
    for j in range(1, 24):
        joints[j] = joints[SMPL_PARENTS[j]] + rng.normal(scale=0.1, size=3)
    return joints + [0.0, 0.2, 0.0]


def test_camera_points_map_to_blender_axes():
    pts = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, -2.0, 4.0]])
    got = camera_to_blender_points(pts)
    want = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0], [0.5, 4.0, 2.0]])
    assert np.abs(got - want).max() < 1e-15, f"camera→Blender: expected {want.tolist()}, got {got.tolist()}"


def test_blender_camera_rotation_looks_along_plus_y_with_z_up():
    forward = BLENDER_CAMERA_ROTATION @ [0, 0, -1]  # Blender cameras look down local -Z
    up = BLENDER_CAMERA_ROTATION @ [0, 1, 0]
    assert np.allclose(forward, [0, 1, 0]) and np.allclose(up, [0, 0, 1]), f"forward {forward}, up {up}"
    want = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    assert np.abs(BLENDER_CAMERA_ROTATION - want).max() < 1e-15


def test_pelvis_is_j0_plus_translation():
    j0 = np.array([0.003, -0.22, 0.028])
    t = np.array([[0.1, 0.2, 10.0], [0.0, 0.0, 5.0]])
    got = pelvis_camera_positions(j0, t)
    assert np.abs(got - (t + j0)).max() == 0, f"expected J0 + t, got {got}"
    with pytest.raises(ValueError, match=r"cam_t_full: expected shape \(T, 3\)"):
        pelvis_camera_positions(j0, np.zeros(3))


def test_projection_through_blender_camera_settings_matches_pinhole():
    # A point in the OpenCV frame projects to pixel (f x/z + W/2, f y/z + H/2); Blender's camera with
    # lens/sensor fitted to the long side must give the same pixel.
    w, h = 1280, 720
    f = 5000 / 256 * max(w, h)
    cam = blender_camera_settings(f, w, h)
    assert cam.sensor_fit == "HORIZONTAL"
    p_cv = np.array([0.3, -0.4, 12.0])
    u_cv = f * p_cv[0] / p_cv[2] + w / 2
    v_cv = f * p_cv[1] / p_cv[2] + h / 2
    p_cam_local = np.asarray(cam.rotation).T @ camera_to_blender_points(p_cv)  # Blender camera local
    px_per_mm = w / cam.sensor_width_mm
    u_b = cam.lens_mm * px_per_mm * p_cam_local[0] / -p_cam_local[2] + w / 2
    v_b = h / 2 - cam.lens_mm * px_per_mm * p_cam_local[1] / -p_cam_local[2]
    assert abs(u_b - u_cv) < 1e-9 and abs(v_b - v_cv) < 1e-9, f"pixel ({u_cv}, {v_cv}) vs Blender ({u_b}, {v_b})"
    portrait = blender_camera_settings(1000.0, 480, 640)
    assert portrait.sensor_fit == "VERTICAL" and abs(portrait.lens_mm - 1000 * 36 / 640) < 1e-12
    with pytest.raises(ValueError, match="positive focal length"):
        blender_camera_settings(0.0, 10, 10)


@pytest.mark.parametrize(
    "fps,want", [(30.0, (30, 1.0)), (29.97, (30, 1.001)), (30000 / 1001, (30, 1.001)), (23.976, (24, 1.001)),
                 (25.0, (25, 1.0)), (59.94, (60, 1.001))]
)
def test_fps_to_blender(fps, want):
    got = fps_to_blender(fps)
    assert got[0] == want[0] and abs(got[1] - want[1]) < 1e-12, f"{fps} fps: expected {want}, got {got}"


def test_fps_to_blender_odd_rate_is_exact():
    whole, base = fps_to_blender(12.5)
    assert abs(whole / base - 12.5) < 1e-9, f"12.5 fps gave {whole}/{base}"
    with pytest.raises(ValueError):
        fps_to_blender(0.0)


def test_forward_kinematics_zero_pose_and_root_rotation():
    rest = _rest_joints()
    t = np.array([[0.0, 0.0, 5.0], [1.0, 2.0, 3.0]])
    go = np.array([[0.0, 0.0, 0.0], [0.0, 0.7, 0.0]])
    bp = np.zeros((2, 23, 3))
    got = joint_positions_camera(go, bp, rest, np.asarray(SMPL_PARENTS), t)
    assert np.abs(got[0] - (rest + t[0])).max() < 1e-12, "zero pose: joints are rest + t"
    r = Rotation.from_rotvec(go[1]).as_matrix()
    want = (rest - rest[0]) @ r.T + rest[0] + t[1]  # the whole body rotates about the pelvis J0
    assert np.abs(got[1] - want).max() < 1e-12, f"root rotation about J0: error {np.abs(got[1] - want).max()}"


def test_forward_kinematics_elbow_bend_moves_only_the_forearm_chain():
    rest = _rest_joints()
    bp = np.zeros((1, 23, 3))
    bp[0, 17] = [0.0, 1.0, 0.0]  # right_elbow (joint 19 → body_pose index 18); left_elbow is 18 → index 17
    got = joint_positions_camera(np.zeros((1, 3)), bp, rest, np.asarray(SMPL_PARENTS), np.zeros((1, 3)))[0]
    r = Rotation.from_rotvec([0.0, 1.0, 0.0]).as_matrix()
    for j in (20, 22):  # left wrist and hand hang below the left elbow
        want = rest[18] + r @ (rest[j] - rest[18])
        assert np.abs(got[j] - want).max() < 1e-12, f"joint {j}: expected {want}, got {got[j]}"
    untouched = [j for j in range(24) if j not in (20, 22)]
    assert np.abs(got[untouched] - rest[untouched]).max() < 1e-12, "other joints must not move"


def test_root_motion_modes():
    rest = _rest_joints()
    frames = 10
    t = np.stack([np.linspace(0, 1, frames), np.full(frames, 0.5), np.linspace(4, 6, frames)], axis=1)
    go = np.tile([np.pi, 0, 0], (frames, 1))  # upright for a level camera
    joints = joint_positions_camera(go, np.zeros((frames, 23, 3)), rest, np.asarray(SMPL_PARENTS), t)
    head_rest, _ = bone_layout(rest)
    cam = pelvis_trajectory(joints, "camera", head_rest[0])
    want = camera_to_blender_points(rest[0] + t)
    assert np.abs(cam - want).max() < 1e-12, "camera mode: pelvis = M (J0 + t)"
    ground = pelvis_trajectory(joints, "ground_aligned", head_rest[0])
    lowest = camera_to_blender_points(joints)[..., 2].min(axis=1)
    assert abs(np.percentile(lowest - (cam[:, 2] - ground[:, 2]), 5)) < 1e-12, "ground at z=0"
    assert np.abs(ground[0, :2]).max() < 1e-12, f"ground_aligned starts above the origin, got {ground[0]}"
    travel = ground[-1, :2] - ground[0, :2]
    assert np.abs(travel - (cam[-1, :2] - cam[0, :2])).max() < 1e-12, "ground_aligned keeps horizontal travel"
    in_place = pelvis_trajectory(joints, "in_place", head_rest[0])
    assert np.abs(in_place[:, :2] - head_rest[0][:2]).max() < 1e-12, "in_place removes horizontal travel"
    assert np.abs(in_place[:, 2] - ground[:, 2]).max() < 1e-12, "in_place keeps the vertical motion"
    with pytest.raises(ValueError, match="root motion mode"):
        pelvis_trajectory(joints, "world", head_rest[0])
    # The soles, not the lowest joints, go on the floor: the lowest joint ends ground_clearance above z = 0.
    for mode in ("ground_aligned", "in_place"):
        lifted = pelvis_trajectory(joints, mode, head_rest[0], ground_clearance=0.07)
        base = pelvis_trajectory(joints, mode, head_rest[0])
        assert np.abs(lifted - base - [0.0, 0.0, 0.07]).max() < 1e-12, f"{mode}: lifted by the clearance"
    assert np.abs(pelvis_trajectory(joints, "camera", head_rest[0], ground_clearance=0.07) - cam).max() == 0.0


def test_ground_clearance_is_the_lowest_joint_above_the_soles():
    rest = _rest_joints()
    verts = np.concatenate([rest + [0.0, -0.03, 0.0], rest + [0.0, 0.05, 0.0]])  # soles 3 cm under every joint
    assert abs(ground_clearance(verts, rest) - 0.03) < 1e-12
    assert ground_clearance(rest + [0.0, 0.1, 0.0], rest) == 0.0, "never negative"


def test_bone_layout_points_bones_along_limbs():
    rest = _rest_joints()
    heads, tails = bone_layout(rest)
    c = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    assert np.abs(heads - rest @ c.T).max() < 1e-15, "heads are C · J"
    assert np.abs(tails[4] - heads[7]).max() < 1e-15, "left_knee points at left_ankle"
    assert np.all(np.linalg.norm(tails - heads, axis=1) > 1e-3), "no zero-length bones"

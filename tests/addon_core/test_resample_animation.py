"""Frame-rate resampling and person-result parsing into character keys."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from blender_addon.core import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    bone_layout,
    character_keys,
    check_joint_table,
    person_pose_from_json,
    quaternion_to_matrix,
    resample_track,
    source_brackets,
    stack_track,
)


def _wxyz(rot: Rotation) -> np.ndarray:
    xyzw = rot.as_quat()
    return np.concatenate([xyzw[..., 3:], xyzw[..., :3]], axis=-1)


def test_50_to_30_fps_keeps_timing():
    target, lower, upper, w = source_brackets(np.arange(0, 51), 50.0, 30.0)
    assert target[0] == 0 and target[-1] == 30, f"1 s of 50 fps should give frames 0..30, got {target[[0, -1]]}"
    src_time = (lower + w * (upper - lower)) / 50.0
    assert np.abs(src_time - target / 30.0).max() < 1e-12, "each target frame samples the same instant"


def test_resample_linear_motion_is_exact():
    frames = np.arange(10, 41)  # 1 s at 30 fps starting at frame 10
    angles = 0.05 * (frames - 10)
    quats = _wxyz(Rotation.from_rotvec(np.stack([np.zeros_like(angles), np.zeros_like(angles), angles], 1)))
    quats = np.repeat(quats[:, None], 2, axis=1)
    quats[::3, 1] *= -1  # sign noise must not matter
    locs = np.stack([frames * 0.1, np.zeros(frames.size), np.ones(frames.size)], axis=1)
    out = resample_track(frames, quats, locs, 30.0, 24.0)
    t = out.frames / 24.0
    assert out.frames[0] == 8 and out.frames[-1] == 32, f"24 fps grid over [10/30, 40/30]: got {out.frames[[0, -1]]}"
    want_angle = 0.05 * (t * 30.0 - 10)
    got_angle = Rotation.from_matrix(quaternion_to_matrix(out.quaternions[:, 1])).as_rotvec()[:, 2]
    err = np.abs(got_angle - want_angle).max()
    assert err < 1e-9, f"slerp on a constant-speed spin: expected error < 1e-9, got {err}"
    assert np.abs(out.locations[:, 0] - t * 30.0 * 0.1).max() < 1e-9, "linear locations"
    assert np.sum(out.quaternions[1:] * out.quaternions[:-1], axis=-1).min() > 0, "continuous output"


def test_resample_rejects_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        source_brackets(np.array([0, 2, 1]), 30.0, 24.0)
    with pytest.raises(ValueError, match=r"quaternions: expected shape \(3, J, 4\)"):
        resample_track(np.arange(3), np.zeros((3, 4)), np.zeros((3, 3)), 30.0, 24.0)


def _person(rng, t_z=5.0) -> dict:
    return {
        "engine": "tokenhmr",
        "bbox": [10.0, 20.0, 110.0, 320.0],
        "score": 0.9,
        "global_orient": [np.pi, 0.0, 0.0],
        "body_pose": rng.normal(scale=0.2, size=(23, 3)).tolist(),
        "betas": rng.normal(size=10).tolist(),
        "cam_crop": [1.0, 0.0, 0.0],
        "cam_t_full": [0.1, 0.2, t_z],
        "focal_length": 5000.0,
        "keypoints_2d": np.zeros((44, 2)).tolist(),
    }


def test_person_pose_from_json_checks_shapes():
    rng = np.random.default_rng(1)
    obj = _person(rng)
    p = person_pose_from_json(obj)
    assert p.body_pose.shape == (23, 3) and p.focal_length_px == 5000.0
    bad = dict(obj, body_pose=np.zeros((21, 3)).tolist())
    with pytest.raises(ValueError, match=r"frame 3 field 'body_pose': expected shape \(23, 3\), got \(21, 3\)"):
        person_pose_from_json(bad, where="frame 3")
    missing = {k: v for k, v in obj.items() if k != "cam_t_full"}
    with pytest.raises(ValueError, match="missing field 'cam_t_full'"):
        person_pose_from_json(missing)
    with pytest.raises(ValueError, match="NaN"):
        person_pose_from_json(dict(obj, global_orient=[float("nan"), 0, 0]))


def test_character_keys_from_a_track():
    rng = np.random.default_rng(2)
    points = [person_pose_from_json(_person(rng, t_z=4 + 0.1 * i)) for i in range(5)]
    track = stack_track([4, 2, 3, 0, 1], points)
    assert track.frames.tolist() == [0, 1, 2, 3, 4], f"sorted frames, got {track.frames}"
    assert abs(track.cam_t_full[0, 2] - 4.3) < 1e-12, "frame 0 is the fourth point (t_z 4.3)"
    rest = np.zeros((24, 3))
    for j in range(1, 24):
        rest[j] = rest[SMPL_PARENTS[j]] + rng.normal(scale=0.1, size=3)
    heads, _ = bone_layout(rest)
    r0 = Rotation.random(24, random_state=1).as_matrix()
    keys = character_keys(track, rest, np.asarray(SMPL_PARENTS), r0, heads[0], "camera")
    assert keys.quaternions.shape == (5, 24, 4) and keys.root_locations.shape == (5, 3)
    # Posed pelvis head = head_rest + R0 · loc = M (J0 + t).
    pelvis = heads[0] + keys.root_locations @ r0[0].T
    t = track.cam_t_full + rest[0]
    want = np.stack([t[:, 0], t[:, 2], -t[:, 1]], axis=1)
    assert np.abs(pelvis - want).max() < 1e-12, f"pelvis should be M (J0 + t), error {np.abs(pelvis - want).max()}"
    with pytest.raises(ValueError, match="frame numbers repeat"):
        stack_track([1, 1], points[:2])


def test_check_joint_table():
    check_joint_table(SMPL_JOINT_NAMES, SMPL_PARENTS)
    with pytest.raises(ValueError, match="joint_names"):
        check_joint_table(SMPL_JOINT_NAMES[::-1], SMPL_PARENTS)
    with pytest.raises(ValueError, match="parents"):
        check_joint_table(SMPL_JOINT_NAMES, [-1] + [0] * 23)

"""IK on synthetic poses: random valid SMPL-skeleton poses → forward kinematics → MediaPipe-layout landmarks → IK.

The generator draws every joint within its limit (80 % of each range). The torso follows the model the IK can
identify from 4 torso points (no spine flexion; one twist + side bend repeated over spine1..3; neck = head): see
``backend.lite.ik._solve_torso``. Everything the landmarks observe must come back within 3 degrees.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.body import MANNEQUIN_JOINTS, SMPL_PARENTS
from backend.lite import (
    JOINT_LIMITS_DEG,
    MP_LANDMARK_NAMES,
    clamp_local,
    forward_kinematics,
    joint_limits,
    make_skeleton,
    posed_markers,
    solve_ik,
    within_limits,
)
from backend.lite.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    rotation_angle_deg,
    swing_twist,
)

MP = {name: i for i, name in enumerate(MP_LANDMARK_NAMES)}
SKELETON = make_skeleton(MANNEQUIN_JOINTS, np.asarray(SMPL_PARENTS))
RESOLVED = joint_limits(SKELETON.joints_rest, SKELETON.parents)
TOLERANCE_DEG = 3.0

# Directions between landmarks that MediaPipe observes: limb bones, hand, foot and head frames, torso lines.
OBSERVED_PAIRS = (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_hip", "left_hip"),
    ("right_shoulder", "left_shoulder"), ("right_ear", "left_ear"), ("left_ear", "nose"),
    ("left_wrist", "left_index"), ("left_pinky", "left_index"), ("right_wrist", "right_index"),
    ("right_pinky", "right_index"), ("left_heel", "left_foot_index"), ("left_heel", "left_ankle"),
    ("right_heel", "right_foot_index"), ("right_heel", "right_ankle"),
)  # fmt: skip
# Joints whose rotation the landmarks determine exactly (limbs, hands, feet, pelvis).
OBSERVED_JOINTS = (0, 1, 2, 4, 5, 7, 8, 16, 17, 18, 19, 20, 21)


def random_pose(rng: np.random.Generator, frac: float = 0.8, min_bend_deg: float = 2.0) -> np.ndarray:
    """(24, 3, 3) local rotations within the joint limits; the body roughly faces the camera (OpenCV frame)."""
    local = np.tile(np.eye(3), (24, 1, 1))
    facing = Rotation.from_rotvec([np.pi, 0.0, 0.0]).as_matrix()  # SMPL y-up → camera y-down, facing the camera
    turn = rng.uniform([-0.4, -1.0, -0.3], [0.4, 1.0, 0.3])
    local[0] = facing @ axis_angle_to_matrix(turn)
    for j, limit in enumerate(JOINT_LIMITS_DEG):
        if j == 0:
            continue
        if limit.kind == "hinge":
            local[j] = axis_angle_to_matrix(RESOLVED.hinge_axes[j] * np.radians(rng.uniform(min_bend_deg, 140.0)))
        elif limit.kind == "box":
            aa = [rng.uniform(lo * frac, hi * frac) for lo, hi in limit.ranges_deg]
            local[j] = axis_angle_to_matrix(np.radians(aa))
        else:  # swing_twist
            bone = RESOLVED.bone_axes[j]
            free = [(lo, hi) == (-180.0, 180.0) for lo, hi in limit.ranges_deg]
            swing = np.radians(
                [0.0 if f else rng.uniform(lo * frac, hi * frac) for f, (lo, hi) in zip(free, limit.ranges_deg)]
            )
            swing -= (swing @ bone) * bone
            twist = np.radians(rng.uniform(limit.twist_deg[0] * frac, limit.twist_deg[1] * frac))
            local[j] = axis_angle_to_matrix(swing) @ axis_angle_to_matrix(bone * twist)
    spine = matrix_to_axis_angle(local[3])
    spine[0] = 0.0  # no spine flexion: 4 torso points cannot tell it from a pelvis tilt
    local[3] = local[6] = local[9] = axis_angle_to_matrix(spine)
    local[15] = local[12]  # the IK splits the head's rotation evenly over neck and head
    return local


def landmarks_of(local: np.ndarray) -> np.ndarray:
    joints, rot_global = forward_kinematics(local, SKELETON.joints_rest, SKELETON.parents)
    markers = posed_markers(SKELETON, joints, rot_global)[:33]
    return markers - 0.5 * (markers[MP["left_hip"]] + markers[MP["right_hip"]])  # MediaPipe: origin between hips


def direction_errors_deg(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    out = {}
    for p, q in OBSERVED_PAIRS:
        u, v = a[MP[q]] - a[MP[p]], b[MP[q]] - b[MP[p]]
        cos = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
        out[f"{p}->{q}"] = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    for x in (a, b):
        x_chord = x[MP["left_shoulder"]] + x[MP["right_shoulder"]] - x[MP["left_hip"]] - x[MP["right_hip"]]
        out.setdefault("_chords", []).append(x_chord / np.linalg.norm(x_chord))
    c1, c2 = out.pop("_chords")
    out["torso chord"] = float(np.degrees(np.arccos(np.clip(c1 @ c2, -1.0, 1.0))))
    return out


def test_rotation_helpers_match_scipy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        aa = rng.normal(size=3)
        aa *= rng.uniform(0.0, np.pi - 1e-3) / np.linalg.norm(aa)
        expected = Rotation.from_rotvec(aa).as_matrix()
        np.testing.assert_allclose(axis_angle_to_matrix(aa), expected, atol=1e-12)
        np.testing.assert_allclose(matrix_to_axis_angle(expected), aa, atol=1e-9)
    near_pi = np.array([0.0, np.pi - 1e-7, 0.0])
    back = matrix_to_axis_angle(axis_angle_to_matrix(near_pi))
    assert rotation_angle_deg(axis_angle_to_matrix(back), axis_angle_to_matrix(near_pi)) < 1e-4, back


def test_swing_twist_recomposes() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        rot = Rotation.random(random_state=rng.integers(1 << 31)).as_matrix()
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        swing, twist = swing_twist(rot, axis)
        assert abs(swing @ axis) < 1e-9, f"swing {swing} is not orthogonal to the twist axis {axis}"
        np.testing.assert_allclose(axis_angle_to_matrix(swing) @ axis_angle_to_matrix(axis * twist), rot, atol=1e-9)


def test_right_side_limits_mirror_the_left() -> None:
    left, right = JOINT_LIMITS_DEG[16], JOINT_LIMITS_DEG[17]  # shoulders
    assert right.ranges_deg[1] == (-left.ranges_deg[1][1], -left.ranges_deg[1][0]), (left, right)
    assert right.twist_deg == (-left.twist_deg[1], -left.twist_deg[0]), (left, right)
    # A mirrored pose is within the right limit exactly when the original is within the left one.
    rng = np.random.default_rng(3)
    mirror = np.diag([-1.0, 1.0, 1.0])
    for _ in range(100):
        rot = Rotation.from_rotvec(rng.uniform(-2.0, 2.0, size=3)).as_matrix()
        for lj, rj in ((16, 17), (1, 2), (20, 21), (18, 19), (4, 5), (7, 8), (12, 12), (3, 3)):
            mirrored = mirror @ rot @ mirror
            assert within_limits(lj, rot, RESOLVED) == within_limits(rj, mirrored, RESOLVED), (lj, rj, rot)


def test_hinges_never_bend_backwards_or_sideways() -> None:
    for j in (4, 5, 18, 19):
        axis = RESOLVED.hinge_axes[j]
        backwards = clamp_local(j, axis_angle_to_matrix(axis * np.radians(-40.0)), RESOLVED)
        assert rotation_angle_deg(backwards, np.eye(3)) < 1e-6, f"joint {j}: a backward bend must clamp to straight"
        too_far = clamp_local(j, axis_angle_to_matrix(axis * np.radians(175.0)), RESOLVED)
        limit = JOINT_LIMITS_DEG[j].ranges_deg[0][1]
        assert abs(rotation_angle_deg(too_far, np.eye(3)) - limit) < 1e-6, f"joint {j}: expected {limit} deg"
        side = np.cross(axis, RESOLVED.bone_axes[j])
        sideways = clamp_local(j, axis_angle_to_matrix(side * np.radians(30.0)), RESOLVED)
        assert rotation_angle_deg(sideways, np.eye(3)) < 1e-6, f"joint {j}: a sideways bend must be removed"
    # Anatomical direction: a flexed left elbow brings the forearm of the T-pose forward (+z), a knee the shank back.
    elbow = axis_angle_to_matrix(RESOLVED.hinge_axes[18] * np.radians(90.0))
    assert (elbow @ RESOLVED.bone_axes[18])[2] > 0.9, elbow @ RESOLVED.bone_axes[18]
    knee = axis_angle_to_matrix(RESOLVED.hinge_axes[4] * np.radians(90.0))
    assert (knee @ RESOLVED.bone_axes[4])[2] < -0.9, knee @ RESOLVED.bone_axes[4]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ik_recovers_observed_directions_within_3_degrees(seed: int) -> None:
    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    worst_joint = np.zeros(24)
    for _ in range(60):
        truth = random_pose(rng)
        landmarks = landmarks_of(truth)
        result = solve_ik(landmarks, SKELETON)
        for j in range(1, 24):
            assert within_limits(j, result.rot_local[j], RESOLVED), f"joint {j} outside its limit"
        errors = direction_errors_deg(landmarks, landmarks_of(result.rot_local))
        for key, value in errors.items():
            worst[key] = max(worst.get(key, 0.0), value)
        _, glob_truth = forward_kinematics(truth, SKELETON.joints_rest, SKELETON.parents)
        worst_joint = np.maximum(worst_joint, rotation_angle_deg(glob_truth, result.rot_global))
    bad = {k: round(v, 2) for k, v in worst.items() if v > TOLERANCE_DEG}
    assert not bad, f"directions off by more than {TOLERANCE_DEG} deg (worst per direction): {bad}"
    bad_joints = {j: round(float(worst_joint[j]), 2) for j in OBSERVED_JOINTS if worst_joint[j] > TOLERANCE_DEG}
    assert not bad_joints, f"global joint rotations off by more than {TOLERANCE_DEG} deg: {bad_joints}"


LONG_BONES = OBSERVED_PAIRS[:10]  # the 8 limb bones, the hip line and the shoulder line


def test_ik_with_landmark_noise_adds_no_error() -> None:
    """With 1 cm of landmark noise the limb bones and torso lines follow the noisy landmarks (no amplification:
    no flipped twist, no locked hinge), so their error against the truth is the landmarks' own."""
    rng = np.random.default_rng(7)
    to_noisy, to_truth, noise = [], [], []
    for _ in range(40):
        truth = random_pose(rng)
        landmarks = landmarks_of(truth)
        noisy = landmarks + rng.normal(scale=0.01, size=landmarks.shape)
        fitted = landmarks_of(solve_ik(noisy, SKELETON).rot_local)
        keys = [f"{p}->{q}" for p, q in LONG_BONES]
        to_noisy.extend(direction_errors_deg(noisy, fitted)[k] for k in keys)
        to_truth.extend(direction_errors_deg(landmarks, fitted)[k] for k in keys)
        noise.extend(direction_errors_deg(landmarks, noisy)[k] for k in keys)
    to_noisy = np.array(to_noisy)
    assert np.percentile(to_noisy, 95) < 1.0, (
        f"IK should follow the observed limb directions: 95th percentile {np.percentile(to_noisy, 95):.2f} deg, "
        "expected < 1 deg"
    )
    assert np.median(to_truth) <= np.median(noise) + 0.5, (np.median(to_truth), np.median(noise))


def test_hyperextended_elbow_is_clamped_to_straight() -> None:
    truth = np.tile(np.eye(3), (24, 1, 1))
    truth[0] = Rotation.from_rotvec([np.pi, 0.0, 0.0]).as_matrix()
    landmarks = landmarks_of(truth)
    # Bend the left forearm 25 degrees backwards (against the hinge) about the elbow.
    elbow = landmarks[MP["left_elbow"]]
    back = Rotation.from_rotvec(truth[0] @ RESOLVED.hinge_axes[18] * np.radians(-25.0)).as_matrix()
    for name in ("left_wrist", "left_index", "left_pinky", "left_thumb"):
        landmarks[MP[name]] = elbow + back @ (landmarks[MP[name]] - elbow)
    result = solve_ik(landmarks, SKELETON)
    flex = np.degrees(matrix_to_axis_angle(result.rot_local[18]) @ RESOLVED.hinge_axes[18])
    assert 0.0 <= flex <= JOINT_LIMITS_DEG[18].ranges_deg[0][1], f"left elbow flexion {flex:.1f} deg is out of range"
    off_hinge = np.linalg.norm(np.cross(matrix_to_axis_angle(result.rot_local[18]), RESOLVED.hinge_axes[18]))
    assert off_hinge < 1e-9, f"elbow rotation has a component off its hinge axis: {off_hinge}"


def test_solve_ik_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(33, 3\)"):
        solve_ik(np.zeros((32, 3)), SKELETON)
    bad = landmarks_of(np.tile(np.eye(3), (24, 1, 1)))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        solve_ik(bad, SKELETON)

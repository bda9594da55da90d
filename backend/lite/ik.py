"""Inverse kinematics: MediaPipe's 33 world landmarks → SMPL joint rotations (numpy, runs in the main env).

Every segment's orientation comes from two landmark directions, measured the same way on the observation and on
the rest skeleton's markers (``skeleton.py``): ``R_global = F(observed) @ F(rest)^T``, with ``F`` the orthonormal
frame of (primary, secondary) directions. Segments and their directions:

- pelvis: hip line (left hip - right hip), then the torso chord (mid-shoulders - mid-hips);
- pelvis pitch and spine: a small least-squares fit of the shoulder line and the chord (``_solve_torso``: no
  spine flexion, one twist + side bend repeated over spine1..3, since 4 torso points cannot tell a spine bend
  from a pelvis tilt);
- head: ear line, then nose - mid-ears; split evenly over neck and head;
- upper arm / thigh: the bone, twisted so that the elbow / knee flexes about its hinge in the observed bend
  plane. For a nearly straight limb (bend < ``STRAIGHT_LIMB_DEG``) the bend plane is noise, so the twist is
  blended towards the one the hand / foot shows (its frame carries the hinge axis as if the wrist / ankle were
  neutral);
- elbow / knee: a pure hinge rotation, the angle that best aligns the forearm / shank, clamped to the anatomical
  range, so a limb never bends backwards or sideways;
- hand: (index + pinky)/2 - wrist, then index - pinky; foot: toe - heel, then ankle - heel.

Collars, toes and the SMPL hand joints (fingers) are not observed and stay at rest. After each joint's desired
global rotation is known, its local rotation is taken relative to the parent *as already clamped*, then clamped
to its limit (``limits.py``), so errors do not compound silently down the chain.

Input frame: MediaPipe world landmarks are axis-aligned with the OpenCV camera (x right, y down, z forward), so
the pelvis rotation is the SMPL ``global_orient`` in the camera frame, as TokenHMR outputs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from backend.lite.limits import JOINT_LIMITS_DEG, ResolvedLimits, clamp_local, joint_limits
from backend.lite.rotations import axis_angle_to_matrix, frame_from_vectors, matrix_to_axis_angle, rotation_between
from backend.lite.skeleton import MP, Skeleton, forward_kinematics

__all__ = ["IKResult", "solve_ik", "STRAIGHT_LIMB_DEG"]

logger = logging.getLogger(__name__)

TORSO_PITCH_SEARCH_DEG = 90.0  # the pelvis pitch fit stays within this of the landmark frame's
TORSO_ITERATIONS = 30  # Levenberg-Marquardt steps of the torso fit (it converges in a handful)
STRAIGHT_LIMB_DEG = 6.0  # below this elbow / knee bend the limb's twist is taken (in part) from the hand / foot

_J = {
    "pelvis": 0, "left_hip": 1, "right_hip": 2, "spine1": 3, "left_knee": 4, "right_knee": 5, "spine2": 6,
    "left_ankle": 7, "right_ankle": 8, "spine3": 9, "neck": 12, "left_collar": 13, "right_collar": 14, "head": 15,
    "left_shoulder": 16, "right_shoulder": 17, "left_elbow": 18, "right_elbow": 19, "left_wrist": 20,
    "right_wrist": 21,
}  # fmt: skip


@dataclass(frozen=True)
class IKResult:
    """SMPL pose recovered from one set of landmarks.

    Attributes:
        global_orient: (3,) axis-angle of the pelvis, camera frame (OpenCV axes).
        body_pose: (23, 3) axis-angle of joints 1..23 relative to their parents, all within the joint limits.
        rot_local: (24, 3, 3) the same as matrices ([0] = global orientation).
        rot_global: (24, 3, 3) each joint's rotation from rest to the camera frame.
        joints: (24, 3) posed joints relative to the SMPL origin (add ``transl``), camera axes, metres.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    rot_local: np.ndarray
    rot_global: np.ndarray
    joints: np.ndarray


def _mid(x: np.ndarray, a: str, b: str) -> np.ndarray:
    return 0.5 * (x[MP[a]] + x[MP[b]])


def _frames(x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(primary, secondary) direction pairs of every segment, from 33 landmark positions (33, 3)."""
    chord = _mid(x, "left_shoulder", "right_shoulder") - _mid(x, "left_hip", "right_hip")
    out = {
        "pelvis": (x[MP["left_hip"]] - x[MP["right_hip"]], chord),
        "thorax": (x[MP["left_shoulder"]] - x[MP["right_shoulder"]], chord),
        "head": (x[MP["left_ear"]] - x[MP["right_ear"]], x[MP["nose"]] - _mid(x, "left_ear", "right_ear")),
    }
    for side in ("left", "right"):
        wrist = x[MP[f"{side}_wrist"]]
        index, pinky = x[MP[f"{side}_index"]], x[MP[f"{side}_pinky"]]
        out[f"{side}_hand"] = (0.5 * (index + pinky) - wrist, index - pinky)
        heel = x[MP[f"{side}_heel"]]
        out[f"{side}_foot"] = (x[MP[f"{side}_foot_index"]] - heel, x[MP[f"{side}_ankle"]] - heel)
    return out


def _segment_rotation(obs: tuple[np.ndarray, np.ndarray], rest: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    try:
        return frame_from_vectors(*obs) @ frame_from_vectors(*rest).T
    except ValueError:
        return None  # degenerate landmarks (coincident points): the caller keeps the joint at rest


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _twist_about(axis: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Signed angle (radians) about unit ``axis`` from ``a`` to ``b``, both projected orthogonal to it."""
    a = a - (a @ axis) * axis
    b = b - (b @ axis) * axis
    return float(np.arctan2(np.cross(a, b) @ axis, a @ b))


def _hinge_angle_to(g: np.ndarray, f0: np.ndarray, a0: np.ndarray) -> float:
    """Hinge angle about unit ``a0`` that turns rest direction ``f0`` closest to direction ``g`` (all local)."""
    f0 = _unit(f0 - (f0 @ a0) * a0)
    return float(np.arctan2(np.cross(a0, f0) @ g, f0 @ g))


def _limb_root(
    u: np.ndarray,
    f: np.ndarray,
    u0: np.ndarray,
    f0: np.ndarray,
    a0: np.ndarray,
    rot_end: np.ndarray | None,
) -> np.ndarray:
    """Global rotation (3, 3) of an upper arm / thigh.

    Args:
        u, f: observed upper and lower bone directions (camera frame).
        u0, f0: the same bones on the rest skeleton.
        a0: the hinge (elbow / knee) axis in rest, unit, orthogonal to ``f0``.
        rot_end: observed global rotation of the hand / foot, or None when it could not be measured.
    """
    u, f, u0 = _unit(u), _unit(f), _unit(u0)
    bend = float(np.arccos(np.clip(u @ f, -1.0, 1.0)))
    # Rest forearm after flexing by theta: f0 cos + (a0 x f0) sin. Pick theta on the flexion branch so the angle
    # between upper and lower bone equals the observed one (SMPL's rest limbs are not perfectly straight).
    f0u = _unit(f0 - (f0 @ a0) * a0)
    ca, cb = u0 @ f0u, u0 @ np.cross(a0, f0u)
    amp = np.hypot(ca, cb)
    theta = np.arctan2(cb, ca) + np.arccos(np.clip(np.cos(bend) / max(amp, 1e-9), -1.0, 1.0))
    w0 = f0u * np.cos(theta) + np.cross(a0, f0u) * np.sin(theta)
    rest_bend = float(np.arccos(np.clip(u0 @ w0, -1.0, 1.0)))

    rot_plane = None
    if np.sin(bend) > 1e-4 and np.sin(rest_bend) > 1e-4:
        rot_plane = frame_from_vectors(u, np.cross(u, f)) @ frame_from_vectors(u0, np.cross(u0, w0)).T
    rot_end_twist = None
    if rot_end is not None:
        ref = rot_end @ a0  # the hinge axis as the hand / foot carries it with a neutral wrist / ankle
        if np.linalg.norm(np.cross(u, ref)) > 1e-3:
            rot_end_twist = frame_from_vectors(u, ref) @ frame_from_vectors(u0, a0).T
    if rot_plane is None and rot_end_twist is None:
        return rotation_between(u0, u)  # nothing shows the twist: the smallest rotation that aims the bone
    if rot_plane is None:
        return rot_end_twist
    weight = min(1.0, min(bend, rest_bend) / np.radians(STRAIGHT_LIMB_DEG))
    if rot_end_twist is None or weight >= 1.0:
        return rot_plane
    # Both candidates map u0 to u; they differ by a twist about u. Move part of the way towards the hand's.
    psi = _twist_about(u, rot_plane @ a0, rot_end_twist @ a0)
    return axis_angle_to_matrix(u * (1.0 - weight) * psi) @ rot_plane


def _torso_locals(pelvis0: np.ndarray, hip_axis: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Locals (4, 3, 3) of pelvis, spine1..3 for params (pitch about the hip line, spine twist, spine side bend)."""
    pelvis = axis_angle_to_matrix(hip_axis * params[0]) @ pelvis0
    step = axis_angle_to_matrix(np.array([0.0, params[1], params[2]]))
    return np.stack([pelvis, step, step, step])


def _solve_torso(
    x: np.ndarray, pelvis0: np.ndarray, thorax0: np.ndarray | None, skeleton: Skeleton
) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis global (3, 3) and spine1..3 locals (3, 3, 3) from the hip and shoulder landmarks.

    Four points leave the torso's forward bend ambiguous: a pelvis tilt and a spine bend both move the shoulders
    forward, and nothing else tells them apart. The model therefore has no spine flexion: the pelvis keeps the
    observed hip line and pitches about it, and one spine rotation (twist about y, side bend about z, within the
    spine limits) repeats over spine1..3. Levenberg-Marquardt fits the shoulder line and the torso chord
    (mid-hips → mid-shoulders) directions, starting from the landmark frames.
    """
    hip_axis = _unit(x[MP["left_hip"]] - x[MP["right_hip"]])
    obs = np.concatenate(
        [
            _unit(x[MP["left_shoulder"]] - x[MP["right_shoulder"]]),
            _unit(_mid(x, "left_shoulder", "right_shoulder") - _mid(x, "left_hip", "right_hip")),
        ]
    )
    limit = JOINT_LIMITS_DEG[_J["spine1"]].ranges_deg
    lo = np.radians([-TORSO_PITCH_SEARCH_DEG, limit[1][0], limit[2][0]])
    hi = np.radians([TORSO_PITCH_SEARCH_DEG, limit[1][1], limit[2][1]])
    idx = [1, 2, 16, 17]  # left_hip, right_hip, left_shoulder, right_shoulder

    def residual(params: np.ndarray) -> np.ndarray:
        local = np.tile(np.eye(3), (24, 1, 1))
        local[[0, 3, 6, 9]] = _torso_locals(pelvis0, hip_axis, params)
        joints, _ = forward_kinematics(local, skeleton.joints_rest, skeleton.parents)
        lh, rh, ls, rs = joints[idx]
        return np.concatenate([_unit(ls - rs), _unit(0.5 * (ls + rs - lh - rh))]) - obs

    params = np.zeros(3)
    if thorax0 is not None:
        params[1:] = matrix_to_axis_angle(pelvis0.T @ thorax0)[1:] / 3.0
    params = np.clip(params, lo, hi)
    res = residual(params)
    damping = 1e-3
    for _ in range(TORSO_ITERATIONS):
        jac = np.stack([(residual(params + d) - res) / 1e-6 for d in np.eye(3) * 1e-6], axis=1)  # (6, 3)
        step = np.linalg.solve(jac.T @ jac + damping * np.eye(3), -jac.T @ res)
        trial = np.clip(params + step, lo, hi)
        trial_res = residual(trial)
        if trial_res @ trial_res < res @ res:
            params, res, damping = trial, trial_res, damping * 0.3
            if np.linalg.norm(step) < 1e-7:
                break
        else:
            damping *= 10.0
    local = _torso_locals(pelvis0, hip_axis, params)
    return local[0], local[1:]


def solve_ik(world: np.ndarray, skeleton: Skeleton) -> IKResult:
    """SMPL rotations that put the skeleton's markers along MediaPipe's landmark directions.

    Args:
        world: (33, 3) MediaPipe world landmarks, metres, camera-aligned axes (x right, y down, z forward).
        skeleton: the rest skeleton and its markers (``make_skeleton``).

    Returns:
        The pose; every joint within ``limits.JOINT_LIMITS_DEG``.

    Raises:
        ValueError: for a wrong shape or non-finite landmarks.
    """
    x = np.asarray(world, dtype=np.float64)
    if x.shape != (33, 3) or not np.all(np.isfinite(x)):
        raise ValueError(f"solve_ik: expected finite world landmarks of shape (33, 3), got {x.shape}")
    q = skeleton.landmarks_rest
    parents = skeleton.parents
    resolved: ResolvedLimits = joint_limits(skeleton.joints_rest, parents)
    obs_frames, rest_frames = _frames(x), _frames(q)
    seg = {name: _segment_rotation(obs_frames[name], rest_frames[name]) for name in obs_frames}

    local = np.tile(np.eye(3), (24, 1, 1))
    glob = np.tile(np.eye(3), (24, 1, 1))

    def place(j: int, desired_global: np.ndarray | None) -> None:
        if desired_global is not None:
            local[j] = clamp_local(j, glob[parents[j]].T @ desired_global, resolved)
        glob[j] = glob[parents[j]] @ local[j]

    if seg["pelvis"] is None:
        raise ValueError("solve_ik: the hip and shoulder landmarks coincide; cannot orient the pelvis")
    local[0], spine_local = _solve_torso(x, seg["pelvis"], seg["thorax"], skeleton)
    glob[0] = local[0]
    for j, rot in zip((_J["spine1"], _J["spine2"], _J["spine3"]), spine_local):
        local[j] = rot
        glob[j] = glob[parents[j]] @ rot
    for j in (_J["left_collar"], _J["right_collar"]):
        place(j, None)
    neck_target = None
    if seg["head"] is not None:
        half = axis_angle_to_matrix(matrix_to_axis_angle(glob[_J["spine3"]].T @ seg["head"]) / 2.0)
        neck_target = glob[_J["spine3"]] @ half
    place(_J["neck"], neck_target)
    place(_J["head"], seg["head"])

    # (root, hinge, end joint, end segment); these SMPL joints and MediaPipe landmarks share their names.
    limbs = (
        ("left_shoulder", "left_elbow", "left_wrist", "left_hand"),
        ("right_shoulder", "right_elbow", "right_wrist", "right_hand"),
        ("left_hip", "left_knee", "left_ankle", "left_foot"),
        ("right_hip", "right_knee", "right_ankle", "right_foot"),
    )
    for root, mid, end, end_segment in limbs:
        jr, jm, je = _J[root], _J[mid], _J[end]
        u = x[MP[mid]] - x[MP[root]]
        f = x[MP[end]] - x[MP[mid]]
        u0 = q[MP[mid]] - q[MP[root]]
        f0 = q[MP[end]] - q[MP[mid]]
        a0 = resolved.hinge_axes[jm]
        if np.linalg.norm(u) < 1e-6 or np.linalg.norm(f) < 1e-6:
            logger.debug("solve_ik: %s landmarks coincide; the limb stays at rest", root)
            for j in (jr, jm, je):
                place(j, None)
            continue
        place(jr, _limb_root(u, f, u0, f0, a0, seg[end_segment]))
        # The hinge angle that best aligns the lower bone, measured in the upper bone's (clamped) frame.
        g = glob[jr].T @ _unit(f)
        place(jm, glob[jr] @ axis_angle_to_matrix(a0 * _hinge_angle_to(g, f0, a0)))
        place(je, seg[end_segment])
    for j in range(24):
        if j not in _J.values() and j != 0:
            place(j, None)  # toes and finger roots (SMPL hand joints): not observed, at rest

    joints, rot_global = forward_kinematics(local, skeleton.joints_rest, parents)
    body_pose = np.stack([matrix_to_axis_angle(r) for r in local[1:]])
    return IKResult(
        global_orient=matrix_to_axis_angle(local[0]),
        body_pose=body_pose,
        rot_local=local,
        rot_global=rot_global,
        joints=joints,
    )

"""The retarget solver without Blender: synthetic rigs, Blender's pose chain rebuilt independently in the test.

References are independent of the code under test: scipy ``Rotation`` for rotations, and the test's own
forward kinematics (``P_b = P_parent · B_parent⁻¹ · B_b · basis_b``) for evaluating the keys.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from blender_addon.core import SMPL_JOINT_NAMES, SMPL_PARENTS
from blender_addon.retarget import (
    BoneChain,
    BoneMap,
    BoneMapError,
    RetargetSettings,
    RigRest,
    plan_retarget,
    posed_matrices,
    solve_frames,
    swing_matrix,
)

# SMPL-like rest joints in Blender axes (Z up, facing -Y), metres.
JOINTS = np.array([
    [0.00, -0.03, 0.92], [0.06, -0.02, 0.83], [-0.06, -0.02, 0.83], [0.00, 0.00, 1.03], [0.10, -0.02, 0.45],
    [-0.10, -0.01, 0.45], [0.00, -0.03, 1.16], [0.09, 0.02, 0.05], [-0.09, 0.02, 0.05], [0.00, -0.03, 1.21],
    [0.12, -0.10, 0.0], [-0.12, -0.10, 0.0], [0.00, 0.01, 1.43], [0.08, 0.00, 1.33], [-0.08, 0.01, 1.33],
    [0.00, -0.05, 1.49], [0.18, 0.02, 1.37], [-0.18, 0.01, 1.37], [0.44, 0.04, 1.35], [-0.44, 0.04, 1.35],
    [0.70, 0.03, 1.36], [-0.70, 0.03, 1.36], [0.78, 0.05, 1.35], [-0.78, 0.05, 1.35],
])
CHILD = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -1, -1, 15, 16, 17, -1, 18, 19, 20, 21, 22, 23, -1, -1)


def bone_matrix(head, tail, roll: float) -> np.ndarray:
    """(4, 4) rest matrix whose Y axis points head → tail, rolled about it (any valid roll convention)."""
    frame = swing_matrix(np.array([0.0, 1.0, 0.0]), np.asarray(tail) - np.asarray(head))
    m = np.eye(4)
    m[:3, :3] = frame @ Rotation.from_euler("y", roll).as_matrix()
    m[:3, 3] = head
    return m


def make_rig(heads, tails, parents, names, rolls, world=np.eye(4), inherit=None) -> RigRest:
    n = len(names)
    rest = np.array([bone_matrix(heads[i], tails[i], rolls[i]) for i in range(n)])
    return RigRest(names=tuple(names), parents=np.asarray(parents), rest_local=rest, tails=np.asarray(tails, float),
                   object_world=world, inherit_rotation=np.ones(n, bool) if inherit is None else inherit,
                   connected=np.zeros(n, bool))


def smpl_rig() -> RigRest:
    tails = np.array([JOINTS[c] if c >= 0 else JOINTS[j] + 0.5 * (JOINTS[j] - JOINTS[SMPL_PARENTS[j]])
                      for j, c in enumerate(CHILD)])
    return make_rig(JOINTS, tails, SMPL_PARENTS, SMPL_JOINT_NAMES, np.zeros(24))


def fk(rig: RigRest, basis: np.ndarray) -> np.ndarray:
    """Independent forward kinematics: (T, B, 4, 4) armature-space posed matrices."""
    out = np.zeros_like(basis)
    for b in range(len(rig.names)):  # parents come first in these test rigs
        p = rig.parents[b]
        pre = rig.rest_local[b] if p < 0 else out[:, p] @ np.linalg.inv(rig.rest_local[p]) @ rig.rest_local[b]
        if p >= 0 and not rig.inherit_rotation[b]:
            pre = pre.copy()
            pre[:, :3, :3] = rig.rest_local[b, :3, :3]
        out[:, b] = pre @ basis[:, b]
    return out


def random_source_motion(rig: RigRest, n_frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.tile(np.eye(4), (n_frames, len(rig.names), 1, 1))
    basis[:, :, :3, :3] = Rotation.from_rotvec(rng.normal(scale=0.5, size=(n_frames * len(rig.names), 3))) \
        .as_matrix().reshape(n_frames, len(rig.names), 3, 3)
    basis[:, 0, :3, 3] = rng.normal(scale=0.3, size=(n_frames, 3))
    return rig.object_world @ fk(rig, basis)


def basis_from_result(target: RigRest, result, base: np.ndarray) -> np.ndarray:
    t = result.quaternions.shape[0]
    basis = np.tile(base, (t, 1, 1, 1))
    for k, name in enumerate(result.bone_names):
        b = target.names.index(name)
        wxyz = result.quaternions[:, k]
        basis[:, b, :3, :3] = Rotation.from_quat(wxyz[:, [1, 2, 3, 0]]).as_matrix()
        basis[:, b, :3, 3] = result.locations[:, k]
    return basis


def angle_deg(a, b) -> np.ndarray:
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1)))


def test_swing_matrix_takes_a_to_b_including_opposite():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    r = swing_matrix(a, b)
    got = np.einsum("nij,nj->ni", r, a / np.linalg.norm(a, axis=1, keepdims=True))
    assert np.abs(got - b / np.linalg.norm(b, axis=1, keepdims=True)).max() < 1e-12
    assert np.abs(np.linalg.det(r) - 1).max() < 1e-12, "swings are proper rotations"
    flip = swing_matrix(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0]))
    assert np.allclose(flip @ [0, 0, 1], [0, 0, -1]), f"half turn for opposite directions, got {flip @ [0, 0, 1]}"
    # Minimal: the axis of the swing is perpendicular to both directions.
    axis = Rotation.from_matrix(r[0]).as_rotvec()
    assert abs(np.dot(axis, a[0])) < 1e-9 and abs(np.dot(axis, b[0])) < 1e-9


def test_posed_matrices_equals_blender_chain_with_no_inherit_rotation():
    src = smpl_rig()
    inherit = np.ones(24, bool)
    inherit[[4, 16]] = False
    rig = RigRest(src.names, src.parents, src.rest_local, src.tails, src.object_world, inherit, src.connected)
    rng = np.random.default_rng(2)
    basis = np.tile(np.eye(4), (3, 24, 1, 1))
    basis[:, :, :3, :3] = Rotation.random(72, random_state=3).as_matrix().reshape(3, 24, 3, 3)
    basis[:, :, :3, 3] = rng.normal(scale=0.1, size=(3, 24, 3))
    err = np.abs(posed_matrices(rig, basis) - fk(rig, basis)).max()
    assert err < 1e-12, f"posed_matrices vs the reference chain: {err}"


def a_pose_ue5_rig(roll_seed: int, world: np.ndarray) -> tuple[RigRest, BoneMap]:
    """A UE5-like rig in A-pose with random rolls: 5 spine bones, 2 neck bones, a ground root, a twist bone."""
    rng = np.random.default_rng(roll_seed)
    p = JOINTS * 1.2
    down = Rotation.from_euler("y", 40, degrees=True).as_matrix()
    for j in (18, 20, 22):
        p[j] = p[16] + down @ (p[j] - p[16])
    down_r = down.T
    for j in (19, 21, 23):
        p[j] = p[17] + down_r @ (p[j] - p[17])
    spine = [p[3] + (p[12] - p[3]) * k / 5 for k in range(6)]
    neck = [p[12] + (p[15] - p[12]) * k / 2 for k in range(3)]
    bones = {  # name: (head, tail, parent)
        "root": (np.array([0, 0, 0.0]), np.array([0, -0.2, 0.0]), None),
        "pelvis": (p[0], p[0] + [0, -0.1, 0], "root"),
    }
    for k in range(5):
        bones[f"spine_0{k + 1}"] = (spine[k], spine[k + 1], "pelvis" if k == 0 else f"spine_0{k}")
    bones["neck_01"] = (neck[0], neck[1], "spine_05")
    bones["neck_02"] = (neck[1], neck[2], "neck_01")
    bones["head"] = (p[15], p[15] + [0, 0, 0.2], "neck_02")
    for s, side in (("l", "left"), ("r", "right")):
        i = {n: SMPL_JOINT_NAMES.index(f"{side}_{n}") for n in
             ("collar", "shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "foot")}
        bones[f"clavicle_{s}"] = (p[i["collar"]], p[i["shoulder"]], "spine_05")
        bones[f"upperarm_{s}"] = (p[i["shoulder"]], p[i["elbow"]], f"clavicle_{s}")
        bones[f"upperarm_twist_01_{s}"] = (0.5 * (p[i["shoulder"]] + p[i["elbow"]]), p[i["elbow"]], f"upperarm_{s}")
        bones[f"lowerarm_{s}"] = (p[i["elbow"]], p[i["wrist"]], f"upperarm_{s}")
        bones[f"hand_{s}"] = (p[i["wrist"]], p[i["hand"]], f"lowerarm_{s}")
        bones[f"thigh_{s}"] = (p[i["hip"]], p[i["knee"]], "pelvis")
        bones[f"calf_{s}"] = (p[i["knee"]], p[i["ankle"]], f"thigh_{s}")
        bones[f"foot_{s}"] = (p[i["ankle"]], p[i["foot"]], f"calf_{s}")
        bones[f"ball_{s}"] = (p[i["foot"]], p[i["foot"]] + [0, -0.05, 0], f"foot_{s}")
    names = list(bones)
    parents = [names.index(bones[n][2]) if bones[n][2] else -1 for n in names]
    inv = np.linalg.inv(world)
    heads = np.array([inv[:3, :3] @ bones[n][0] + inv[:3, 3] for n in names])
    tails = np.array([inv[:3, :3] @ bones[n][1] + inv[:3, 3] for n in names])
    rig = make_rig(heads, tails, parents, names, rng.uniform(-np.pi, np.pi, len(names)), world=world)
    singles = {"pelvis": "pelvis", "head": "head"}
    for s, side in (("l", "left"), ("r", "right")):
        singles.update({f"{side}_collar": f"clavicle_{s}", f"{side}_shoulder": f"upperarm_{s}",
                        f"{side}_elbow": f"lowerarm_{s}", f"{side}_wrist": f"hand_{s}", f"{side}_hip": f"thigh_{s}",
                        f"{side}_knee": f"calf_{s}", f"{side}_ankle": f"foot_{s}", f"{side}_foot": f"ball_{s}"})
    bone_map = BoneMap(name="ue5 test", bones=singles, root_bone="root", chains=(
        BoneChain(("spine1", "spine2", "spine3"), tuple(f"spine_0{k}" for k in range(1, 6))),
        BoneChain(("neck",), ("neck_01", "neck_02"))))
    return rig, bone_map


@pytest.mark.parametrize("scaled_world", [False, True])
def test_limb_directions_chain_and_root_follow_the_source(scaled_world):
    source = smpl_rig()
    world = np.eye(4)
    if scaled_world:  # Mixamo-style import: cm, Y up, object scale 0.01 rotated 90° about X, moved aside
        world[:3, :3] = 0.01 * Rotation.from_euler("x", 90, degrees=True).as_matrix()
        world[:3, 3] = [2.0, 1.0, 0.0]
    target, bone_map = a_pose_ue5_rig(roll_seed=4, world=world)
    plan = plan_retarget(source, target, bone_map, RetargetSettings())
    src_world = random_source_motion(source, n_frames=6)
    base = np.tile(np.eye(4), (len(target.names), 1, 1))
    result = solve_frames(plan, src_world, base)
    posed = world @ fk(target, basis_from_result(target, result, base))
    heads_t = posed[..., :3, 3]
    heads_s = src_world[..., :3, 3]
    idx = target.names.index
    for joint, child in (("left_shoulder", "left_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
                         ("right_knee", "right_ankle"), ("left_collar", "left_shoulder"),
                         ("left_ankle", "left_foot")):
        jb, cb = bone_map.bones[joint], bone_map.bones[child]
        err = angle_deg(heads_s[:, SMPL_JOINT_NAMES.index(child)] - heads_s[:, SMPL_JOINT_NAMES.index(joint)],
                        heads_t[:, idx(cb)] - heads_t[:, idx(jb)])
        assert err.max() < 1e-6, f"{jb}: limb direction off by {err.max():.2e}° from {joint}"
    # The spine chain as a whole points where the source's spine points.
    err = angle_deg(heads_s[:, 12] - heads_s[:, 3], heads_t[:, idx("neck_01")] - heads_t[:, idx("spine_01")])
    assert err.max() < 2.0, f"spine chain end-to-end error {err.max():.3f}° (limit 2°)"
    # Root: hips world trajectory = k · source pelvis trajectory from rest.
    leg_s = np.linalg.norm(JOINTS[4] - JOINTS[1]) + np.linalg.norm(JOINTS[7] - JOINTS[4])
    assert plan.root_scale == pytest.approx(1.2, rel=1e-9), f"leg ratio should be 1.2, got {plan.root_scale}"
    want = target.heads_world()[idx("pelvis")] + 1.2 * (heads_s[:, 0] - source.heads_world()[0])
    assert np.abs(heads_t[:, idx("pelvis")] - want).max() < 1e-9 * max(1.0, leg_s)
    # Unmapped bones keep their (identity) basis.
    twist = result.bone_names
    assert "upperarm_twist_01_l" not in twist and "root" not in twist, f"unmapped bones keyed: {twist}"


def test_twist_is_carried_and_rolls_do_not_matter():
    """Two targets that differ only in bone rolls end up with identical world rotations up to their rest offset."""
    source = smpl_rig()
    src_world = random_source_motion(source, n_frames=5, seed=7)
    posed = []
    for seed in (10, 11):
        target, bone_map = a_pose_ue5_rig(roll_seed=seed, world=np.eye(4))
        base = np.tile(np.eye(4), (len(target.names), 1, 1))
        result = solve_frames(plan_retarget(source, target, bone_map, RetargetSettings()), src_world, base)
        pm = fk(target, basis_from_result(target, result, base))
        # Remove each bone's own rest rotation: what is left is the world delta, which must not depend on rolls.
        posed.append(pm[..., :3, :3] @ np.swapaxes(target.rest_local[:, :3, :3], -1, -2))
    diff = np.abs(posed[0] - posed[1]).max()
    assert diff < 1e-9, f"world deltas depend on bone rolls: max difference {diff}"
    # Twist of the source forearm about its own axis shows up in the target forearm's delta.
    target, bone_map = a_pose_ue5_rig(roll_seed=10, world=np.eye(4))
    plan = plan_retarget(source, target, bone_map, RetargetSettings())
    b = target.names.index("lowerarm_l")
    s = SMPL_JOINT_NAMES.index("left_elbow")
    deltas_s = src_world[:, s, :3, :3] @ source.rest_rotations_world()[s].T
    single = next(x for x in plan.singles if x.target == b)
    expected = deltas_s @ single.align
    got = posed[0][:, b]
    assert np.abs(got - expected).max() < 1e-9, "target delta = source delta · rest alignment"


def test_root_motion_scale_override_and_errors():
    source = smpl_rig()
    target, bone_map = a_pose_ue5_rig(roll_seed=1, world=np.eye(4))
    plan = plan_retarget(source, target, bone_map, RetargetSettings(root_scale=2.5))
    assert plan.root_scale == 2.5
    with pytest.raises(ValueError, match="root_motion must be one of"):
        plan_retarget(source, target, bone_map, RetargetSettings(root_motion="FLY"))
    legless = BoneMap(name="legless", bones={"pelvis": "pelvis", "head": "head"})
    with pytest.raises(BoneMapError, match="leg length"):
        plan_retarget(source, target, legless, RetargetSettings())
    no_root = BoneMap(name="no root", bones=dict(bone_map.bones), chains=bone_map.chains)
    with pytest.raises(BoneMapError, match="root_bone"):
        plan_retarget(source, target, no_root, RetargetSettings(root_motion="ROOT_BONE"))
    connected = target.connected.copy()
    connected[target.names.index("pelvis")] = True
    rig = RigRest(target.names, target.parents, target.rest_local, target.tails, target.object_world,
                  target.inherit_rotation, connected)
    with pytest.raises(BoneMapError, match="connected to its parent, so it cannot move"):
        plan_retarget(source, rig, bone_map, RetargetSettings())
    assert plan_retarget(source, rig, bone_map, RetargetSettings(root_motion="NONE")).location_keyed() == []
    skewed = np.diag([1.0, 2.0, 1.0, 1.0])
    rig = RigRest(target.names, target.parents, target.rest_local, target.tails, skewed, target.inherit_rotation,
                  target.connected)
    with pytest.raises(ValueError, match="non-uniform scale"):
        plan_retarget(source, rig, bone_map, RetargetSettings())


def test_chunks_keep_quaternion_signs_continuous():
    source = smpl_rig()
    target, bone_map = a_pose_ue5_rig(roll_seed=2, world=np.eye(4))
    plan = plan_retarget(source, target, bone_map, RetargetSettings())
    src_world = random_source_motion(source, n_frames=8, seed=5)
    base = np.tile(np.eye(4), (len(target.names), 1, 1))
    whole = solve_frames(plan, src_world, base)
    first = solve_frames(plan, src_world[:3], base)
    second = solve_frames(plan, src_world[3:], base, source_root_start=src_world[0, 0, :3, 3],
                          previous_quaternions=first.quaternions[-1])
    joined = np.concatenate([first.quaternions, second.quaternions])
    assert np.abs(joined - whole.quaternions).max() < 1e-12, "chunked keys must equal the one-shot keys"
    dots = np.sum(joined[1:] * joined[:-1], axis=-1)
    assert dots.min() >= 0, f"neighbouring keys flip sign (min dot {dots.min()})"

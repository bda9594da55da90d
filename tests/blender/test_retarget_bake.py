"""Retarget a known SMPL motion onto rigs named like every preset, in a real Blender (bpy 5.0).

Each target is built from the preset's own names with different proportions, random bone rolls, extra unmapped
bones (twist halves, MCH parents that do not inherit rotation, end bones, a ground root), a T- or A-pose rest,
and some with a Mixamo-style object transform (armature in cm, Y up, object scale 0.01 and rotated 90° about X).
The checks read the evaluated pose back from Blender after the bake:

- limb directions (bone head → mapped child's head) match the source's in world space within 2°;
- each one-to-one bone keeps a constant world rotation offset to its source bone (twist carried over, no roll
  flips), and chains spread the spine/neck so the chain's end-to-end direction follows the source;
- the hips trajectory is the source pelvis trajectory scaled by the leg-length ratio;
- rest pose (head/tail/roll/matrix_local) and the target's existing action are byte-identical afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")
from mathutils import Matrix  # noqa: E402

from blender_addon.blender_io import (  # noqa: E402
    BuildSettings,
    CurveKeys,
    ExportSettings,
    action_fcurves,
    build_keyed_character,
    export_character,
    fcurves_of,
    write_action,
)
from blender_addon.core import (  # noqa: E402
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_TO_BLENDER,
    PoseTrack,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    rest_body_from_mapping,
)
from blender_addon.retarget import BoneMap, auto_map, load_preset  # noqa: E402
from blender_addon.retarget.bake import BakeSettings, RetargetJob, retarget_action  # noqa: E402
from blender_addon.retarget.scene import rig_rest  # noqa: E402

N_FRAMES = 24
SAMPLED = (1, 6, 13, 19, 24)
J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
# The child each SMPL joint's limb points at (as in the add-on's armature).
LIMB_CHILD = {"pelvis": "spine1", "spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head",
              "left_collar": "left_shoulder", "left_shoulder": "left_elbow", "left_elbow": "left_wrist",
              "left_wrist": "left_hand", "left_hip": "left_knee", "left_knee": "left_ankle",
              "left_ankle": "left_foot"}
LIMB_CHILD.update({k.replace("left", "right"): v.replace("left", "right") for k, v in LIMB_CHILD.items()})


# ---------------------------------------------------------------------------------------------------------------
# Source: the add-on's own SMPL character keyed with a known motion.

def known_track(n_frames: int = N_FRAMES, seed: int = 3) -> PoseTrack:
    """A deterministic walk-like SMPL motion: every joint swings about its own axis, the body turns and travels."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / n_frames
    axes = rng.normal(size=(23, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    amp = rng.uniform(0.25, 0.7, size=23)
    phase = rng.uniform(0, 2 * np.pi, size=23)
    body_pose = (amp * np.sin(2 * np.pi * t[:, None] + phase))[..., None] * axes
    yaw = 0.6 * np.sin(2 * np.pi * t)
    cy, sy = np.cos(yaw), np.sin(yaw)
    ry = np.zeros((n_frames, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = cy, sy, 1.0, -sy, cy
    global_orient = matrix_to_axis_angle(ry @ axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0])))
    cam_t = np.stack([0.8 * np.sin(2 * np.pi * t), 0.2 + 0.1 * np.sin(4 * np.pi * t), 5.0 + 1.5 * t], axis=1)
    return PoseTrack(frames=np.arange(n_frames), global_orient=global_orient, body_pose=body_pose,
                     betas=np.zeros((n_frames, 10)), cam_t_full=cam_t, focal_length_px=5000.0)


def make_source(body_model: dict):
    body = rest_body_from_mapping(body_model)
    character = build_keyed_character(0, known_track(), body, BuildSettings(fps_source=30.0, root_motion="camera"))
    return character.armature, body


# ---------------------------------------------------------------------------------------------------------------
# Targets named like each preset.

def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def joint_positions(body, pose: str, scale: float) -> np.ndarray:
    """(24, 3) target joint positions in world space (Blender frame), T- or A-pose, other proportions."""
    p = body.joints @ SMPL_TO_BLENDER.T * scale
    p[:, 2] -= p[[J["left_ankle"], J["right_ankle"]], 2].min() - 0.08 * scale  # feet on the ground
    # Longer arms than the source, so proportions differ per limb.
    for side in ("left", "right"):
        sh = J[f"{side}_shoulder"]
        for j in (J[f"{side}_elbow"], J[f"{side}_wrist"], J[f"{side}_hand"]):
            p[j] = p[sh] + 1.15 * (p[j] - p[sh])
    if pose == "A":
        for side, sign in (("left", 1.0), ("right", -1.0)):
            sh = J[f"{side}_shoulder"]
            rot = _rot_y(sign * 42.0)  # arms down ~42° from the source's T
            for j in (J[f"{side}_elbow"], J[f"{side}_wrist"], J[f"{side}_hand"]):
                p[j] = p[sh] + rot @ (p[j] - p[sh])
    return p


def _chain_points(p: np.ndarray, joints: list[str], end: str, count: int) -> list[np.ndarray]:
    pts = [p[J[j]] for j in joints] + [p[J[end]]]
    seg = [np.linalg.norm(b - a) for a, b in zip(pts[:-1], pts[1:])]
    cum = np.concatenate([[0], np.cumsum(seg)]) / sum(seg)
    out = []
    for k in range(count + 1):
        u = k / count
        i = min(int(np.searchsorted(cum, u, side="right") - 1), len(seg) - 1)
        w = (u - cum[i]) / (cum[i + 1] - cum[i])
        out.append((1 - w) * pts[i] + w * pts[i + 1])
    return out


def rig_layout(bone_map: BoneMap, p: np.ndarray, preset_id: str) -> dict:
    """name → (head, tail, parent name | None, inherit_rotation) in world space."""
    bones: dict = {}
    last_of: dict[str, str] = {}  # SMPL joint → target bone that its children hang from
    chain_of = {c.source[0]: c for c in bone_map.chains}
    chain_members = {j for c in bone_map.chains for j in c.source}
    end_of_chain = {"spine3": "neck", "neck": "head"}
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        parent_joint = SMPL_JOINT_NAMES[SMPL_PARENTS[j]] if SMPL_PARENTS[j] >= 0 else None
        parent = last_of.get(parent_joint) if parent_joint else None
        if joint in chain_of:
            chain = chain_of[joint]
            pts = _chain_points(p, list(chain.source), end_of_chain[chain.source[-1]], len(chain.target))
            for k, name in enumerate(chain.target):
                bones[name] = [pts[k], pts[k + 1], parent, True]
                parent = name
            for s in chain.source:
                last_of[s] = chain.target[-1]
            continue
        if joint in chain_members or joint not in bone_map.bones:
            if parent is not None:
                last_of[joint] = parent
            continue
        name = bone_map.bones[joint]
        child = LIMB_CHILD.get(joint)
        head = p[j]
        if child is not None:
            tail = p[J[child]]
        else:
            tail = head + 0.6 * (head - p[SMPL_PARENTS[j]])
        bones[name] = [head, tail, parent, True]
        last_of[joint] = name

    def split(name: str, twin: str) -> None:
        head, tail, parent, inh = bones[name]
        mid = 0.5 * (head + tail)
        bones[name] = [head, mid, parent, inh]
        bones[twin] = [mid, tail, name, True]
        for other, spec in bones.items():
            if other != twin and spec[2] == name:
                spec[2] = twin

    hips = bone_map.bones["pelvis"]
    head = bones[hips][0]
    if preset_id.startswith("mixamo"):
        prefix = "mixamorig:" if preset_id == "mixamo" else ""
        bones[prefix + "HeadTop_End"] = [bones[prefix + "Head"][1], bones[prefix + "Head"][1] + [0, 0, 0.1],
                                         prefix + "Head", True]
        for side in ("Left", "Right"):
            toe = bones[f"{prefix}{side}ToeBase"]
            bones[f"{prefix}{side}Toe_End"] = [toe[1], toe[1] + (toe[1] - toe[0]), f"{prefix}{side}ToeBase", True]
    elif preset_id == "rigify_deform":
        for side in ("L", "R"):
            for part in ("thigh", "shin", "upper_arm", "forearm"):
                split(f"DEF-{part}.{side}", f"DEF-{part}.{side}.001")
            bones[f"DEF-pelvis.{side}"] = [head, head + [0.12 if side == "L" else -0.12, -0.05, -0.1], hips, True]
        bones["root"] = [np.array([head[0], head[1], 0.0]), np.array([head[0], head[1] + 0.3, 0.0]), None, True]
        bones[hips][2] = "root"
    elif preset_id == "rigify_fk":
        # torso points backwards like Rigify's; an MCH bone sits between it and the spine; thighs hang from MCH
        # parents that do not inherit rotation (as Rigify's limb parent switches).
        bones["root"] = [np.array([head[0], head[1], 0.0]), np.array([head[0], head[1] + 0.4, 0.0]), None, True]
        bones["torso"] = [head, head + [0.0, 0.35, 0.0], "root", True]
        bones["hips"] = [head, head + [0.0, 0.0, -0.15], "torso", True]
        first_spine = "spine_fk.001"
        bones["MCH-spine"] = [head, bones[first_spine][0], "torso", True]
        bones[first_spine][2] = "MCH-spine"
        for side in ("L", "R"):
            thigh = bones[f"thigh_fk.{side}"]
            bones[f"MCH-thigh_parent.{side}"] = [thigh[0], thigh[0] + [0, 0, 0.1], "torso", False]
            thigh[2] = f"MCH-thigh_parent.{side}"
            arm = bones[f"upper_arm_fk.{side}"]
            bones[f"MCH-upper_arm_parent.{side}"] = [arm[0], arm[0] + [0, 0.1, 0], f"shoulder.{side}", True]
            arm[2] = f"MCH-upper_arm_parent.{side}"
    else:  # UE4 / UE5 / MetaHuman: ground root, pelvis pointing forward, twist and corrective bones
        bones["root"] = [np.array([head[0], head[1], 0.0]), np.array([head[0], head[1] - 0.3, 0.0]), None, True]
        bones[hips][1] = head + [0.0, -0.12, 0.0]
        bones[hips][2] = "root"
        bones["ik_foot_root"] = [bones["root"][0], bones["root"][0] + [0, 0, 0.1], "root", True]
        for side in ("l", "r"):
            for part in ("upperarm", "lowerarm", "thigh", "calf"):
                h, t, _, _ = bones[f"{part}_{side}"]
                bones[f"{part}_twist_01_{side}"] = [0.5 * (h + t), t, f"{part}_{side}", True]
            if preset_id == "metahuman_body":
                h, t, _, _ = bones[f"upperarm_{side}"]
                bones[f"upperarm_correctiveRoot_{side}"] = [h, h + [0, 0, 0.05], f"upperarm_{side}", True]
    return bones


def build_armature(name: str, bones: dict, seed: int, mixamo_units: bool = False, location=(1.5, 0.5, 0.0)):
    """Create an armature object with random rolls. ``mixamo_units``: bones in cm, Y up, object scale 0.01."""
    rng = np.random.default_rng(seed)
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    world = np.eye(4)
    if mixamo_units:
        world[:3, :3] = 0.01 * np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])  # Rx(90°) · 0.01
    world[:3, 3] = location
    obj.matrix_world = Matrix(world.tolist())
    inv = np.linalg.inv(world)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, (head, tail, _, _) in bones.items():
        eb = arm.edit_bones.new(bone_name)
        eb.head = (inv[:3, :3] @ head + inv[:3, 3]).tolist()
        eb.tail = (inv[:3, :3] @ tail + inv[:3, 3]).tolist()
        eb.roll = float(rng.uniform(-np.pi, np.pi))
    for bone_name, (_, _, parent, inherit) in bones.items():
        eb = arm.edit_bones[bone_name]
        if parent is not None:
            eb.parent = arm.edit_bones[parent]
        eb.use_inherit_rotation = inherit
    bpy.ops.object.mode_set(mode="OBJECT")
    modes = ("QUATERNION", "XYZ", "YXZ", "ZXY", "AXIS_ANGLE")
    for k, pb in enumerate(obj.pose.bones):
        pb.rotation_mode = modes[k % len(modes)] if seed % 2 else "QUATERNION"
    return obj


PRESET_CASES = [
    ("mixamo", "T"), ("mixamo_bare", "A"), ("rigify_deform", "A"), ("rigify_fk", "T"), ("rigify_fk", "A"),
    ("ue4_mannequin", "T"), ("ue5_mannequin", "A"), ("ue5_mannequin", "T"), ("metahuman_body", "A"),
]


def make_target(body, preset_id: str, pose: str, seed: int = 0):
    bone_map = load_preset(preset_id)
    p = joint_positions(body, pose, scale=1.18 if preset_id.startswith("ue") else 1.07)
    layout = rig_layout(bone_map, p, preset_id)
    obj = build_armature(f"{preset_id}_{pose}", layout, seed=seed + len(preset_id),
                         mixamo_units=preset_id == "mixamo")
    return obj, bone_map


# ---------------------------------------------------------------------------------------------------------------
# Reading back.

def rest_snapshot(obj) -> dict:
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    rolls = np.array([eb.roll for eb in obj.data.edit_bones], dtype=np.float32)
    bpy.ops.object.mode_set(mode="OBJECT")
    bones = obj.data.bones
    out = {"roll": rolls.tobytes()}
    for attr, size in (("head_local", 3), ("tail_local", 3), ("matrix_local", 16), ("head", 3), ("tail", 3)):
        buf = np.empty(len(bones) * size, dtype=np.float32)
        bones.foreach_get(attr, buf)
        out[attr] = buf.tobytes()
    return out


def world_pose(obj, frames) -> dict:
    """frame → (names, heads (B, 3), rotations (B, 3, 3)) evaluated by Blender."""
    scene = bpy.context.scene
    out = {}
    for f in frames:
        scene.frame_set(f)
        world = np.array(obj.matrix_world)
        names = [pb.name for pb in obj.pose.bones]
        mats = np.array([world @ np.array(pb.matrix) for pb in obj.pose.bones])
        rots = mats[:, :3, :3] / np.linalg.norm(mats[:, :3, :3], axis=1, keepdims=True)
        out[f] = (names, mats[:, :3, 3], rots)
    return out


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b)), np.dot(a, b))))


def rot_angle_deg(r: np.ndarray) -> float:
    skew = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return float(np.degrees(np.arctan2(0.5 * np.linalg.norm(skew), 0.5 * (np.trace(r) - 1))))


def target_start_bone(bone_map: BoneMap, joint: str) -> str | None:
    if joint in bone_map.bones:
        return bone_map.bones[joint]
    for chain in bone_map.chains:
        if chain.source[0] == joint:
            return chain.target[0]
    return None


def leg_ratio(src_heads: dict, tgt_heads: dict, bone_map: BoneMap) -> float:
    def length(heads, names):
        return sum(np.linalg.norm(heads[b] - heads[a]) for a, b in zip(names[:-1], names[1:]))

    ratios = []
    for side in ("left", "right"):
        joints = [f"{side}_hip", f"{side}_knee", f"{side}_ankle"]
        ratios.append((length(tgt_heads, [bone_map.bones[j] for j in joints]), length(src_heads, joints)))
    return sum(r[0] for r in ratios) / sum(r[1] for r in ratios)


def rest_heads_world(obj) -> dict:
    world = np.array(obj.matrix_world)
    return {b.name: world[:3, :3] @ np.array(b.head_local) + world[:3, 3] for b in obj.data.bones}


def existing_action(obj):
    """Give the target an action of its own (a wave of the first bone) to prove it is left untouched."""
    name = obj.pose.bones[0].name
    mode = obj.pose.bones[0].rotation_mode
    path, width = {"QUATERNION": ("rotation_quaternion", 4), "AXIS_ANGLE": ("rotation_axis_angle", 4)}.get(
        mode, ("rotation_euler", 3))
    values = np.tile([1.0, 0.0, 0.0, 0.0][:width], (3, 1)) + np.array([[0.0], [0.1], [0.2]])
    action = write_action(obj, "artist_take", [CurveKeys(f'pose.bones["{name}"].{path}', np.array([1.0, 5.0, 9.0]),
                                                         values, group=name)])
    return action


def action_bytes(action) -> bytes:
    out = b""
    for fc in action_fcurves(action):
        co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out += fc.data_path.encode() + co.tobytes()
    return out


# ---------------------------------------------------------------------------------------------------------------
# Tests.

@pytest.mark.parametrize(("preset_id", "pose"), PRESET_CASES)
def test_retarget_matches_source_directions_root_and_keeps_rest(fresh_scene, body_model, preset_id, pose):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, preset_id, pose, seed=PRESET_CASES.index((preset_id, pose)))
    before = rest_snapshot(target)
    old_action = existing_action(target)
    old_bytes = action_bytes(old_action)
    src_rest_heads = rest_heads_world(source)
    tgt_rest_heads = rest_heads_world(target)

    action = retarget_action(source, target, bone_map,
                             BakeSettings(frame_start=1, frame_end=N_FRAMES, chunk_frames=7))

    assert target.animation_data.action == action and action != old_action, "the bake goes to a NEW action"
    assert action_bytes(old_action) == old_bytes, "the artist's existing action must not change"
    assert old_action.name in bpy.data.actions and old_action.use_fake_user, "the old action is kept alive"
    after = rest_snapshot(target)
    for key in before:
        assert before[key] == after[key], f"rest {key} of {preset_id} changed by the retarget"

    src = world_pose(source, SAMPLED)
    tgt = world_pose(target, SAMPLED)
    worst_dir, worst_offset = 0.0, 0.0
    for joint, child in LIMB_CHILD.items():
        b, c = bone_map.bones.get(joint), target_start_bone(bone_map, child)
        if b is None or c is None:
            continue
        offsets = []
        for f in SAMPLED:
            sn, sh, sr = src[f]
            tn, th, tr = tgt[f]
            s_dir = sh[sn.index(child)] - sh[sn.index(joint)]
            t_dir = th[tn.index(c)] - th[tn.index(b)]
            err = angle_deg(s_dir, t_dir)
            worst_dir = max(worst_dir, err)
            assert err < 2.0, f"{preset_id}/{pose} frame {f}: {b} points {err:.3f}° away from SMPL {joint} (< 2°)"
            offsets.append(sr[sn.index(joint)].T @ tr[tn.index(b)])
        for o in offsets[1:]:
            drift = rot_angle_deg(offsets[0].T @ o)
            worst_offset = max(worst_offset, drift)
            assert drift < 0.5, f"{preset_id}/{pose}: {b} twists {drift:.3f}° relative to {joint} over time"

    # Chains: the chain's end-to-end direction follows the source's spine/neck.
    worst_chain = 0.0
    for chain in bone_map.chains:
        end_joint = {"spine3": "neck", "neck": "head"}[chain.source[-1]]
        end_bone = target_start_bone(bone_map, end_joint)
        for f in SAMPLED:
            sn, sh, _ = src[f]
            tn, th, _ = tgt[f]
            err = angle_deg(sh[sn.index(end_joint)] - sh[sn.index(chain.source[0])],
                            th[tn.index(end_bone)] - th[tn.index(chain.target[0])])
            worst_chain = max(worst_chain, err)
            assert err < 2.0, f"{preset_id}: chain {chain.target} end-to-end off by {err:.3f}° at frame {f}"

    print(f"\n{preset_id}/{pose}: worst limb direction error {worst_dir:.4f}°, twist drift {worst_offset:.4f}°, "
          f"chain end-to-end {worst_chain:.3f}°")

    # Root: hips trajectory = source pelvis trajectory × leg-length ratio, starting at the target's rest.
    k = leg_ratio(src_rest_heads, tgt_rest_heads, bone_map)
    hips = bone_map.bones["pelvis"]
    for f in SAMPLED:
        sn, sh, _ = src[f]
        tn, th, _ = tgt[f]
        want = tgt_rest_heads[hips] + k * (sh[sn.index("pelvis")] - src_rest_heads["pelvis"])
        err = np.linalg.norm(th[tn.index(hips)] - want)
        assert err < 1e-3, f"{preset_id}: hips at frame {f} is {err * 1000:.3f} mm from the scaled source trajectory"


def test_unmapped_bones_get_no_keys_and_keep_their_pose(fresh_scene, body_model):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "ue5_mannequin", "T")
    target.pose.bones["ik_foot_root"].location = (0.0, 0.0, 0.25)
    action = retarget_action(source, target, bone_map, BakeSettings(frame_start=1, frame_end=8))
    assert target.animation_data.action == action, "the bake is assigned to the target"
    fcurves = fcurves_of(target)
    keyed = {fc.data_path.split('"')[1] for fc in fcurves}
    assert keyed == set(bone_map.target_bones()), f"keyed bones {sorted(keyed - set(bone_map.target_bones()))} " \
                                                  f"extra / {sorted(set(bone_map.target_bones()) - keyed)} missing"
    located = {fc.data_path.split('"')[1] for fc in fcurves if fc.data_path.endswith(".location")}
    assert located == {"pelvis"}, f"only the hips get location keys (root motion REST), got {located}"
    bpy.context.scene.frame_set(5)
    assert tuple(target.pose.bones["ik_foot_root"].location) == pytest.approx((0.0, 0.0, 0.25)), \
        "an unmapped bone keeps the artist's pose"


def test_root_motion_modes(fresh_scene, body_model):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "ue4_mannequin", "T")
    tgt_rest = rest_heads_world(target)
    results = {}
    # NONE first: bones without location keys keep whatever location the previous bake left in the pose.
    for mode in ("NONE", "IN_PLACE", "START", "ROOT_BONE"):
        retarget_action(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES, root_motion=mode))
        results[mode] = world_pose(target, (1, 13, 24))
    src = world_pose(source, (1, 13, 24))
    for f in (1, 13, 24):
        tn, th, _ = results["IN_PLACE"][f]
        hips = th[tn.index("pelvis")]
        assert np.abs(hips[:2] - tgt_rest["pelvis"][:2]).max() < 1e-4, f"IN_PLACE: hips moved horizontally {hips}"
        tn, th, _ = results["ROOT_BONE"][f]
        root, hips_rb = th[tn.index("root")], th[tn.index("pelvis")]
        assert abs(root[2] - tgt_rest["root"][2]) < 1e-5, f"ROOT_BONE: the ground root must stay on the ground {root}"
        assert np.abs(root[:2] - hips_rb[:2] + (tgt_rest["pelvis"] - tgt_rest["root"])[:2]).max() < 1e-4, \
            "ROOT_BONE: the root carries the horizontal travel under the hips"
        tn, th, _ = results["NONE"][f]
        sn, sh, _ = src[f]
        assert np.linalg.norm(th[tn.index("pelvis")] - tgt_rest["pelvis"]) < 1e-4, "NONE: hips stay at rest"
    tn, th, _ = results["START"][1]
    assert np.abs(th[tn.index("pelvis")][:2] - tgt_rest["pelvis"][:2]).max() < 1e-4, \
        "START: the character starts where it stands"
    t13 = results["START"][13][1][results["START"][13][0].index("pelvis")]
    assert np.linalg.norm(t13[:2] - tgt_rest["pelvis"][:2]) > 0.05, "START: the hips still travel afterwards"


def test_chunked_job_progress_and_cancel(fresh_scene, body_model):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "mixamo", "T")
    scene = bpy.context.scene
    scene.frame_set(4)
    job = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES, chunk_frames=10))
    progress = [job.progress]
    while not job.step():
        progress.append(job.progress)
    progress.append(job.progress)
    assert progress == pytest.approx([0.0, 10 / 24, 20 / 24, 1.0]), f"progress per chunk: {progress}"
    assert scene.frame_current == 4, f"stepping restores the current frame, got {scene.frame_current}"
    one_shot = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES,
                                                                  chunk_frames=100))
    one_shot.step()
    chunked, whole = job.result(), one_shot.result()
    assert np.abs(chunked.quaternions - whole.quaternions).max() < 1e-9, "chunking must not change the keys"
    cancelled = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES,
                                                                   chunk_frames=5))
    cancelled.step()
    n_actions = len(bpy.data.actions)
    cancelled.cancel()
    assert len(bpy.data.actions) == n_actions, "cancel creates no action"
    assert target.animation_data is None or target.animation_data.action is None, "cancel assigns nothing"


@pytest.mark.parametrize(("preset_id", "pose", "tpose"), [("ue5_mannequin", "A", True), ("mixamo", "T", False)])
def test_fbx_export_after_retarget_reimports_with_same_motion(fresh_scene, body_model, tmp_path, preset_id, pose,
                                                               tpose):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, preset_id, pose)  # ue5: quaternion, Euler and axis-angle bones mixed
    modes = {target.pose.bones[b].rotation_mode for b in bone_map.target_bones()}
    retarget_action(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES))
    frames = (1, 7, 16, 24)
    before = world_pose(target, frames)
    rest_heads = rest_heads_world(target)
    path = export_character(target, tmp_path / "retargeted.fbx", ExportSettings(file_format="FBX", tpose_frame=tpose,
                                                                                 include_mesh=False))
    target_names = {b.name for b in target.data.bones}
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)  # keep frame numbers
    imported = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(imported) == 1, f"expected one armature in the FBX, got {[o.name for o in imported]}"
    arm = imported[0]
    names = {b.name for b in arm.data.bones}
    assert not any(n.endswith("_end") for n in names), f"leaf bones were added: {sorted(names)[:5]}"
    assert names == target_names, "the FBX keeps every bone name"
    after = world_pose(arm, frames)
    worst = 0.0
    for f in frames:
        tn, th, _ = before[f]
        an, ah, _ = after[f]
        for name in bone_map.target_bones():
            err = np.linalg.norm(th[tn.index(name)] - ah[an.index(name)])
            worst = max(worst, err)
            assert err < 1e-3, f"frame {f}: {name} re-imports {err * 1000:.2f} mm away"
    for joint, child in LIMB_CHILD.items():
        b, c = bone_map.bones.get(joint), target_start_bone(bone_map, child)
        if b is None or c is None:
            continue
        for f in frames:
            tn, th, _ = before[f]
            an, ah, _ = after[f]
            err = angle_deg(th[tn.index(c)] - th[tn.index(b)], ah[an.index(c)] - ah[an.index(b)])
            assert err < 0.5, f"frame {f}: {b} direction changed by {err:.3f}° through FBX"
    if tpose:
        # Without a skinned mesh the importer takes the rest from the first exported frame, so compare world heads
        # at frame 0 with the original rig's rest heads rather than the imported rest.
        assert len(modes) > 1, f"the T-pose case needs bones in several rotation modes, got {modes}"
        (an, ah, _), = world_pose(arm, (0,)).values()
        for name in bone_map.target_bones():
            err = np.linalg.norm(ah[an.index(name)] - rest_heads[name])
            assert err < 1e-3, f"frame 0 (T-pose key): {name} is {err * 1000:.2f} mm from its rest head ({modes})"
    print(f"\nFBX round trip {preset_id}: worst bone head offset {worst * 1000:.4f} mm")


def test_auto_map_finds_each_preset_on_built_rigs(fresh_scene, body_model):
    body = rest_body_from_mapping(body_model)
    for preset_id, pose in PRESET_CASES:
        target, bone_map = make_target(body, preset_id, pose)
        rest = rig_rest(target)
        result = auto_map(rest.names, rest.parents.tolist(), rest.heads_world())
        expected = {"mixamo", "mixamo_bare"} if preset_id.startswith("mixamo") else {preset_id}
        assert result.preset_id in expected, f"{target.name}: auto-map chose {result.preset_id}, expected {expected}"
        assert dict(result.bone_map.bones) == dict(bone_map.bones), f"{target.name}: auto-map bones differ"

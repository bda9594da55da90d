"""Characters, the bulk keyframe writer and export in a real Blender (bpy 5.0 and 4.2), read back with foreach_get."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

from blender_addon.blender_io import (  # noqa: E402
    BuildSettings,
    CurveKeys,
    build_character,
    build_keyed_character,
    action_fcurves,
    character_from_person,
    fcurves_of,
    write_action,
)
from blender_addon.core import (  # noqa: E402
    CAMERA_TO_BLENDER,
    PoseTrack,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_TO_BLENDER,
    axis_angle_to_matrix,
    person_pose_from_json,
    rest_body_from_mapping,
    stack_track,
)


def _read_curve(fcurve) -> np.ndarray:
    co = np.empty(len(fcurve.keyframe_points) * 2, dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


def test_character_bones_rest_and_mesh(fresh_scene, body_model):
    body = rest_body_from_mapping(body_model)
    ch = build_character("TM_track_7", body, track_id=7)
    bones = ch.armature.data.bones
    lift = np.array([0.0, 0.0, -(body.vertices @ SMPL_TO_BLENDER.T)[:, 2].min()])  # the rest stands on z = 0
    assert lift[2] > 0.1, f"the synthetic body's SMPL origin is above its feet, lift {lift}"
    # Blender lists bones depth-first, so compare as sets (parents are checked below).
    assert sorted(b.name for b in bones) == sorted(SMPL_JOINT_NAMES), f"bones: {[b.name for b in bones][:5]}..."
    for j, name in enumerate(SMPL_JOINT_NAMES):
        parent = bones[name].parent
        want = None if SMPL_PARENTS[j] < 0 else SMPL_JOINT_NAMES[SMPL_PARENTS[j]]
        assert (parent.name if parent else None) == want, f"{name}: parent {parent} != {want}"
        head = np.array(bones[name].head_local)
        assert np.abs(head - (SMPL_TO_BLENDER @ body.joints[j] + lift)).max() < 1e-5, f"{name} rest head {head}"
    mesh = ch.mesh.data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    assert np.abs(co.reshape(-1, 3) - (body.vertices @ SMPL_TO_BLENDER.T + lift)).max() < 1e-5, \
        "mesh vertices are C · V lifted"
    assert abs(co[2::3].min()) < 1e-6, "the rest body stands on the floor (lowest vertex at z = 0)"
    assert len(mesh.polygons) == body.faces.shape[0]
    assert [g.name for g in ch.mesh.vertex_groups] == list(SMPL_JOINT_NAMES)
    got_w = np.zeros_like(body.weights)
    for v in mesh.vertices:
        for g in v.groups:
            got_w[v.index, g.group] = g.weight
    assert np.abs(got_w - body.weights).max() < 1e-6, "vertex group weights equal the skin weights"
    mod = ch.mesh.modifiers["Armature"]
    assert mod.object == ch.armature and ch.mesh.parent == ch.armature
    assert ch.armature["tokenmocap_character"] == 7


def test_writer_uses_layered_action_and_reads_back(fresh_scene):
    from blender_addon.blender_io.keyframes import LAYERED_ACTIONS

    assert LAYERED_ACTIONS == (bpy.app.version >= (4, 4, 0)), f"layered actions detected wrongly on {bpy.app.version}"
    obj = bpy.data.objects.new("Empty", None)
    fresh_scene.collection.objects.link(obj)
    frames = np.arange(1, 101, dtype=np.float64)
    values = np.stack([np.sin(frames / 10), np.cos(frames / 10), frames * 0.01], axis=1)
    action = write_action(obj, "A_test", [CurveKeys("location", frames, values, group="Object")])
    assert obj.animation_data.action == action
    if LAYERED_ACTIONS:  # Blender 4.4+: one layer, one keyframe strip, one slot, assigned
        assert obj.animation_data.action_slot == action.slots[0] and len(action.slots) == 1
        assert len(action.layers) == 1 and len(action.layers[0].strips) == 1
        assert list(action.layers[0].strips[0].channelbag(action.slots[0]).fcurves) == list(fcurves_of(obj))
    fcurves = fcurves_of(obj)
    assert len(fcurves) == 3
    assert list(action_fcurves(action)) == list(fcurves), "the action holds exactly the object's three curves"
    for i in range(3):
        co = _read_curve(fcurves.find("location", index=i))
        assert np.abs(co[:, 0] - frames).max() == 0 and np.abs(co[:, 1] - values[:, i]).max() < 1e-6
        assert fcurves.find("location", index=i).group.name == "Object", "the curves are grouped"
    interp = np.empty(100, dtype=np.int32)
    fcurves[0].keyframe_points.foreach_get("interpolation", interp)
    assert np.all(interp == 1), f"expected LINEAR (1) everywhere, got {np.unique(interp)}"
    fresh_scene.frame_set(37)
    assert abs(obj.location.z - 0.37) < 1e-6, f"evaluated location at frame 37: {obj.location.z}"
    with pytest.raises(ValueError, match="interpolation"):
        write_action(obj, "B", [CurveKeys("location", frames, values)], interpolation="WOBBLY")


def test_fcurves_of_reads_without_creating_curves(fresh_scene):
    from blender_addon.blender_io.keyframes import LAYERED_ACTIONS

    obj = bpy.data.objects.new("Empty", None)
    fresh_scene.collection.objects.link(obj)
    with pytest.raises(ValueError, match="has no action assigned"):
        fcurves_of(obj)
    action = bpy.data.actions.new("bare")
    anim = obj.animation_data_create()
    if LAYERED_ACTIONS:  # a slot and a strip but no channelbag: reading must not create one
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        action.layers.new("Layer").strips.new(type="KEYFRAME")
        anim.action, anim.action_slot = action, slot
        with pytest.raises(ValueError, match="has no keys for slot"):
            fcurves_of(obj)
        assert len(action.layers[0].strips[0].channelbags) == 0, "fcurves_of created a channelbag"
    else:
        anim.action = action
        assert len(fcurves_of(obj)) == 0
    assert action_fcurves(action) == []


def _global_deltas(arm_obj) -> dict:
    """World rotation of each posed bone relative to its rest: P · R0⁻¹ (independent of bone rolls)."""
    out = {}
    world = np.array(arm_obj.matrix_world)[:3, :3]
    for pb in arm_obj.pose.bones:
        pose = world @ np.array(pb.matrix)[:3, :3]
        rest = world @ np.array(pb.bone.matrix_local)[:3, :3]
        scale = np.linalg.norm(pose, axis=0)
        out[pb.name] = (pose / scale) @ (rest / np.linalg.norm(rest, axis=0)).T
    return out


def test_keyed_character_reproduces_smpl_pose_and_pelvis(fresh_scene, body_model, make_person):
    person = make_person(seed=3)
    ch = character_from_person(body_model, person, track_id=2, settings=BuildSettings(image_size_wh=(640, 480)))
    arm = ch.armature
    assert arm.name == "TM_track_2" and arm.animation_data.action.name == "TM_track_2_clip"
    fresh_scene.frame_set(1)
    p = person_pose_from_json(person)
    local = np.concatenate([axis_angle_to_matrix(p.global_orient)[None], axis_angle_to_matrix(p.body_pose)])
    glob = np.empty_like(local)
    for j in range(24):
        glob[j] = local[j] if SMPL_PARENTS[j] < 0 else glob[SMPL_PARENTS[j]] @ local[j]
    deltas = _global_deltas(arm)
    for j, name in enumerate(SMPL_JOINT_NAMES):
        want = CAMERA_TO_BLENDER @ glob[j] @ SMPL_TO_BLENDER.T
        err = np.abs(deltas[name] - want).max()
        assert err < 1e-5, f"{name}: posed bone rotation differs from the SMPL global by {err}"
    pelvis = np.array(arm.pose.bones["pelvis"].head)
    want = CAMERA_TO_BLENDER @ (np.asarray(body_model["joints"])[0] + p.cam_t_full)
    assert np.abs(pelvis - want).max() < 1e-5, f"pelvis {pelvis} should be M (J0 + t) = {want}"
    cam = fresh_scene.camera
    assert cam is not None and fresh_scene.render.resolution_x == 640
    assert abs(cam.data.lens - p.focal_length_px * 36 / 640) < 1e-4, f"lens {cam.data.lens}"


def test_video_track_keys_every_frame_and_sets_fps(fresh_scene, body_model, make_person):
    frames = [0, 1, 2, 4, 5]
    pts = [person_pose_from_json(make_person(seed=10 + i, t_z=5 + 0.1 * i)) for i in range(5)]
    track = stack_track(frames, pts)
    body = rest_body_from_mapping(body_model)
    settings = BuildSettings(clip_name="walk.mp4", fps_source=29.97, root_motion="ground_aligned")
    ch = build_keyed_character(4, track, body, settings)
    assert fresh_scene.render.fps == 30 and abs(fresh_scene.render.fps_base - 1.001) < 1e-6
    assert (fresh_scene.frame_start, fresh_scene.frame_end) == (1, 6)
    action = ch.armature.animation_data.action
    assert action.name == "TM_track_4_walk_mp4"
    fcurves = fcurves_of(ch.armature)
    assert len(fcurves) == 24 * 4 + 3, f"expected 99 F-curves (24 quats + pelvis location), got {len(fcurves)}"
    co = _read_curve(fcurves.find('pose.bones["left_knee"].rotation_quaternion', index=0))
    assert co[:, 0].tolist() == [1, 2, 3, 5, 6], f"keys at source frame + 1, got {co[:, 0]}"
    quats = np.stack([_read_curve(fcurves.find('pose.bones["left_knee"].rotation_quaternion', index=i))[:, 1]
                      for i in range(4)], axis=1)
    assert np.sum(quats[1:] * quats[:-1], axis=1).min() >= 0, "sign-continuous keys"
    fresh_scene.frame_set(1)
    head = np.array(ch.armature.pose.bones["pelvis"].head)
    assert np.abs(head[:2]).max() < 1e-5, f"ground_aligned: starts above the origin, pelvis at {head}"


def _posed_mesh_min_z(mesh_obj) -> float:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = mesh_obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
    mesh.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    world = np.array(mesh_obj.matrix_world)
    return float((co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3])[:, 2].min())


@pytest.mark.parametrize("mode", ["ground_aligned", "in_place"])
def test_grounded_modes_put_the_soles_on_the_floor(fresh_scene, body_model, mode):
    """A person standing upright in the rest pose: the mesh's soles touch z = 0, not the toe joints."""
    model = dict(body_model)
    verts = np.array(model["vertices"])
    feet = np.asarray(model["weights"])[:, [10, 11]].sum(axis=1) > 0.5  # the foot boxes
    verts[feet, 1] -= 0.06  # soles 6 cm under the foot joints, like a real body's
    model["vertices"] = verts
    body = rest_body_from_mapping(model)
    n = 3
    track = PoseTrack(frames=np.arange(n), global_orient=np.tile([np.pi, 0.0, 0.0], (n, 1)),
                      body_pose=np.zeros((n, 23, 3)), betas=np.zeros((n, 10)),
                      cam_t_full=np.array([[0.1, 0.2, 5.0 + 0.2 * i] for i in range(n)]), focal_length_px=5000.0)
    ch = build_keyed_character(0, track, body, BuildSettings(fps_source=30.0, root_motion=mode))
    for frame in (1, 3):
        fresh_scene.frame_set(frame)
        low = _posed_mesh_min_z(ch.mesh)
        assert abs(low) < 1e-4, f"{mode} frame {frame}: lowest vertex at z = {low:.4f} m, expected the floor"


def test_video_track_resampled_to_the_scene_rate(fresh_scene, body_model, make_person):
    fresh_scene.render.fps, fresh_scene.render.fps_base = 24, 1.0
    pts = [person_pose_from_json(make_person(seed=40 + i, t_z=5.0 + 0.03 * i, scale=0.2)) for i in range(31)]
    track = stack_track(list(range(31)), pts)  # 1 s at 30 fps
    body = rest_body_from_mapping(body_model)
    ch = build_keyed_character(1, track, body, BuildSettings(fps_source=30.0, set_scene_fps=False))
    assert fresh_scene.render.fps == 24, "the scene keeps its own rate"
    loc_y = _read_curve(fcurves_of(ch.armature).find('pose.bones["pelvis"].location', index=2))
    assert loc_y[:, 0].tolist() == list(range(1, 26)), f"1 s at 24 fps = frames 1..25, got {loc_y[:, 0]}"
    fresh_scene.frame_set(13)  # 0.5 s: source frame 15 exactly
    want = np.array(bpy.data.objects["TM_track_1"].pose.bones["pelvis"].head)
    fresh_scene.frame_set(1)
    start = np.array(bpy.data.objects["TM_track_1"].pose.bones["pelvis"].head)
    # Camera space: pelvis y = t_z + J0 z, and t_z grows 0.03 m per source frame.
    assert abs((want[1] - start[1]) - 15 * 0.03) < 1e-5, f"half a second moves 0.45 m, got {want[1] - start[1]}"

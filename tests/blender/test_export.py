"""Export a keyed character (FBX, BVH, glTF), re-import it and compare the motion; scene state is restored."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

from blender_addon.blender_io import ExportSettings, build_keyed_character, export_character  # noqa: E402
from blender_addon.core import person_pose_from_json, rest_body_from_mapping, stack_track  # noqa: E402

FRAMES = (1, 3, 6, 8)


def _keyed(body_model, make_person):
    pts = [person_pose_from_json(make_person(seed=20 + i, t_z=5 + 0.2 * i, scale=0.4)) for i in range(8)]
    body = rest_body_from_mapping(body_model)
    from blender_addon.blender_io import BuildSettings

    return build_keyed_character(0, stack_track(list(range(8)), pts), body, BuildSettings(fps_source=30.0))


def _pose_world(arm_obj, frames) -> dict:
    """Per frame and bone: world rotation delta P·R0⁻¹ (independent of bone rolls) and world head."""
    scene = bpy.context.scene
    out = {}
    for f in frames:
        scene.frame_set(f)
        world = np.array(arm_obj.matrix_world)
        for pb in arm_obj.pose.bones:
            pose = world @ np.array(pb.matrix)
            rest = world @ np.array(pb.bone.matrix_local)
            rp = pose[:3, :3] / np.linalg.norm(pose[:3, :3], axis=0)
            rr = rest[:3, :3] / np.linalg.norm(rest[:3, :3], axis=0)
            out[(f, pb.name)] = (rp @ rr.T, pose[:3, 3])
    return out


def _imported_armature():
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert len(arms) == 1, f"expected one imported armature, got {[o.name for o in arms]}"
    return arms[0]


def test_fbx_round_trip_rotations_within_1e4(fresh_scene, body_model, make_person, tmp_path):
    ch = _keyed(body_model, make_person)
    before = _pose_world(ch.armature, FRAMES)
    path = export_character(ch.armature, tmp_path / "take.fbx", ExportSettings("FBX"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)  # keep frame numbers
    arm = _imported_armature()
    names = {b.name for b in arm.data.bones}
    assert not any(n.endswith("_end") for n in names), f"add_leaf_bones=False: no *_end bones, got {sorted(names)}"
    assert len(names) == 24, f"24 bones expected, got {len(names)}"
    assert any(o.type == "MESH" for o in bpy.context.scene.objects), "the body mesh is exported too"
    after = _pose_world(arm, FRAMES)
    rot_err = max(np.abs(before[k][0] - after[k][0]).max() for k in before)
    pos_err = max(np.abs(before[k][1] - after[k][1]).max() for k in before)
    assert rot_err < 1e-4, f"FBX round trip: bone rotations differ by {rot_err} (limit 1e-4)"
    assert pos_err < 1e-4, f"FBX round trip: bone heads differ by {pos_err} m (limit 1e-4)"
    moving = max(np.abs(before[(1, n)][0] - before[(8, n)][0]).max() for n in names)
    assert moving > 0.1, f"the test motion must change between frames 1 and 8, max change {moving}"


def test_fbx_tpose_frame_and_state_restored(fresh_scene, body_model, make_person, tmp_path):
    ch = _keyed(body_model, make_person)
    other = bpy.data.objects.new("Other", None)
    fresh_scene.collection.objects.link(other)
    other.select_set(True)
    bpy.context.view_layer.objects.active = other
    fresh_scene.frame_set(5)
    action = ch.armature.animation_data.action
    n_actions = len(bpy.data.actions)
    path = export_character(ch.armature, tmp_path / "tpose.fbx", ExportSettings("FBX", tpose_frame=True))
    assert fresh_scene.frame_current == 5 and (fresh_scene.frame_start, fresh_scene.frame_end) == (1, 8)
    assert other.select_get() and not ch.armature.select_get(), "selection restored"
    assert bpy.context.view_layer.objects.active == other, "active object restored"
    assert ch.armature.animation_data.action == action and len(bpy.data.actions) == n_actions, "no action left over"
    frame_range = tuple(action.frame_range)
    assert frame_range == (1.0, 8.0), f"the artist's action is unchanged: range {frame_range}"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)  # keep frame numbers
    arm = _imported_armature()
    bpy.context.scene.frame_set(0)
    worst = max(np.abs(np.array(pb.matrix_basis)[:3, :3] - np.eye(3)).max() for pb in arm.pose.bones)
    assert worst < 1e-4, f"frame 0 must be the rest (T) pose, max deviation {worst}"


def test_bvh_and_glb_export_reimport(fresh_scene, body_model, make_person, tmp_path):
    ch = _keyed(body_model, make_person)
    before = _pose_world(ch.armature, (1, 8))
    bvh = export_character(ch.armature, tmp_path / "take.bvh", ExportSettings("BVH"))
    glb = export_character(ch.armature, tmp_path / "take.glb", ExportSettings("GLTF"))
    text = bvh.read_text()
    assert "JOINT left_knee" in text and "Frames: 8" in text, "BVH has the SMPL joints and 8 frames"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 30  # glTF stores seconds; the importer converts with the scene's rate
    bpy.ops.import_scene.gltf(filepath=str(glb))
    arm = _imported_armature()
    after = _pose_world(arm, (1, 8))
    err = max(np.abs(before[k][0] - after[k][0]).max() for k in before)
    assert err < 1e-4, f"glTF round trip at frames 1 and 8: rotations differ by {err}"
    with pytest.raises(ValueError, match="must end in .fbx"):
        export_character(arm, tmp_path / "x.obj", ExportSettings("FBX"))

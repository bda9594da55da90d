"""A video character is visible only while its person is tracked (hide keys on the armature's own action, drivers
on the mesh); a whole-range track and an image get no keys; export and retarget work while it is hidden."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

from blender_addon.blender_io import (  # noqa: E402
    VISIBILITY_PATHS,
    BuildSettings,
    ExportSettings,
    action_fcurves,
    build_keyed_character,
    character_from_person,
    export_character,
    fcurves_of,
    fit_video_characters,
)
from blender_addon.core import (  # noqa: E402
    SMPL_JOINT_NAMES,
    person_pose_from_json,
    rest_body_from_mapping,
    stack_track,
)

VIDEO = BuildSettings(clip_name="vis", fps_source=30.0)


def _track(make_person, frames, seed):
    points = [person_pose_from_json(make_person(seed=seed + i, t_z=5 + 0.1 * i, scale=0.4))
              for i in range(len(frames))]
    return stack_track(list(frames), points)


def _video(body_model, make_person):
    """Track 0 on every frame 1..10, track 1 on frames 4..7 only (source frames 3..6), fitted like video_mocap."""
    body = rest_body_from_mapping(body_model)
    whole = build_keyed_character(0, _track(make_person, range(10), 0), body, VIDEO)
    part = build_keyed_character(1, _track(make_person, range(3, 7), 50), body, VIDEO)
    fit_video_characters(bpy.context.scene, [whole, part])
    return whole, part


def _keys(fcurve) -> list[tuple[float, float]]:
    co = np.empty(len(fcurve.keyframe_points) * 2, dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", co)
    return [tuple(map(float, p)) for p in co.reshape(-1, 2)]


def _visibility(obj) -> tuple[bool, bool]:
    return tuple(bool(getattr(obj, path)) for path in VISIBILITY_PATHS)


def test_partial_track_is_hidden_outside_its_range(fresh_scene, body_model, make_person):
    whole, part = _video(body_model, make_person)
    assert (fresh_scene.frame_start, fresh_scene.frame_end) == (1, 10)
    action = part.armature.animation_data.action
    assert tuple(action.frame_range) == (4.0, 7.0), f"the action's range is still the track's: {action.frame_range}"
    fcurves = fcurves_of(part.armature)
    for path in VISIBILITY_PATHS:
        fc = fcurves.find(path, index=0)
        assert fc is not None, f"{path} is keyed on the armature's own action"
        assert _keys(fc) == [(3.0, 1.0), (4.0, 0.0), (8.0, 1.0)], f"{path}: hidden 3, shown 4, hidden 8: {_keys(fc)}"
        assert {k.interpolation for k in fc.keyframe_points} == {"CONSTANT"}
    mesh_anim = part.mesh.animation_data
    assert mesh_anim is not None and mesh_anim.action is None, "the mesh gets no action"
    assert len(bpy.data.actions) == 2, f"one action per character, got {[a.name for a in bpy.data.actions]}"
    for path in VISIBILITY_PATHS:
        driver = mesh_anim.drivers.find(path, index=0)
        assert driver is not None and driver.driver.is_valid, f"the mesh's {path} is driven by the armature's"
    for frame, hidden in ((2, True), (4, False), (7, False), (9, True)):
        fresh_scene.frame_set(frame)
        for obj in (part.armature, part.mesh):
            assert _visibility(obj) == (hidden, hidden), f"frame {frame}: {obj.name} hide {_visibility(obj)}"
        assert _visibility(whole.armature) == (False, False) and _visibility(whole.mesh) == (False, False)
    fresh_scene.frame_set(5)
    knee = np.array(part.armature.pose.bones["left_knee"].matrix)
    fresh_scene.frame_set(9)
    fresh_scene.frame_set(5)
    assert np.abs(np.array(part.armature.pose.bones["left_knee"].matrix) - knee).max() < 1e-6, \
        "shown again, the pose is evaluated"


def test_whole_range_track_and_image_get_no_visibility_keys(fresh_scene, body_model, make_person):
    whole, _ = _video(body_model, make_person)
    assert all(fc.data_path not in VISIBILITY_PATHS for fc in fcurves_of(whole.armature)), \
        "a track spanning the scene range gets no visibility keys"
    assert whole.mesh.animation_data is None, "nor drivers on its mesh"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    image = character_from_person(body_model, make_person(seed=3))
    assert all(fc.data_path not in VISIBILITY_PATHS
               for fc in action_fcurves(image.armature.animation_data.action)), "an image gets no visibility keys"
    assert image.mesh.animation_data is None
    # A track that spanned the range loses its keys when the range is re-fitted to it alone.
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _, part = _video(body_model, make_person)
    scene = bpy.context.scene
    fit_video_characters(scene, [part])
    assert (scene.frame_start, scene.frame_end) == (4, 7)
    assert all(fc.data_path not in VISIBILITY_PATHS for fc in fcurves_of(part.armature))
    assert tuple(part.armature.animation_data.action.frame_range) == (4.0, 7.0)


def _imported_pose(frames) -> dict:
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert len(arms) == 1, f"expected one imported armature, got {[o.name for o in arms]}"
    assert any(o.type == "MESH" for o in bpy.context.scene.objects), "the body mesh is exported too"
    return _pose(arms[0], frames)


def _pose(arm, frames) -> dict:
    out = {}
    for f in frames:
        bpy.context.scene.frame_set(f)
        world = np.array(arm.matrix_world)
        for pb in arm.pose.bones:
            pose, rest = world @ np.array(pb.matrix), world @ np.array(pb.bone.matrix_local)
            rp = pose[:3, :3] / np.linalg.norm(pose[:3, :3], axis=0)
            rr = rest[:3, :3] / np.linalg.norm(rest[:3, :3], axis=0)
            out[(f, pb.name)] = np.concatenate([(rp @ rr.T).ravel(), pose[:3, 3]])
    return out


def _round_trip(path, frames) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.suffix == ".fbx":
        bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)  # keep frame numbers
    else:
        bpy.context.scene.render.fps = 30  # glTF stores seconds; the importer converts with the scene's rate
        bpy.ops.import_scene.gltf(filepath=str(path))
    return _imported_pose(frames)


def test_export_while_hidden_round_trips_like_before(fresh_scene, body_model, make_person, tmp_path):
    body = rest_body_from_mapping(body_model)
    whole = build_keyed_character(0, _track(make_person, range(10), 0), body, VIDEO)
    part = build_keyed_character(1, _track(make_person, range(3, 7), 50), body, VIDEO)
    frames = (4, 5, 7)
    before = _pose(part.armature, frames)
    reference = [export_character(part.armature, tmp_path / "reference.fbx"),  # no visibility keys yet
                 export_character(part.armature, tmp_path / "reference.glb", ExportSettings("GLTF"))]
    fit_video_characters(fresh_scene, [whole, part])
    fresh_scene.frame_set(9)
    assert _visibility(part.armature) == (True, True) and _visibility(part.mesh) == (True, True)
    hidden = [export_character(part.armature, tmp_path / "hidden.fbx"),
              export_character(part.armature, tmp_path / "hidden.glb", ExportSettings("GLTF"))]
    bvh = export_character(part.armature, tmp_path / "hidden.bvh", ExportSettings("BVH"))
    assert fresh_scene.frame_current == 9 and (fresh_scene.frame_start, fresh_scene.frame_end) == (1, 10)
    assert _visibility(part.armature) == (True, True) and _visibility(part.mesh) == (True, True), "still hidden"
    assert not any(fc.mute for fc in fcurves_of(part.armature)), "the visibility keys are unmuted"
    assert not any(fc.mute for fc in part.mesh.animation_data.drivers), "the mesh's drivers are unmuted"
    assert "Frames: 4" in bvh.read_text(), "BVH has the track's 4 frames"
    for ref_path, path in zip(reference, hidden):
        ref, after = _round_trip(ref_path, frames), _round_trip(path, frames)
        same = max(np.abs(ref[k] - after[k]).max() for k in ref)
        assert same < 1e-6, f"{path.name}: exported while hidden must round-trip like before, differs by {same}"
        if path.suffix == ".fbx":
            err = max(np.abs(before[k] - after[k]).max() for k in before)
            assert err < 1e-4, f"{path.name}: round trip differs from the scene by {err} (limit 1e-4)"


def test_retarget_from_a_hidden_character_samples_every_frame(fresh_scene, body_model, make_person):
    from blender_addon.retarget import BoneMap
    from blender_addon.retarget.bake import BakeSettings, retarget_action

    body = rest_body_from_mapping(body_model)
    part = build_keyed_character(1, _track(make_person, range(3, 7), 50), body, VIDEO)
    target = build_keyed_character(2, _track(make_person, range(1), 90), body, VIDEO).armature
    bone_map = BoneMap("smpl", {n: n for n in SMPL_JOINT_NAMES})
    settings = BakeSettings(frame_start=1, frame_end=10)  # past both ends of the track
    reference = {fc.data_path + str(fc.array_index): _keys(fc)
                 for fc in action_fcurves(retarget_action(part.armature, target, bone_map, settings))}
    whole = build_keyed_character(0, _track(make_person, range(10), 0), body, VIDEO)
    fit_video_characters(fresh_scene, [whole, part])
    fresh_scene.frame_set(7)  # last evaluated pose: frame 7's, which a hidden frame 1..3 would wrongly keep
    fresh_scene.frame_set(9)
    assert _visibility(part.armature) == (True, True)
    baked = {fc.data_path + str(fc.array_index): _keys(fc)
             for fc in action_fcurves(retarget_action(part.armature, target, bone_map, settings))}
    assert baked.keys() == reference.keys()
    err = max(np.abs(np.array(baked[k]) - np.array(reference[k])).max() for k in reference)
    assert err < 1e-5, f"the hidden source must be sampled like a visible one, keys differ by {err}"
    assert fresh_scene.frame_current == 9 and _visibility(part.armature) == (True, True), "state restored"

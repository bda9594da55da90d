"""The ``tokenmocap.retarget`` operators and the live constraint preview in a real Blender (bpy 5.0).

Rig builders come from ``test_retarget_bake`` (same folder; pytest puts it on ``sys.path``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

import blender_addon  # noqa: E402
from blender_addon import registration  # noqa: E402
from blender_addon.ops import retarget as retarget_ops  # noqa: E402
from blender_addon.retarget import RetargetSettings, load_bone_map  # noqa: E402
from blender_addon.retarget.bake import BakeSettings, RetargetJob, retarget_action  # noqa: E402
from blender_addon.retarget.preview import PREVIEW_CONSTRAINT, add_preview, has_preview, remove_preview  # noqa: E402
from test_retarget_bake import (  # noqa: E402
    LIMB_CHILD,
    N_FRAMES,
    angle_deg,
    known_track,
    make_source,
    make_target,
    rest_snapshot,
    target_start_bone,
    world_pose,
)


@pytest.fixture
def addon(fresh_scene):
    """The add-on registered (with the retarget module, whether or not registration.py lists it yet)."""
    blender_addon.register()
    own = "ops.retarget" not in registration.MODULES
    if own:
        for cls in retarget_ops.classes:
            bpy.utils.register_class(cls)
        retarget_ops.register_properties()
    yield fresh_scene
    if own:
        retarget_ops.unregister_properties()
        for cls in reversed(retarget_ops.classes):
            bpy.utils.unregister_class(cls)
    blender_addon.unregister()


def _preview_count(obj) -> int:
    return sum(1 for pb in obj.pose.bones for c in pb.constraints if c.name.startswith(PREVIEW_CONSTRAINT))


def test_operator_bakes_with_preset_and_reports(addon, body_model):
    source, body = make_source(body_model)
    target, _ = make_target(body, "rigify_fk", "A")
    result = bpy.ops.tokenmocap.retarget(source=source.name, target=target.name, map_mode="PRESET",
                                         preset="rigify_fk", action_name="take_on_rig")
    assert result == {"FINISHED"}, f"operator returned {result}"
    action = target.animation_data.action
    assert action.name == "take_on_rig", f"new action name {action.name}"
    assert tuple(action.frame_range) == (1.0, float(N_FRAMES)), f"frame range follows the source: {action.frame_range}"
    assert action["tokenmocap_retarget_source"] == source.name


def test_ground_aligned_character_retargets_onto_a_rig_standing_on_the_floor(addon, body_model):
    """A ground-aligned character walks on z = 0; a rig standing on z = 0 must walk there too (REST root motion).

    Regression: the character's rest pose used to be SMPL's (origin near the pelvis, feet ~1 m under the floor),
    so "hips relative to the rest pose" lifted the rig by that much: an artist's rig floated a metre up.
    """
    from blender_addon.blender_io import BuildSettings, build_keyed_character
    from blender_addon.core import rest_body_from_mapping

    body = rest_body_from_mapping(body_model)
    source = build_keyed_character(0, known_track(), body, BuildSettings(fps_source=30.0,
                                                                         root_motion="ground_aligned")).armature
    target, _ = make_target(body, "mixamo", "A")  # FBX-like object transform (Rx 90°, scale 0.01), feet on z = 0
    assert bpy.ops.tokenmocap.retarget(source=source.name, target=target.name, map_mode="PRESET",
                                       preset="mixamo") == {"FINISHED"}
    src_feet = ("left_ankle", "right_ankle")
    tgt_feet = ("mixamorig:LeftFoot", "mixamorig:RightFoot")
    src_pose, tgt_pose = world_pose(source, range(1, N_FRAMES + 1)), world_pose(target, range(1, N_FRAMES + 1))
    src_low = np.array([min(p[1][p[0].index(n)][2] for n in src_feet) for p in src_pose.values()])
    tgt_low = np.array([min(p[1][p[0].index(n)][2] for n in tgt_feet) for p in tgt_pose.values()])
    assert src_low.min() > -0.05 and src_low.min() < 0.2, f"the source's ankles touch the floor: {src_low.min()}"
    gap = np.abs(tgt_low - 1.07 * src_low).max()  # the target is 1.07 times the source's size
    assert gap < 0.05, f"the rig's ankles follow the character's over the floor, worst difference {gap:.3f} m " \
                       f"(rig lowest {tgt_low.min():.3f} m, character lowest {src_low.min():.3f} m)"


def test_operator_auto_map_and_errors(addon, body_model, tmp_path):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "ue4_mannequin", "T")
    assert bpy.ops.tokenmocap.retarget(source=source.name, target=target.name, map_mode="AUTO",
                                       frame_start=3, frame_end=9) == {"FINISHED"}
    assert tuple(target.animation_data.action.frame_range) == (3.0, 9.0)
    # A map file with a bone the rig lacks: the error names the entry; nothing is baked.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "tokenmocap.bone_map", "version": 1, "name": "bad",
                               "bones": {"pelvis": "Pelvis_missing"}}))
    before = target.animation_data.action
    with pytest.raises(RuntimeError, match=r"bones\['pelvis'\]: bone 'Pelvis_missing' not found"):
        bpy.ops.tokenmocap.retarget(source=source.name, target=target.name, map_mode="FILE", map_file=str(bad))
    assert target.animation_data.action == before, "a failed retarget leaves the assigned action alone"
    with pytest.raises(RuntimeError, match="same object"):
        bpy.ops.tokenmocap.retarget(source=source.name, target=source.name)
    bpy.context.view_layer.objects.active = target
    bpy.ops.object.mode_set(mode="EDIT")
    with pytest.raises(RuntimeError, match="is in Edit Mode; switch it to Object or Pose Mode"):
        bpy.ops.tokenmocap.retarget(source=source.name, target=target.name, map_mode="PRESET", preset="ue4_mannequin")
    bpy.ops.object.mode_set(mode="OBJECT")
    # Save the auto map, load it back: same bones as the preset the rig was built from.
    path = tmp_path / "saved_map.json"
    assert bpy.ops.tokenmocap.retarget_save_map(target=target.name, map_mode="AUTO", filepath=str(path)) == \
        {"FINISHED"}
    saved = load_bone_map(path)
    assert dict(saved.bones) == dict(bone_map.bones), "the saved auto map equals the UE4 preset's bones"


def test_retarget_tick_progress_and_cancel_leave_rig_untouched(addon, body_model):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "mixamo_bare", "A")
    rest = rest_snapshot(target)
    ctx = bpy.context
    job = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES, chunk_frames=8))
    ctx.window_manager.progress_begin(0, 100)
    assert retarget_ops.retarget_tick(ctx, job) is False and job.progress == pytest.approx(8 / 24)
    job.cancel_requested = True  # what Esc does in the modal handler
    job.cancel()
    ctx.window_manager.progress_end()
    assert target.animation_data is None or target.animation_data.action is None, "cancel bakes nothing"
    assert rest_snapshot(target) == rest, "cancel leaves the rest pose as it was"


def test_live_preview_matches_bake_and_is_removed(addon, body_model):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "ue5_mannequin", "A")
    rest = rest_snapshot(target)
    n_objects = len(bpy.data.objects)
    assert bpy.ops.tokenmocap.retarget(source=source.name, target=target.name, map_mode="PRESET",
                                       preset="ue5_mannequin", preview=True) == {"FINISHED"}
    assert has_preview(target), "the preview is recorded on the target"
    unconstrained = [b for b in bone_map.target_bones()
                     if not any(c.name.startswith(PREVIEW_CONSTRAINT) for c in target.pose.bones[b].constraints)]
    assert not unconstrained, f"every mapped bone follows the source in the preview; missing {unconstrained}"
    extra = [pb.name for pb in target.pose.bones if pb.name not in bone_map.target_bones() and pb.constraints]
    assert not extra, f"unmapped bones get no preview constraints: {extra}"
    frames = (1, 9, 17, 24)
    live = world_pose(target, frames)
    src = world_pose(source, frames)
    # The preview is exact for one-to-one limbs and the hips.
    worst = 0.0
    for joint, child in LIMB_CHILD.items():
        b, c = bone_map.bones.get(joint), target_start_bone(bone_map, child)
        if b is None or c is None or joint in ("spine3", "neck"):
            continue
        for f in frames:
            sn, sh, _ = src[f]
            tn, th, _ = live[f]
            err = angle_deg(sh[sn.index(child)] - sh[sn.index(joint)], th[tn.index(c)] - th[tn.index(b)])
            worst = max(worst, err)
            assert err < 2.0, f"preview frame {f}: {b} off by {err:.3f}° from {joint}"
    # Bake (which removes the preview) and compare the hips and limb heads with what the preview showed.
    retarget_action(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES))
    assert not has_preview(target) and _preview_count(target) == 0, "the bake removes the preview constraints"
    assert len(bpy.data.objects) == n_objects, "the preview's helper empties are deleted"
    baked = world_pose(target, frames)
    worst_pos = 0.0
    for f in frames:
        tn, th, _ = live[f]
        bn, bh, _ = baked[f]
        for name in ("pelvis", "hand_l", "foot_r", "lowerarm_r"):
            err = np.linalg.norm(th[tn.index(name)] - bh[bn.index(name)])
            worst_pos = max(worst_pos, err)
            # Chains are previewed without the bake's chord correction: up to ~2 cm at the hands for this large
            # test motion.
            assert err < 0.03, f"frame {f}: preview and bake place {name} {err * 1000:.1f} mm apart"
        hips_err = np.linalg.norm(th[tn.index("pelvis")] - bh[bn.index("pelvis")])
        assert hips_err < 1e-4, f"frame {f}: preview hips {hips_err * 1000:.3f} mm from the baked hips"
    assert rest_snapshot(target) == rest, "preview and bake leave the rest pose byte-identical"
    print(f"\npreview: worst limb direction error {worst:.4f}°, preview vs bake {worst_pos * 1000:.2f} mm")


def test_preview_clear_operator_and_in_place(addon, body_model):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "metahuman_body", "T")
    count = add_preview(source, target, bone_map, RetargetSettings(root_motion="IN_PLACE"), frame_start=1)
    assert count == _preview_count(target) > 0
    rest_hips = np.array(target.matrix_world) @ np.append(np.array(target.data.bones["pelvis"].head_local), 1.0)
    bpy.context.scene.frame_set(12)
    hips = np.array(target.matrix_world) @ np.array(target.pose.bones["pelvis"].matrix)[:, 3]
    assert np.abs(hips[:2] - rest_hips[:2]).max() < 1e-4, f"IN_PLACE preview keeps the hips over the rest: {hips}"
    assert bpy.ops.tokenmocap.retarget_clear_preview(target=target.name) == {"FINISHED"}
    assert _preview_count(target) == 0 and not has_preview(target)
    assert remove_preview(target) == 0, "removing twice is harmless"


def test_verify_measures_the_bake_and_catches_constrained_parents(addon, body_model):
    source, body = make_source(body_model)
    target, bone_map = make_target(body, "rigify_fk", "A")
    job = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES))
    job.finish()
    error_deg, where = job.verify([1, 12, 24])
    assert error_deg < 0.1, f"a clean bake verifies within 0.1°, got {error_deg:.3f}° at {where}"
    # A constraint on an unmapped parent (as Rigify's MCH parents have) is outside the solver's model: verify
    # must notice it and name the limb.
    con = target.pose.bones["MCH-thigh_parent.L"].constraints.new("LIMIT_ROTATION")
    con.use_limit_x = con.use_limit_y = con.use_limit_z = True
    con.owner_space = "WORLD"
    bad_deg, bad_where = job.verify([1, 12, 24])
    assert bad_deg > 2.0 and bad_where in ("thigh_fk.L ← left_hip", "shin_fk.L ← left_knee"), \
        f"verify should flag the left leg under the constrained parent, got {bad_deg:.2f}° at {bad_where!r}"


def test_verify_accepts_rest_proportions_that_differ_from_smpl(addon, body_model):
    """Mixamo-like hips (thighs wider and higher than SMPL's): a correct bake verifies clean, no "check the map".

    Regression: verify compared raw directions, so the hips' three limbs (one rotation cannot align three rest
    directions that differ from SMPL's) reported ~25° on a correct map and the operator warned.
    """
    from mathutils import Vector

    source, body = make_source(body_model)
    target, bone_map = make_target(body, "mixamo", "A")
    inv = target.matrix_world.inverted()
    bpy.context.view_layer.objects.active = target
    bpy.ops.object.mode_set(mode="EDIT")
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        bone = target.data.edit_bones[f"mixamorig:{side}UpLeg"]
        bone.head = inv @ (target.matrix_world @ bone.head + Vector((0.05 * sign, 0.0, 0.06)))
    bpy.ops.object.mode_set(mode="OBJECT")
    job = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES))
    job.finish()
    error_deg, where = job.verify([1, 12, 24])
    assert error_deg < 0.1, f"a clean bake onto other hip proportions verifies within 0.1°, got {error_deg:.2f}° " \
                            f"at {where}"


def test_operator_modal_steps_on_timer_and_esc_cancels(addon, body_model):
    """``TOKENMOCAP_OT_retarget.modal`` itself: TIMER ticks bake chunks, other events pass through, Esc cancels and
    leaves the rig unchanged. The bpy module has no window (no event timers), so ``self`` is a stand-in and the
    window manager's timer removal is recorded instead."""
    from types import SimpleNamespace

    source, body = make_source(body_model)
    target, bone_map = make_target(body, "ue4_mannequin", "A")
    rest = rest_snapshot(target)
    wm = bpy.context.window_manager
    removed = []
    context = SimpleNamespace(window_manager=SimpleNamespace(
        event_timer_remove=removed.append, progress_update=wm.progress_update, progress_end=wm.progress_end))
    op_class = bpy.types.TOKENMOCAP_OT_retarget
    reports = []
    job = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES, chunk_frames=6))
    op = SimpleNamespace(_job=job, _timer="timer", report=lambda level, msg: reports.append((set(level), msg)))
    op._end = lambda ctx, j: op_class._end(op, ctx, j)
    assert op_class.modal(op, context, SimpleNamespace(type="TIMER", value="NOTHING")) == {"RUNNING_MODAL"}
    assert job.progress == pytest.approx(6 / 24), job.progress
    assert op_class.modal(op, context, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) == {"PASS_THROUGH"}
    assert job.progress == pytest.approx(6 / 24), "other events do not step the bake"
    assert op_class.modal(op, context, SimpleNamespace(type="ESC", value="PRESS")) == {"CANCELLED"}
    assert removed == ["timer"] and reports == [({"WARNING"}, f"retarget cancelled; {target.name} is unchanged")]
    assert target.animation_data is None or target.animation_data.action is None, "Esc bakes nothing"
    assert rest_snapshot(target) == rest
    # Without Esc the ticks run to the end and bake.
    job = RetargetJob(source, target, bone_map, BakeSettings(frame_start=1, frame_end=N_FRAMES, chunk_frames=6))
    op._job = job
    results = [op_class.modal(op, context, SimpleNamespace(type="TIMER", value="NOTHING")) for _ in range(4)]
    assert results == [{"RUNNING_MODAL"}] * 3 + [{"FINISHED"}], results
    assert target.animation_data.action is not None and reports[-1][0] == {"INFO"}, reports[-1]

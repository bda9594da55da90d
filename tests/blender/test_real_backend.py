"""The add-on's operators against the REAL backend process on loopback (tiny TokenHMR + synthetic SMPL).

The Blender venv has no torch, so the backend runs as a subprocess of the project's backend venv
(``.venv/bin/python tests/blender/real_backend.py``); the test skips, saying so, when that venv is missing.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")
Rotation = pytest.importorskip("scipy.spatial.transform", reason="needs scipy in the Blender venv").Rotation

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKEND_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
C = Rotation.from_euler("x", 90, degrees=True).as_matrix()
M = Rotation.from_euler("x", -90, degrees=True).as_matrix()


@pytest.fixture(scope="module")
def real_backend(tmp_path_factory):
    if not BACKEND_PYTHON.is_file():
        pytest.skip(f"{BACKEND_PYTHON} is missing: the real backend needs the project's backend venv "
                    "(bash scripts/setup.sh creates it)")
    work = tmp_path_factory.mktemp("backend")
    proc = subprocess.Popen([str(BACKEND_PYTHON), str(REPO_ROOT / "tests" / "blender" / "real_backend.py"), str(work)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO_ROOT)
    try:
        line = proc.stdout.readline()
        if not line:
            proc.wait(30)
            pytest.fail(f"the backend did not start (exit {proc.returncode}):\n{proc.stderr.read()[-3000:]}")
        info = json.loads(line)
        yield info
    finally:
        proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _smpl_globals(global_orient: np.ndarray, body_pose: np.ndarray, parents) -> np.ndarray:
    local = np.concatenate([Rotation.from_rotvec(global_orient[None]).as_matrix(),
                            Rotation.from_rotvec(body_pose).as_matrix()])
    glob = np.empty_like(local)
    for j in range(24):
        glob[j] = local[j] if parents[j] < 0 else glob[parents[j]] @ local[j]
    return glob


def test_connection_to_real_backend(addon, addon_prefs, real_backend):
    addon_prefs.backend_address = real_backend["address"]
    assert bpy.ops.tokenmocap.test_connection() == {"FINISHED"}
    assert addon_prefs.connection_status.startswith("connected") and "tokenhmr" in addon_prefs.connection_status, \
        addon_prefs.connection_status
    assert addon_prefs.connection_status.endswith("; runs tokenhmr"), \
        f"the status names the engine requests run: {addon_prefs.connection_status}"


def test_reconstruct_image_with_real_backend(addon, addon_prefs, real_backend, tmp_path):
    from bl_ext.tmtest.tokenmocap.blender_io import BuildSettings, ExportSettings, export_character
    from bl_ext.tmtest.tokenmocap.bridge import ImageJob
    from bl_ext.tmtest.tokenmocap.ops.runtime import JobRun, make_worker, run_blocking

    addon_prefs.backend_address = real_backend["address"]
    image = Path(real_backend["image"])
    # The operator end to end (what a script or the UI calls) ...
    assert bpy.ops.tokenmocap.reconstruct_image(filepath=str(image)) == {"FINISHED"}
    assert "TM_track_0" in bpy.data.objects, [o.name for o in bpy.data.objects]
    # ... and the same job through the runtime, to compare the scene with the backend's numbers.
    for obj in list(bpy.data.objects):  # (a factory reset would also disable the add-on)
        bpy.data.objects.remove(obj)
    worker = make_worker(bpy.context)
    job = ImageJob(worker, image.read_bytes(), "png", person_indices=[0])
    run = run_blocking(bpy.context, JobRun(worker, job, BuildSettings(image_size_wh=(512, 512))), timeout_s=120)
    assert run.error is None, run.error
    arm = run.characters[0].armature
    mesh = run.characters[0].mesh
    ready = job.ready[0]
    body, person = ready.body, job.people[0]
    assert len(mesh.data.vertices) == body.vertices.shape[0] and len(arm.data.bones) == 24
    co = np.empty(len(mesh.data.vertices) * 3, dtype=np.float32)
    mesh.data.vertices.foreach_get("co", co)
    lift = np.array([0.0, 0.0, -(body.vertices @ C.T)[:, 2].min()])  # the rest stands on the floor
    assert np.abs(co.reshape(-1, 3) - (body.vertices @ C.T + lift)).max() < 1e-5, \
        "rest mesh = C · body_model vertices, lifted"
    heads = np.array([arm.data.bones[n].head_local for n in body.joint_names])
    assert np.abs(heads - (body.joints @ C.T + lift)).max() < 1e-5, "rest skeleton = C · J(β) of the betas, lifted"
    bpy.context.scene.frame_set(1)
    glob = _smpl_globals(person.global_orient, person.body_pose, body.parents)
    for j, name in enumerate(body.joint_names):
        pb = arm.pose.bones[name]
        got = np.array(pb.matrix)[:3, :3] @ np.array(pb.bone.matrix_local)[:3, :3].T
        err = np.abs(got - M @ glob[j] @ C.T).max()
        assert err < 1e-4, f"{name}: posed rotation differs from the backend's SMPL pose by {err}"
    pelvis = np.array(arm.pose.bones["pelvis"].head)
    want = M @ (body.joints[0] + person.cam_t_full)
    assert np.abs(pelvis - want).max() < 1e-4, f"pelvis {pelvis} != M (J0 + t) {want}"
    path = export_character(arm, tmp_path / "real.fbx", ExportSettings("FBX"))
    assert path.stat().st_size > 10_000


def test_video_mocap_with_real_backend(addon, addon_prefs, real_backend):
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing (Debian package opencv-doc)")
    from bl_ext.tmtest.tokenmocap.blender_io import fcurves_of
    from bl_ext.tmtest.tokenmocap.bridge import protocol

    addon_prefs.backend_address = real_backend["address"]
    try:
        result = bpy.ops.tokenmocap.video_mocap(filepath=str(VTEST), frame_start=0, frame_end=5, min_track_frames=2)
    except RuntimeError as e:
        if f"({protocol.ErrorCode.UNSUPPORTED})" in str(e):
            pytest.skip(f"the real backend does not serve video yet; it answered: {e}")
        raise
    assert result == {"FINISHED"}
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert arms, "at least one tracked character"
    scene = bpy.context.scene
    assert scene.render.fps == 10 and scene.frame_start >= 1 and scene.frame_end <= 6, \
        f"vtest.avi is 10 fps; range {scene.frame_start}..{scene.frame_end}"
    for arm in arms:
        assert arm.name.startswith("TM_track_") and len(arm.data.bones) == 24, arm.name
        anim = arm.animation_data
        fc = fcurves_of(arm).find('pose.bones["pelvis"].location', index=0)
        co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        frames = co[0::2]
        assert len(frames) >= 2 and frames.min() >= 1 and frames.max() <= 6, f"{arm.name}: keys at {frames}"
        assert np.all(np.isfinite(co)), f"{arm.name}: finite keys"
        assert anim.action.name.startswith(arm.name + "_vtest"), anim.action.name


def _world_deltas(arm) -> dict:
    """Per bone: world rotation relative to rest (independent of bone rolls) and world head."""
    world = np.array(arm.matrix_world)
    out = {}
    for pb in arm.pose.bones:
        pose = world @ np.array(pb.matrix)
        rest = world @ np.array(pb.bone.matrix_local)
        rp = pose[:3, :3] / np.linalg.norm(pose[:3, :3], axis=0)
        rr = rest[:3, :3] / np.linalg.norm(rest[:3, :3], axis=0)
        out[pb.name] = (rp @ rr.T, pose[:3, 3])
    return out


def test_export_operator_with_real_backend(addon, addon_prefs, real_backend, tmp_path):
    addon_prefs.backend_address = real_backend["address"]
    assert bpy.ops.tokenmocap.reconstruct_image(filepath=real_backend["image"]) == {"FINISHED"}
    arm = bpy.data.objects["TM_track_0"]
    bpy.context.view_layer.objects.active = bpy.data.objects["TM_track_0_body"]  # the mesh selects its character
    bpy.context.scene.frame_set(1)
    before = _world_deltas(arm)
    fbx, bvh, glb = tmp_path / "real.fbx", tmp_path / "real.bvh", tmp_path / "real.glb"
    assert bpy.ops.tokenmocap.export(filepath=str(fbx), file_format="FBX", tpose_frame=True) == {"FINISHED"}
    assert bpy.ops.tokenmocap.export(filepath=str(bvh), file_format="BVH") == {"FINISHED"}
    assert bpy.ops.tokenmocap.export(filepath=str(glb), file_format="GLTF") == {"FINISHED"}
    assert "ROOT pelvis" in bvh.read_text() and glb.read_bytes()[:4] == b"glTF", "BVH and binary glTF written"
    for obj in list(bpy.data.objects):  # (a factory reset would also disable the add-on)
        bpy.data.objects.remove(obj)
    bpy.ops.import_scene.fbx(filepath=str(fbx), anim_offset=0.0)  # keep frame numbers
    imported = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert len(imported) == 1 and len(imported[0].data.bones) == 24, [o.name for o in imported]
    assert any(o.type == "MESH" for o in bpy.context.scene.objects), "the body mesh is exported too"
    bpy.context.scene.frame_set(1)
    after = _world_deltas(imported[0])
    rot_err = max(np.abs(before[n][0] - after[n][0]).max() for n in before)
    pos_err = max(np.abs(before[n][1] - after[n][1]).max() for n in before)
    assert rot_err < 1e-4 and pos_err < 1e-4, f"FBX round trip of the real result: rotations {rot_err}, heads {pos_err}"
    bpy.context.scene.frame_set(0)
    rest_err = max(np.abs(np.array(pb.matrix_basis)[:3, :3] - np.eye(3)).max() for pb in imported[0].pose.bones)
    assert rest_err < 1e-4, f"frame 0 is the T-pose, max deviation {rest_err}"


def test_cancel_stops_a_real_video_job(addon, addon_prefs, real_backend, monkeypatch):
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing (Debian package opencv-doc)")
    from bl_ext.tmtest.tokenmocap.blender_io import BuildSettings, VideoFrameReader
    from bl_ext.tmtest.tokenmocap.bridge import VideoJob, VideoOptions, protocol
    from bl_ext.tmtest.tokenmocap.ops.control import check_connection
    from bl_ext.tmtest.tokenmocap.ops.runtime import JobRun, drive_job, make_worker

    addon_prefs.backend_address = real_backend["address"]
    context = bpy.context
    wm = context.window_manager
    reader = VideoFrameReader(VTEST)
    worker = make_worker(context)
    job = VideoJob(worker, reader.fps, range(0, 300), reader.read, VideoOptions(smooth=False), max_in_flight=4)
    run = JobRun(worker, job, BuildSettings(fps_source=reader.fps), cleanup=reader.close)
    stop = worker.stop
    monkeypatch.setattr(worker, "stop", lambda *a, **k: None)  # keep the socket open to read the backend's answer
    try:
        wm.tokenmocap_running = True
        deadline = time.monotonic() + 120
        while job.frames_done < 3 and time.monotonic() < deadline:
            assert not drive_job(context, run), f"finished early: {run.error}"
            time.sleep(0.01)
        assert job.frames_done >= 3, f"the real backend answered {job.frames_done} frames in 120 s"
        assert 0 < wm.tokenmocap_progress < 0.9 and wm.tokenmocap_status.startswith("frame "), wm.tokenmocap_status
        session = job.session
        assert bpy.ops.tokenmocap.cancel() == {"FINISHED"}
        assert drive_job(context, run), "the tick after a cancel request finishes the run"
        assert job.cancelled and run.error is None and not wm.tokenmocap_running and run.characters == []
        assert job.frames_sent < 300, f"sending stopped early, sent {job.frames_sent}"
        ack = None
        deadline = time.monotonic() + 20
        while ack is None and time.monotonic() < deadline:
            event = worker.wait_event(1.0)
            if event is not None and event.header.get("type") == protocol.MessageType.CANCELLED:
                ack = event.header
        assert ack is not None and ack["target"] == session and ack["found"] is True, \
            f"the backend acknowledges closing session {session}: {ack}"
    finally:
        stop()
    assert not worker.alive, "the bridge thread stopped"
    ok, status = check_connection(real_backend["address"], None)
    assert ok, f"the backend still serves after the cancel: {status}"

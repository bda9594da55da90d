"""The extension in a real Blender: registration, and every operator against a ZeroMQ backend on loopback.

The backend here is scripted (a real ROUTER socket in a thread, protocol v1, synthetic results) so the add-on's
side is tested exactly; test_real_backend.py runs the same operators against the real server process.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
OPERATORS = ("reconstruct_image", "video_mocap", "export", "cancel", "test_connection", "start_backend", "pick_person",
             "retarget", "retarget_clear_preview", "retarget_save_map")


def _png(tmp_path: Path, width: int = 640, height: int = 480) -> Path:
    image = bpy.data.images.new("src", width, height)
    image.pixels.foreach_set(np.random.default_rng(0).random(width * height * 4).astype(np.float32))
    path = tmp_path / "people.png"
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)
    return path


def _armatures() -> list[str]:
    return sorted(o.name for o in bpy.context.scene.objects if o.type == "ARMATURE")


def test_register_and_unregister(addon, addon_prefs):
    import addon_utils

    for name in OPERATORS:
        assert hasattr(bpy.types, f"TOKENMOCAP_OT_{name}"), f"operator tokenmocap.{name} is not registered"
        assert getattr(bpy.ops.tokenmocap, name).idname() == f"TOKENMOCAP_OT_{name}"
    assert addon_prefs.backend_address == "tcp://127.0.0.1:5555", addon_prefs.backend_address
    assert type(addon_prefs).bl_idname == "bl_ext.tmtest.tokenmocap", "preferences use bl_idname = __package__"
    assert bpy.context.window_manager.tokenmocap_status == "idle"
    assert hasattr(bpy.types, "TOKENMOCAP_PT_main")
    addon_utils.disable("bl_ext.tmtest.tokenmocap", default_set=True)
    for name in OPERATORS:
        assert not hasattr(bpy.types, f"TOKENMOCAP_OT_{name}"), f"tokenmocap.{name} still registered after disable"
    assert not hasattr(bpy.types.WindowManager, "tokenmocap_status"), "window-manager properties removed"
    addon_utils.enable("bl_ext.tmtest.tokenmocap", default_set=True)  # the fixture disables it again


def test_connection_test_reports_server_and_missing_backend(addon, addon_prefs, scripted_backend, tmp_path):
    backend = scripted_backend()
    addon_prefs.backend_address = backend.address
    assert bpy.ops.tokenmocap.test_connection() == {"FINISHED"}
    assert addon_prefs.connection_status.startswith("connected: server scripted"), addon_prefs.connection_status
    assert "engines: tokenhmr" in addon_prefs.connection_status
    from bl_ext.tmtest.tokenmocap.ops.control import describe_hello

    lite = describe_hello({"server_version": "0.1.0", "engines": {"lite": {"available": True}}, "engine": "lite"})
    assert "engines: lite; runs lite (MediaPipe + IK; install the TokenHMR files" in lite, lite
    from bl_ext.tmtest.tokenmocap.ops.control import check_connection

    ok, status = check_connection("tcp://127.0.0.1:9", None, timeout_ms=300)  # nothing listens there
    assert not ok and "no answer from tcp://127.0.0.1:9" in status, status
    ok, status = check_connection("tcp://192.0.2.1:5555", None, timeout_ms=300, online_access=False)
    assert not ok and "online access is off" in status, f"a remote backend needs online access: {status}"
    addon_prefs.backend_address = "tcp://192.0.2.1:5555"
    assert not bpy.app.online_access, "the bpy module runs with online access off"
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.tokenmocap.reconstruct_image(filepath=str(_png(tmp_path)))


def test_curve_encrypted_connection(addon, addon_prefs, scripted_backend, tmp_path):
    import zmq

    backend = scripted_backend(curve=True)
    public, secret = zmq.curve_keypair()
    addon_prefs.backend_address = backend.address
    addon_prefs.use_curve = True
    addon_prefs.server_public_key = backend.server_public
    addon_prefs.client_public_key, addon_prefs.client_secret_key = public.decode(), secret.decode()
    assert bpy.ops.tokenmocap.test_connection() == {"FINISHED"}, addon_prefs.connection_status
    assert addon_prefs.connection_status.startswith("connected"), addon_prefs.connection_status
    from bl_ext.tmtest.tokenmocap.bridge import CurveKeyPair
    from bl_ext.tmtest.tokenmocap.ops.control import check_connection

    wrong_server, _ = zmq.curve_keypair()
    ok, status = check_connection(backend.address, CurveKeyPair(wrong_server.decode(), public.decode(),
                                                                 secret.decode()), timeout_ms=500)
    assert not ok and "no answer" in status, f"a wrong server key must not connect: {status}"
    addon_prefs.client_secret_key = ""
    with pytest.raises(RuntimeError, match="CurveZMQ is on but a key is empty"):
        bpy.ops.tokenmocap.reconstruct_image(filepath=str(_png(tmp_path)))


def test_reconstruct_image_builds_every_person(addon, addon_prefs, scripted_backend, make_person, tmp_path):
    people = [make_person(seed=1, t_z=6.0), make_person(seed=2, t_z=8.0)]
    backend = scripted_backend(people=people)
    addon_prefs.backend_address = backend.address
    path = _png(tmp_path)
    assert bpy.ops.tokenmocap.reconstruct_image(filepath=str(path)) == {"FINISHED"}
    assert _armatures() == ["TM_track_0", "TM_track_1"], _armatures()
    sent = [h for h in backend.received if h["type"] == "reconstruct"]
    assert sent and sent[0]["image"]["encoding"] == "png", f"reconstruct request {sent}"
    body_requests = [h for h in backend.received if h["type"] == "body_model"]
    assert sorted(tuple(np.round(h["betas"], 6)) for h in body_requests) == sorted(
        tuple(np.round(p["betas"], 6)) for p in people), "one body_model request per person with its betas"
    arm = bpy.data.objects["TM_track_1"]
    assert arm.animation_data.action.name == "TM_track_1_people"
    bpy.context.scene.frame_set(1)
    head = np.array(arm.pose.bones["pelvis"].head)
    # Camera space: the pelvis is M (J0 + t), so its Blender y is t_z (8 m) plus J0's small z offset.
    assert abs(head[1] - 8.0) < 0.1, f"person 1 stands 8 m in front of the camera, pelvis at {head}"
    wm = bpy.context.window_manager
    assert [p.index for p in wm.tokenmocap_people] == [0, 1], "the person list is filled"
    assert not wm.tokenmocap_running and wm.tokenmocap_progress == 1.0
    scene = bpy.context.scene
    assert scene.camera is not None and (scene.render.resolution_x, scene.render.resolution_y) == (640, 480)


def test_reconstruct_image_person_index_and_errors(addon, addon_prefs, scripted_backend, make_person, tmp_path):
    backend = scripted_backend(people=[make_person(seed=1), make_person(seed=2), make_person(seed=3)])
    addon_prefs.backend_address = backend.address
    path = _png(tmp_path)
    assert bpy.ops.tokenmocap.reconstruct_image(filepath=str(path), person_index=2) == {"FINISHED"}
    assert _armatures() == ["TM_track_2"], _armatures()
    with pytest.raises(RuntimeError, match=r"person index 5 does not exist: the image has 3 people"):
        bpy.ops.tokenmocap.reconstruct_image(filepath=str(path), person_index=5)
    failing = scripted_backend(fail_reconstruct="no TokenHMR model installed; run tokenmocap models install")
    addon_prefs.backend_address = failing.address
    with pytest.raises(RuntimeError, match=r"backend error \(no_model\): no TokenHMR model installed"):
        bpy.ops.tokenmocap.reconstruct_image(filepath=str(path))
    with pytest.raises(RuntimeError, match="image file not found"):
        bpy.ops.tokenmocap.reconstruct_image(filepath=str(tmp_path / "missing.png"))
    with pytest.raises(RuntimeError, match="no image: choose an image file, or open one in the Image Editor"):
        bpy.ops.tokenmocap.reconstruct_image()
    assert not bpy.context.window_manager.tokenmocap_running


def test_detect_only_then_pick_by_box(addon, addon_prefs, scripted_backend, make_person, tmp_path):
    from bl_ext.tmtest.tokenmocap.ops.pick import pick_person_at

    small, large = make_person(seed=1), make_person(seed=2)
    small["bbox"], large["bbox"] = [300.0, 100.0, 380.0, 300.0], [40.0, 40.0, 600.0, 460.0]
    backend = scripted_backend(people=[large, small])
    addon_prefs.backend_address = backend.address
    path = _png(tmp_path)
    assert bpy.ops.tokenmocap.reconstruct_image(filepath=str(path), detect_only=True) == {"FINISHED"}
    assert _armatures() == [], "detect only builds nothing"
    assert not [h for h in backend.received if h["type"] == "body_model"], "and asks for no body"
    wm = bpy.context.window_manager
    assert [tuple(p.bbox) for p in wm.tokenmocap_people] == [(40.0, 40.0, 600.0, 460.0), (300.0, 100.0, 380.0, 300.0)]
    assert wm.tokenmocap_people_image == str(path) and wm.tokenmocap_people_image_name in bpy.data.images
    # Click at pixel (340, 200): inside both boxes, so the smaller (front) person, index 1. UV: v from the bottom.
    assert pick_person_at(bpy.context, 340 / 640, 1 - 200 / 480) == 1 and wm.tokenmocap_people_index == 1
    assert pick_person_at(bpy.context, 100 / 640, 1 - 100 / 480) == 0 and wm.tokenmocap_people_index == 0
    assert pick_person_at(bpy.context, 630 / 640, 1 - 470 / 480) == -1 and wm.tokenmocap_people_index == 0
    assert bpy.ops.tokenmocap.reconstruct_image(filepath=wm.tokenmocap_people_image, person_index=1) == {"FINISHED"}
    assert _armatures() == ["TM_track_1"] and wm.tokenmocap_people_index == 1


@pytest.fixture
def vtest() -> Path:
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing (Debian package opencv-doc; scripts/setup.sh installs it)")
    return VTEST


def test_video_mocap_keys_one_character_per_track(addon, addon_prefs, scripted_backend, vtest):
    from bl_ext.tmtest.tokenmocap.blender_io import fcurves_of

    backend = scripted_backend(video_tracks={1: list(range(0, 10)), 2: list(range(3, 10)), 7: [0, 1]})
    addon_prefs.backend_address = backend.address
    result = bpy.ops.tokenmocap.video_mocap(filepath=str(vtest), frame_start=0, frame_end=9,
                                             root_motion="ground_aligned", smoothing="none")
    assert result == {"FINISHED"}
    assert _armatures() == ["TM_track_1", "TM_track_2"], f"track 7 (2 frames) is skipped; got {_armatures()}"
    start = [h for h in backend.received if h["type"] == "video_start"][0]
    assert start["fps"] == 10.0 and start["options"] == {"smooth": False, "batch_frames": 1}, start
    assert sorted(backend.frames) == list(range(10)), f"frames 0..9 streamed, got {sorted(backend.frames)}"
    assert all(f[:2] == b"\xff\xd8" for f in backend.frames.values()), "frames are sent as JPEG"
    assert len(set(backend.frames.values())) == 10, "every frame is a different picture (decoded, not repeated)"
    assert [h["type"] for h in backend.received].count("video_end") == 1
    scene = bpy.context.scene
    assert scene.render.fps == 10 and (scene.frame_start, scene.frame_end) == (1, 10), \
        f"both tracks (1..10, 4..10): fps {scene.render.fps}, range {scene.frame_start}..{scene.frame_end}"
    assert "TM_video_decode" not in bpy.data.scenes, "the decoding scene is removed"
    arm = bpy.data.objects["TM_track_2"]
    fc = fcurves_of(arm).find('pose.bones["right_knee"].rotation_quaternion', index=1)
    co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    assert co[0::2].tolist() == list(range(4, 11)), f"track 2 keyed at video frames 3..9 + 1, got {co[0::2]}"
    hide = fcurves_of(arm).find("hide_viewport", index=0)
    assert hide is not None and len(hide.keyframe_points) == 3, "track 2 (4..10 of 1..10) is hidden before frame 4"
    assert fcurves_of(bpy.data.objects["TM_track_1"]).find("hide_viewport", index=0) is None, "track 1 spans 1..10"
    result = bpy.ops.tokenmocap.video_mocap(filepath=str(vtest), frame_start=0, frame_end=9, track_ids="7")
    assert result == {"FINISHED"}
    assert "TM_track_7" in _armatures()
    with pytest.raises(RuntimeError, match="track 5 does not exist"):
        bpy.ops.tokenmocap.video_mocap(filepath=str(vtest), frame_start=0, frame_end=9, track_ids="5")
    with pytest.raises(RuntimeError, match="expected numbers separated by commas"):
        bpy.ops.tokenmocap.video_mocap(filepath=str(vtest), track_ids="one")
    with pytest.raises(RuntimeError, match="video file not found"):
        bpy.ops.tokenmocap.video_mocap(filepath=str(vtest.with_name("missing.avi")))


def test_video_in_flight_window_grows_past_the_backend_latency(addon, addon_prefs, scripted_backend, vtest):
    from bl_ext.tmtest.tokenmocap.blender_io import BuildSettings, VideoFrameReader
    from bl_ext.tmtest.tokenmocap.bridge import VideoJob
    from bl_ext.tmtest.tokenmocap.ops.runtime import JobRun, make_worker, run_blocking

    backend = scripted_backend(video_tracks={3: list(range(12))}, hold_back=6)  # results lag 6 frames
    addon_prefs.backend_address = backend.address
    reader = VideoFrameReader(vtest)
    worker = make_worker(bpy.context)
    job = VideoJob(worker, reader.fps, range(12), reader.read, max_in_flight=2, stall_timeout_ms=5000)
    run = run_blocking(bpy.context, JobRun(worker, job, BuildSettings(fps_source=10.0), cleanup=reader.close),
                       timeout_s=60)
    assert run.error is None, run.error
    assert job.max_in_flight == 8, f"window raised to latency_frames + 2, got {job.max_in_flight}"
    assert _armatures() == ["TM_track_3"] and job.frames_done == 12


def test_video_frames_match_the_file(fresh_scene, vtest):
    from blender_addon.blender_io import VideoFrameReader

    with VideoFrameReader(vtest) as reader:
        assert (reader.fps, reader.frame_count, reader.size) == (10.0, 795, (768, 576)), \
            (reader.fps, reader.frame_count, reader.size)
        first, second, again = reader.read(0), reader.read(1), reader.read(0)
        with pytest.raises(ValueError, match="frame 795 is outside 0..794"):
            reader.read(795)
    assert first != second and first == again, "frame 0 decodes the same twice and differs from frame 1"
    image_path = Path(bpy.app.tempdir or "/tmp") / "tm_frame0.jpg"
    image_path.write_bytes(first)
    image = bpy.data.images.load(str(image_path))
    assert tuple(image.size) == (768, 576)
    bpy.data.images.remove(image)
    image_path.unlink()


def test_modal_body_shows_progress_and_cancel_stops(addon, addon_prefs, scripted_backend, vtest):
    from bl_ext.tmtest.tokenmocap.blender_io import BuildSettings, VideoFrameReader
    from bl_ext.tmtest.tokenmocap.bridge import VideoJob
    from bl_ext.tmtest.tokenmocap.ops.runtime import JobRun, drive_job, make_worker

    backend = scripted_backend(video_tracks={1: list(range(0, 400))})
    addon_prefs.backend_address = backend.address
    context = bpy.context
    reader = VideoFrameReader(vtest)
    worker = make_worker(context)
    job = VideoJob(worker, reader.fps, range(0, 400), reader.read, max_in_flight=4)
    run = JobRun(worker, job, BuildSettings(fps_source=10.0), cleanup=reader.close)
    wm = context.window_manager
    wm.tokenmocap_running = True
    deadline = time.monotonic() + 30
    while job.frames_done < 5 and time.monotonic() < deadline:
        assert not drive_job(context, run), f"finished early: {run.error}"
        assert job.frames_sent - job.frames_done <= 4, "never more than max_in_flight frames unanswered"
        time.sleep(0.01)
    assert job.frames_done >= 5 and wm.tokenmocap_running
    assert 0 < wm.tokenmocap_progress < 0.9 and wm.tokenmocap_status.startswith("frame "), \
        f"progress {wm.tokenmocap_progress}, status {wm.tokenmocap_status!r}"
    assert bpy.ops.tokenmocap.cancel() == {"FINISHED"}
    assert drive_job(context, run), "the tick after a cancel request finishes the run"
    assert job.cancelled and run.error is None and not wm.tokenmocap_running
    assert backend.cancelled.wait(5), "the backend received a cancel request"
    assert backend.cancel_targets == ["s1"], f"the cancel names the video session: {backend.cancel_targets}"
    assert run.characters == [] and _armatures() == []
    assert not worker.alive, "the bridge thread stopped"
    assert "TM_video_decode" not in bpy.data.scenes, "cleanup closed the decoder"
    assert job.frames_sent < 400, f"sending stopped early, sent {job.frames_sent}"


def test_export_operator_writes_selected_character(addon, addon_prefs, scripted_backend, make_person, tmp_path):
    backend = scripted_backend(people=[make_person(seed=4)])
    addon_prefs.backend_address = backend.address
    bpy.ops.tokenmocap.reconstruct_image(filepath=str(_png(tmp_path)))
    mesh = bpy.data.objects["TM_track_0_body"]
    bpy.context.view_layer.objects.active = mesh  # the body mesh selects its character too
    out = tmp_path / "out" / "character.fbx"
    assert bpy.ops.tokenmocap.export(filepath=str(out), file_format="FBX", tpose_frame=True) == {"FINISHED"}
    assert out.is_file() and out.stat().st_size > 10_000, f"FBX written: {out.stat().st_size} bytes"
    bvh = tmp_path / "character.bvh"
    assert bpy.ops.tokenmocap.export(filepath=str(bvh), file_format="BVH") == {"FINISHED"}
    assert "ROOT pelvis" in bvh.read_text()
    with pytest.raises(RuntimeError, match="must end in .glb or .gltf"):
        bpy.ops.tokenmocap.export(filepath=str(tmp_path / "x.fbx"), file_format="GLTF")


def test_start_backend_runs_the_configured_command(addon, addon_prefs, tmp_path):
    import shlex
    import sys

    marker = tmp_path / "started.txt"
    script = f"import pathlib, sys; pathlib.Path({str(marker)!r}).write_text(sys.argv[1])"
    addon_prefs.backend_address = "tcp://127.0.0.1:5999"
    addon_prefs.backend_command = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} {{address}}"
    assert bpy.ops.tokenmocap.start_backend() == {"FINISHED"}
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists() and marker.read_text() == "tcp://127.0.0.1:5999", "{address} is substituted"
    assert addon_prefs.connection_status.startswith("started backend (pid "), addon_prefs.connection_status
    addon_prefs.backend_command = "/nonexistent/tokenmocap serve"
    with pytest.raises(RuntimeError, match="could not start the backend"):
        bpy.ops.tokenmocap.start_backend()


class _WindowManagerWithoutWindow:
    """The real window manager, except for the event-timer API, which needs a window the bpy module lacks."""

    def __init__(self, wm) -> None:
        object.__setattr__(self, "_wm", wm)
        object.__setattr__(self, "removed_timers", [])

    def __getattr__(self, name):
        return getattr(self._wm, name)

    def __setattr__(self, name, value):
        setattr(self._wm, name, value)

    def event_timer_remove(self, timer) -> None:
        self.removed_timers.append(timer)


def test_modal_handler_esc_cancels_the_job(addon, addon_prefs, scripted_backend, vtest):
    """The job operators' ``modal`` method itself: timer ticks drive the job, other events pass through, Esc
    cancels (the bpy module has no window, so the operator is a stand-in class using the real mixin)."""
    from types import SimpleNamespace

    from bl_ext.tmtest.tokenmocap.blender_io import BuildSettings, VideoFrameReader
    from bl_ext.tmtest.tokenmocap.bridge import VideoJob
    from bl_ext.tmtest.tokenmocap.ops.modal import JobOperatorMixin
    from bl_ext.tmtest.tokenmocap.ops.runtime import JobRun, make_worker

    class Operator(JobOperatorMixin):
        def __init__(self, run) -> None:
            self._run, self._timer, self.reports = run, "timer", []

        def report(self, level, message) -> None:
            self.reports.append((set(level), message))

    backend = scripted_backend(video_tracks={1: list(range(400))})
    addon_prefs.backend_address = backend.address
    wm = _WindowManagerWithoutWindow(bpy.context.window_manager)
    context = SimpleNamespace(window_manager=wm, screen=None, workspace=None)
    reader = VideoFrameReader(vtest)
    worker = make_worker(bpy.context)
    job = VideoJob(worker, reader.fps, range(400), reader.read, max_in_flight=4)
    op = Operator(JobRun(worker, job, BuildSettings(fps_source=10.0), cleanup=reader.close))
    wm.tokenmocap_running = True
    timer = SimpleNamespace(type="TIMER", value="NOTHING")
    deadline = time.monotonic() + 30
    while job.frames_done < 3 and time.monotonic() < deadline:
        assert op.modal(context, timer) == {"RUNNING_MODAL"}, op.reports
        time.sleep(0.01)
    assert job.frames_done >= 3 and wm.tokenmocap_status.startswith("frame "), wm.tokenmocap_status
    sent = job.frames_sent
    assert op.modal(context, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) == {"PASS_THROUGH"}
    assert job.frames_sent == sent and not job.done, "other events pass through without driving the job"
    assert op.modal(context, SimpleNamespace(type="ESC", value="PRESS")) == {"CANCELLED"}
    assert job.cancelled and not worker.alive and wm.removed_timers == ["timer"], wm.removed_timers
    assert op.reports == [({"WARNING"}, "cancelled; kept 0 finished character(s)")], op.reports
    assert not wm.tokenmocap_running and not wm.tokenmocap_cancel_requested
    assert backend.cancelled.wait(5) and backend.cancel_targets == ["s1"], backend.cancel_targets
    assert _armatures() == []


def test_image_editor_image_is_the_source_without_a_filepath(addon, tmp_path):
    """``reconstruct_image`` with no filepath sends the Image Editor's image: the file itself when it is a PNG/JPEG
    on disk, else a PNG copy (generated or packed images). The editor is a stand-in: the bpy module has no screen."""
    from types import SimpleNamespace

    from bl_ext.tmtest.tokenmocap.ops.reconstruct import read_image_source

    path = _png(tmp_path, 64, 48)
    on_disk = bpy.data.images.load(str(path))
    editor = SimpleNamespace(space_data=SimpleNamespace(type="IMAGE_EDITOR", image=on_disk), screen=None)
    data, encoding, name, size, image_name = read_image_source(editor, "")
    assert (data, encoding, name, size, image_name) == (path.read_bytes(), "png", "people", (64, 48), on_disk.name)
    generated = bpy.data.images.new("Render Result copy", 40, 30)
    generated.pixels.foreach_set(np.full(40 * 30 * 4, 0.25, dtype=np.float32))
    editor.space_data.image = generated
    data, encoding, name, size, image_name = read_image_source(editor, "")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and encoding == "png", "a generated image is sent as a PNG copy"
    assert (name, size, image_name) == ("Render Result copy", (40, 30), generated.name)
    copy = tmp_path / "copy.png"
    copy.write_bytes(data)
    reloaded = bpy.data.images.load(str(copy))
    assert tuple(reloaded.size) == (40, 30), f"the copy has the image's size, got {tuple(reloaded.size)}"
    with pytest.raises(ValueError, match="no image: choose an image file"):
        read_image_source(SimpleNamespace(space_data=None, screen=None), "")

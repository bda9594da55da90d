"""End to end on a real video (OpenCV's vtest.avi, pedestrians) with the tiny test TokenHMR and synthetic SMPL:
``tokenmocap mocap`` in a subprocess killed with SIGKILL mid-run and resumed, and the streaming VideoSession."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backend.video import SkeletonModel, VideoSession, probe_video, read_frame_log, skeleton_for_models_dir

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
N_FRAMES = 60
KILL_AFTER = 12


@pytest.fixture(scope="module")
def vtest() -> Path:
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing: install Debian's opencv-doc (apt-get install opencv-doc) for OpenCV's "
                    "sample video")
    return VTEST


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    from backend.body import write_synthetic_smpl_files
    from backend.install import install_models
    from backend.models import write_tiny_tokenhmr_files

    root = tmp_path_factory.mktemp("tiny_models")
    write_tiny_tokenhmr_files(root / "src", seed=0)
    write_synthetic_smpl_files(root / "src", seed=0)
    install_models(root / "src", root / "models")
    return root / "models"


def _mocap_cmd(video: Path, out: Path, models: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "backend.cli", "mocap", str(video), "--out", str(out), "--models-dir", str(models),
            "--engine", "tokenhmr", "--detector", "full_frame", "--end", str(N_FRAMES), *extra]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def test_probe_vtest(vtest):
    info = probe_video(vtest)
    assert (info.width, info.height, info.frame_count) == (768, 576, 795), f"unexpected vtest.avi info {info}"
    assert info.fps == 10, f"vtest.avi is 10 fps; got {info.fps}"


@pytest.mark.slow
def test_mocap_cli_killed_and_resumed_loses_no_frame(vtest, tiny_models, tmp_path):
    out = tmp_path / "job"
    frames_file = out / "frames.jsonl"
    proc = subprocess.Popen(_mocap_cmd(vtest, out, tiny_models), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    lines = 0
    while time.monotonic() < deadline and proc.poll() is None:
        lines = frames_file.read_bytes().count(b"\n") if frames_file.exists() else 0
        if lines >= KILL_AFTER:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"mocap finished before it could be killed ({lines} lines): {proc.stderr.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    records, _ = read_frame_log(frames_file)
    done_before = len(records)
    assert KILL_AFTER <= done_before < N_FRAMES, f"expected a partial job after the kill, got {done_before} frames"
    assert [r["index"] for r in records] == list(range(done_before)), "finished frames must be 0..k-1 in order"
    assert not (out / "summary.json").exists(), "a killed job must not have written its summary"
    kept = frames_file.read_bytes()[: sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in records)]
    # Simulate the kill landing mid-write: an unterminated half record at the end must be dropped on resume.
    with open(frames_file, "ab") as f:
        f.write(b'{"index":' + str(done_before).encode() + b',"people":[{"engine":"tok')

    # Without --resume the folder is refused.
    refused = subprocess.run(_mocap_cmd(vtest, out, tiny_models, "--no-progress"), env=_env(), capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and "--resume" in refused.stderr, f"expected a refusal naming --resume: " \
                                                                     f"{refused.returncode} {refused.stderr[-500:]}"
    done = subprocess.run(_mocap_cmd(vtest, out, tiny_models, "--resume", "--fix-foot-skating"), env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"resume failed ({done.returncode}): {done.stderr[-2000:]}"
    assert f"] {N_FRAMES}/{N_FRAMES} frames" in done.stderr, f"expected a progress bar on stderr: {done.stderr[-800:]}"

    records, good_end = read_frame_log(frames_file)
    assert [r["index"] for r in records] == list(range(N_FRAMES)), \
        f"expected frames 0..{N_FRAMES - 1} exactly once, got {[r['index'] for r in records]}"
    assert good_end == frames_file.stat().st_size, "the half-written line must have been truncated away"
    assert frames_file.read_bytes().startswith(kept), "frames finished before the kill must be kept byte for byte"

    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_processed"] == N_FRAMES and summary["frames_resumed"] == done_before, summary
    assert summary["fps"] == "10/1", f"expected the rational fps '10/1', got {summary['fps']}"
    assert summary["options"]["fix_foot_skating"] is True, "the resumed run's export options must be recorded"
    assert summary["tracks"], "expected at least one track (the full-frame box is a person in every frame)"
    for entry in summary["tracks"]:
        data = np.load(out / entry["file"])
        idx = data["frame_indices"]
        t = len(idx)
        assert t == entry["num_frames"] and np.array_equal(idx, np.arange(idx[0], idx[0] + t)), \
            f"track {entry['track_id']}: frame indices must be consecutive, got {idx}"
        assert 0 <= idx[0] and idx[-1] < N_FRAMES, f"track frames out of range: {idx[0]}..{idx[-1]}"
        shapes = {k: data[k].shape for k in ("global_orient", "body_pose", "betas", "transl", "joints_cam",
                                             "foot_contact", "observed")}
        assert shapes == {"global_orient": (t, 3), "body_pose": (t, 23, 3), "betas": (10,), "transl": (t, 3),
                          "joints_cam": (t, 24, 3), "foot_contact": (t, 2), "observed": (t,)}, shapes
        assert (int(data["fps_num"]), int(data["fps_den"])) == (10, 1)
        assert np.isfinite(data["transl"]).all() and np.isfinite(data["body_pose"]).all()
        # pelvis = J0(betas) + transl, with the track's single betas.
        skeleton = skeleton_for_models_dir(tiny_models)
        np.testing.assert_allclose(data["pelvis_cam"], skeleton.pelvis_cam(data["betas"], data["transl"]), atol=1e-4)


@pytest.mark.slow
def test_video_session_streams_tracked_frames(vtest, tiny_models, tmp_path):
    from backend.engine import make_engine
    from backend.video import iter_video_frames

    engine = make_engine("tokenhmr", tiny_models, detector="full_frame")
    skeleton: SkeletonModel = skeleton_for_models_dir(tiny_models)
    log_path = tmp_path / "session.jsonl"
    session = VideoSession(engine, 10.0, {"smooth": True, "batch_frames": 2}, skeleton=skeleton,
                           frame_log_path=log_path)
    got = []
    for index, image in iter_video_frames(vtest, stop=12):
        session.push_frame(index, image)
        got += list(session.results())
    assert len(got) <= 12 - session.latency_frames + 1, "results must lag by the confirmation/batch delay"
    got += list(session.flush())
    assert [r.index for r in got] == list(range(12)), f"expected one result per frame in order, got {[r.index for r in got]}"
    ids = {t.track_id for r in got for t in r.tracks}
    assert ids == {1}, f"expected a single track (one full-frame box per frame), got {ids}"
    assert all(t.state == "observed" for r in got for t in r.tracks)
    body = got[5].to_json()["tracks"][0]
    assert body["track_id"] == 1 and body["state"] == "observed" and len(body["body_pose"]) == 23
    records, _ = read_frame_log(log_path)
    assert [r["index"] for r in records] == list(range(12)), "the session's job file must hold every frame"
    # Without an explicit skeleton the session uses the SMPL installed where the engine came from.
    again = VideoSession(engine, 10.0, models_dir=tiny_models)
    np.testing.assert_allclose(again.skeleton.joints_template, skeleton.joints_template)
    again.push_frame(3, image)
    with pytest.raises(ValueError, match="not after the previous frame"):
        again.push_frame(3, image)


@pytest.mark.slow
def test_hog_detector_tracks_several_pedestrians_without_identity_jumps(vtest, tiny_models, tmp_path):
    """Several real people at once through the offline HOG detector: tracks overlap in time, and a track's box never
    jumps between observed frames by more than a fraction of its height (a swap between two pedestrians would)."""
    from backend.engine import make_engine
    from backend.video import JobOptions, run_video_job
    from backend.vision import hog_available

    if not hog_available():
        pytest.skip("this OpenCV has no HOGDescriptor: the project depends on opencv-contrib-python-headless, "
                    "which has it; plain opencv-python-headless 5 does not")
    engine = make_engine("tokenhmr", tiny_models, detector="hog")
    try:
        result = run_video_job(vtest, tmp_path / "job", engine, skeleton_for_models_dir(tiny_models),
                               JobOptions(end_frame=N_FRAMES))
    finally:
        engine.close()
    assert result.complete and result.frames_done == N_FRAMES, result
    observed_per_frame = np.zeros(N_FRAMES, int)
    long_tracks = 0
    for path in result.track_files:
        data = np.load(path)
        observed = data["observed"].astype(bool)
        frames = data["frame_indices"][observed]
        observed_per_frame[frames] += 1
        long_tracks += int(observed.sum() >= 15)
        boxes = data["bbox_xyxy"][observed]
        if len(boxes) < 2:
            continue
        centres = 0.5 * (boxes[:, :2] + boxes[:, 2:])
        heights = boxes[:, 3] - boxes[:, 1]
        step = np.abs(np.diff(centres, axis=0)).max(axis=1) / heights[1:] / np.diff(frames)
        assert step.max() < 0.4, (f"track {int(data['track_id'])}: its box jumped {step.max():.2f} box heights in one "
                                  f"frame (an identity switch between pedestrians?)")
    assert observed_per_frame.max() >= 3, f"expected 3+ pedestrians tracked at once, got {observed_per_frame.max()}"
    assert long_tracks >= 3, f"expected 3+ pedestrians followed for 15+ frames, got {long_tracks}"

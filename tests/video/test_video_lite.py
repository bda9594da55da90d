"""The video pipeline on a fresh machine: the lite engine (MediaPipe + IK, mannequin skeleton) through the job runner
and the streaming session, unchanged. The clip is a real photo (scikit-image's astronaut) sliding right across a
wider frame, encoded as a real MJPG/AVI file, so the root trajectory has a known image motion."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from backend.lite import LiteEngine, lite_available
from backend.video import JobOptions, VideoSession, iter_video_frames, run_video_job, skeleton_for_models_dir

N_FRAMES = 10
SHIFT_PX = 12  # the photo moves this far right per frame
CANVAS_WH = (800, 560)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skimage_data = pytest.importorskip("skimage.data")
    photo = np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1])  # 512 x 512 BGR
    path = tmp_path_factory.mktemp("clip") / "astronaut_slide.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, CANVAS_WH)
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG/AVI (no video writer backend)")
    for i in range(N_FRAMES):
        frame = np.full((CANVAS_WH[1], CANVAS_WH[0], 3), 70, np.uint8)
        x = 40 + SHIFT_PX * i
        frame[24:536, x:x + 512] = photo
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no_models")  # nothing installed: lite engine, mannequin skeleton


@pytest.fixture(scope="module")
def engine(models_dir: Path):
    ok, reason = lite_available()
    if not ok:
        pytest.skip(f"lite engine unavailable: {reason}")
    with LiteEngine(models_dir=models_dir) as e:
        yield e


def test_job_with_the_lite_engine_writes_one_track_following_the_person(clip, engine, models_dir, tmp_path):
    skeleton = skeleton_for_models_dir(models_dir)
    result = run_video_job(clip, tmp_path / "job", engine, skeleton, JobOptions(smooth=True))
    assert result.complete and result.frames_done == N_FRAMES, result
    summary = json.loads(result.summary_path.read_text())
    assert summary["engine"] == "lite", summary["engine"]
    assert summary["fps"] == "25/1", summary["fps"]
    tracks = summary["tracks"]
    assert [t["track_id"] for t in tracks] == [1], f"one person in every frame must be one track, got {tracks}"
    data = np.load(tmp_path / "job" / tracks[0]["file"])
    assert list(data["frame_indices"]) == list(range(N_FRAMES)), data["frame_indices"]
    assert data["observed"].all(), f"MediaPipe should find the astronaut in every frame: {data['observed']}"
    assert np.all(data["betas"] == 0.0), "the lite engine estimates no shape"
    np.testing.assert_allclose(data["pelvis_cam"], skeleton.pelvis_cam(data["betas"], data["transl"]), atol=1e-5)
    # The root follows the image motion: pelvis x projected back to pixels moves SHIFT_PX per frame.
    focal = float(data["focal_length_px"])
    pelvis = data["pelvis_cam"].astype(np.float64)
    u = focal * pelvis[:, 0] / pelvis[:, 2]
    slope = np.polyfit(np.arange(N_FRAMES), u, 1)[0]
    assert slope == pytest.approx(SHIFT_PX, abs=3.0), f"pelvis moves {slope:.1f} px/frame, expected {SHIFT_PX}"
    assert np.ptp(pelvis[:, 2]) < 0.15 * pelvis[:, 2].mean(), f"the depth of a sliding photo must stay put: {pelvis}"


def test_streaming_session_with_the_lite_engine(clip, engine, models_dir):
    session = VideoSession(engine, 25.0, {"smooth": True}, models_dir=models_dir)  # the mannequin's skeleton
    got = []
    for index, image in iter_video_frames(clip):
        session.push_frame(index, image)
        got += list(session.results())
    got += list(session.flush())
    assert [r.index for r in got] == list(range(N_FRAMES)), [r.index for r in got]
    tracks = [r.to_json()["tracks"] for r in got]
    assert all(len(t) == 1 for t in tracks), f"expected one track per frame, got {[len(t) for t in tracks]}"
    assert {t[0]["track_id"] for t in tracks} == {1}
    assert {t[0]["engine"] for t in tracks} == {"lite"} and {t[0]["state"] for t in tracks} == {"observed"}

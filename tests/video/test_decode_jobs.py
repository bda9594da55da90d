"""Video decoding (rational fps, frame indices, bad files) and the crash-safe frame log."""

from __future__ import annotations

import json
from fractions import Fraction

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from backend.video import FrameLog, JobFileError, VideoReadError, fps_fraction, iter_video_frames, probe_video, \
    read_frame_log


def _write_clip(path, fps: float, n: int = 12):
    """A real encoded clip: the astronaut photo sliding across a gradient background (MJPG in AVI)."""
    person = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (64, 64))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 96))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG/AVI (no video writer backend)")
    for i in range(n):
        frame = np.tile(np.linspace(40, 200, 160, dtype=np.uint8)[None, :, None], (96, 1, 3))
        x = 4 + 7 * i
        frame[16:80, x:x + 64] = person
        writer.write(frame)
    writer.release()


def test_fps_fraction_keeps_ntsc_rates():
    assert fps_fraction(29.97002997002997) == Fraction(30000, 1001)
    assert fps_fraction(23.976023976023978) == Fraction(24000, 1001)
    assert fps_fraction(29.97) == Fraction(30000, 1001), "29.97 as stored by AVI (2997/100) snaps to NTSC"
    assert fps_fraction(25.0) == Fraction(25)
    assert fps_fraction(30.0) == Fraction(30)
    assert fps_fraction("30000/1001") == Fraction(30000, 1001)
    with pytest.raises(ValueError, match="positive"):
        fps_fraction(0.0)


def test_probe_and_decode_written_clip(tmp_path):
    path = tmp_path / "clip.avi"
    _write_clip(path, 30000 / 1001, n=12)
    info = probe_video(path)
    assert info.fps == Fraction(30000, 1001), f"expected 30000/1001, got {info.fps}"
    assert (info.width, info.height, info.frame_count) == (160, 96, 12), f"got {info}"
    frames = list(iter_video_frames(path, start=5, stop=9))
    assert [i for i, _ in frames] == [5, 6, 7, 8], f"expected frames 5..8, got {[i for i, _ in frames]}"
    # Frame 5 must be the 6th frame (person at x = 4 + 35): compare with a full decode.
    full = dict(iter_video_frames(path))
    assert len(full) == 12
    np.testing.assert_array_equal(frames[0][1], full[5], err_msg="grab-skipping must land on the exact frame")


def test_unreadable_video_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        probe_video(tmp_path / "missing.mp4")
    bad = tmp_path / "notavideo.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoReadError, match="notavideo.mp4"):
        probe_video(bad)


def test_frame_log_ignores_interrupted_last_line_and_resumes(tmp_path):
    path = tmp_path / "frames.jsonl"
    with FrameLog(path) as log:
        for i in range(3):
            log.append({"index": i, "people": []})
    intact = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b'{"index": 3, "peo')  # killed mid-write
    records, good_end = read_frame_log(path)
    assert [r["index"] for r in records] == [0, 1, 2] and good_end == intact, f"got {records}, {good_end}"
    with FrameLog(path, truncate_to=good_end) as log:
        log.append({"index": 3, "people": []})
    records, good_end = read_frame_log(path)
    assert [r["index"] for r in records] == [0, 1, 2, 3], f"got {[r['index'] for r in records]}"
    assert good_end == path.stat().st_size
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_frame_log_reports_damage_before_the_end(tmp_path):
    path = tmp_path / "frames.jsonl"
    path.write_text('{"index": 0, "people": []}\n{"index": 1, "pe\n{"index": 2, "people": []}\n')
    with pytest.raises(JobFileError, match="line 2"):
        read_frame_log(path)
    path.write_text('{"index": 4, "people": []}\n{"index": 2, "people": []}\n')
    with pytest.raises(JobFileError, match="frame 2 after frame 4"):
        read_frame_log(path)


def test_mocap_cli_reports_unreadable_video_before_loading_a_model(tmp_path, caplog):
    from backend.cli import main

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    with caplog.at_level("ERROR"):
        rc = main(["mocap", str(bad), "--out", str(tmp_path / "out"), "--models-dir", str(tmp_path / "none")])
    assert rc == 2, f"expected exit code 2 for an unreadable video, got {rc}"
    assert "broken.mp4" in caplog.text and "cannot open" in caplog.text, f"unexpected message: {caplog.text}"


def test_mocap_cli_reports_an_unavailable_engine_without_a_traceback(tmp_path, caplog):
    from backend.cli import main

    clip = tmp_path / "clip.avi"
    _write_clip(clip, 25.0, n=3)
    with caplog.at_level("ERROR"):
        rc = main(["mocap", str(clip), "--out", str(tmp_path / "out"), "--engine", "tokenhmr",
                   "--models-dir", str(tmp_path / "no_models"), "--no-progress"])
    assert rc == 2, f"expected exit code 2 when TokenHMR is not installed, got {rc}"
    assert "tokenmocap models install" in caplog.text, f"the error must name the fix: {caplog.text}"


class _NamedEngine:
    """A non-staged engine that finds nobody; only its name matters here."""

    def __init__(self, name: str) -> None:
        self.name = name

    def reconstruct_batch(self, images_bgr, boxes_xyxy=None):
        return [[] for _ in images_bgr]


def test_resume_refuses_frames_from_another_engine(tmp_path):
    from backend.body import mannequin_rest_body
    from backend.video import JobOptions, SkeletonModel, run_video_job

    clip = tmp_path / "clip.avi"
    _write_clip(clip, 25.0, n=6)
    body = mannequin_rest_body()
    skeleton = SkeletonModel.from_rest_joints(body.joints, body.parents)
    out = tmp_path / "job"
    first = run_video_job(clip, out, _NamedEngine("lite"), skeleton, JobOptions())
    assert first.complete and first.frames_done == 6, first
    with pytest.raises(JobFileError, match="'lite' engine and this run uses 'tokenhmr'"):
        run_video_job(clip, out, _NamedEngine("tokenhmr"), skeleton, JobOptions(), resume=True)
    again = run_video_job(clip, out, _NamedEngine("lite"), skeleton, JobOptions(), resume=True)
    assert again.complete and again.frames_resumed == 6 and again.frames_done == 6, again


def test_fps_override_replaces_the_containers_rate(tmp_path):
    clip = tmp_path / "clip.avi"
    _write_clip(clip, 25.0, n=3)
    assert probe_video(clip).fps == Fraction(25)
    assert probe_video(clip, fps="30000/1001").fps == Fraction(30000, 1001)
    assert probe_video(clip, fps=29.97).fps == Fraction(30000, 1001)
    with pytest.raises(ValueError, match="frame rate must be positive"):
        probe_video(clip, fps=0)


def test_mocap_fps_option_is_kept_by_the_job_and_its_resume(tmp_path, caplog):
    """``--fps`` sets the exported frame rate; a plain ``--resume`` keeps it; a bad value is refused at parse time."""
    import json

    from backend.body import mannequin_rest_body
    from backend.cli import main
    from backend.commands import mocap
    from backend.video import JobOptions, SkeletonModel, run_video_job

    clip = tmp_path / "clip.avi"
    _write_clip(clip, 25.0, n=6)
    body = mannequin_rest_body()
    skeleton = SkeletonModel.from_rest_joints(body.joints, body.parents)
    out = tmp_path / "job"
    done = run_video_job(clip, out, _NamedEngine("lite"), skeleton, JobOptions(fps="24000/1001"))
    summary = json.loads((out / "summary.json").read_text())
    assert done.complete and summary["fps"] == "24000/1001", summary["fps"]
    with pytest.raises(JobFileError, match="cannot resume.*leave out --start/--end/--fps"):  # no mixed clocks
        run_video_job(clip, out, _NamedEngine("lite"), skeleton, JobOptions(), resume=True)

    import argparse

    parser = argparse.ArgumentParser()
    mocap.add_arguments(parser)
    args = parser.parse_args([str(clip), "--out", str(out), "--resume"])
    mocap._adopt_job_settings(args)
    assert args.fps == "24000/1001", f"--resume must keep the job's --fps, got {args.fps}"
    assert "--fps 24000/1001" in mocap._resume_command(args), mocap._resume_command(args)
    with pytest.raises(SystemExit) as exit_info:
        main(["mocap", str(clip), "--out", str(tmp_path / "x"), "--fps", "fast"])
    assert exit_info.value.code == 2

"""The threaded pipeline (cross-frame batching, order, errors), the skeleton against SMPLBody, and per-track
sequence building (gap infill, one betas, pelvis kept)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from backend.engine import PreparedImage
from backend.results import PersonResult
from backend.video import (
    PeopleTracker,
    PipelineConfig,
    SkeletonModel,
    StageTimes,
    TrackerConfig,
    build_sequences,
    frame_record,
    run_pipeline_timed,
)


def _person(frame: int, k: int, x: float = 0.0, betas: np.ndarray | None = None) -> PersonResult:
    return PersonResult(engine="test", bbox_xyxy=np.array([10.0, 10, 50, 110]), score=0.9,
                        global_orient=np.array([np.pi, 0, 0]), body_pose=np.zeros((23, 3)),
                        betas=np.zeros(10) if betas is None else betas, cam_crop=np.array([1.0, 0, 0]),
                        cam_t_full=np.array([x + 0.001 * frame, 0.1 * k, 5.0]), focal_length_px=1000.0,
                        keypoints_2d=np.zeros((44, 2)))


class _StagedFake:
    """A staged engine whose outputs encode (frame, person) so the test can check every split."""

    name = "fake"
    max_batch = 64

    def __init__(self, people_per_frame, fail_at: int | None = None) -> None:
        self.people_per_frame = people_per_frame
        self.batch_sizes: list[int] = []
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def prepare(self, image, boxes_xyxy=None, detector=None):
        frame = int(image[0, 0, 0])
        if frame == self.fail_at:
            raise RuntimeError(f"detector exploded on frame {frame}")
        n = self.people_per_frame(frame)
        crops = np.zeros((n, 3, 256, 256), np.float32)
        crops[:, 0, 0, 0] = frame
        crops[:, 0, 0, 1] = np.arange(n)
        return PreparedImage(np.array([64, 64], np.float32), np.zeros((n, 4), np.float32), np.ones(n, np.float32),
                             crops, np.zeros((n, 2), np.float32), np.ones(n, np.float32))

    def infer(self, crops):
        with self.lock:
            self.batch_sizes.append(len(crops))
        return {"frame": crops[:, 0, 0, 0].copy(), "k": crops[:, 0, 0, 1].copy()}

    def finish(self, prepared, outputs):
        return [_person(int(f), int(k)) for f, k in zip(outputs["frame"], outputs["k"])]


def _frames(n: int):
    for i in range(n):
        img = np.zeros((4, 4, 3), np.uint8)
        img[0, 0, 0] = i
        yield i, img


def test_pipeline_batches_across_frames_and_keeps_order():
    engine = _StagedFake(lambda f: f % 3)  # 0, 1 or 2 people per frame
    times = StageTimes()
    out = list(run_pipeline_timed(_frames(30), engine, PipelineConfig(batch_crops=8, max_wait_ms=200.0), None, times))
    assert [i for i, _, _ in out] == list(range(30)), "frames must come out in order, each once"
    for index, _, people in out:
        got = [(round(p.cam_t_full[0] * 1000), round(p.cam_t_full[1] * 10)) for p in people]
        assert got == [(index, k) for k in range(index % 3)], f"frame {index}: wrong people {got}"
    assert sum(engine.batch_sizes) == sum(i % 3 for i in range(30)), "every crop must go through infer once"
    assert max(engine.batch_sizes) > 2, f"expected batches spanning frames (> 2 crops), got {engine.batch_sizes}"
    assert times.frames == 30 and times.people == 30 and times.seconds["model"] > 0


def test_parallel_prepare_threads_keep_frame_order():
    import time as _time

    engine = _StagedFake(lambda f: 1)
    slow_prepare = engine.prepare
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.01, 40)

    def prepare(image, boxes_xyxy=None, detector=None):
        _time.sleep(delays[int(image[0, 0, 0])])  # workers finish out of order
        return slow_prepare(image)

    engine.prepare = prepare
    out = list(run_pipeline_timed(_frames(40), engine, PipelineConfig(prepare_threads=3, batch_crops=4), None,
                                  StageTimes()))
    assert [i for i, _, _ in out] == list(range(40)), f"expected frames in order, got {[i for i, _, _ in out]}"
    assert all(round(p.cam_t_full[0] * 1000) == i for i, _, people in out for p in people), "people mixed up"


def test_pipeline_reraises_stage_errors_in_the_caller():
    engine = _StagedFake(lambda f: 1, fail_at=7)
    with pytest.raises(RuntimeError, match="frame 7"):
        list(run_pipeline_timed(_frames(20), engine, PipelineConfig(), None, StageTimes()))


def test_pipeline_stops_when_cancelled():
    engine = _StagedFake(lambda f: 1)
    stop = threading.Event()
    got = []
    for index, _, _ in run_pipeline_timed(_frames(1000), engine, PipelineConfig(queue_frames=2), stop, StageTimes()):
        got.append(index)
        if index == 5:
            stop.set()
    assert got == list(range(6)), f"expected to stop right after frame 5, got up to {got[-1]}"


def test_skeleton_matches_smpl_body(tmp_path):
    from backend.body import SMPLBody, load_smpl_data, write_synthetic_smpl_files

    files = write_synthetic_smpl_files(tmp_path, seed=3)
    body = SMPLBody.from_files(files.smpl_path)
    skeleton = SkeletonModel.from_smpl_body(body)
    same = SkeletonModel.from_smpl_data(load_smpl_data(files.smpl_path))
    np.testing.assert_allclose(same.joints_shapedirs, skeleton.joints_shapedirs, atol=1e-6)
    rng = np.random.default_rng(0)
    betas = rng.normal(0, 1, (4, 10))
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_rotvec(rng.normal(0, 0.5, (4 * 24, 3))).as_matrix().reshape(4, 24, 3, 3)
    out = body(torch.tensor(rot[:, :1], dtype=torch.float32), torch.tensor(rot[:, 1:], dtype=torch.float32),
               torch.tensor(betas, dtype=torch.float32))
    np.testing.assert_allclose(skeleton.posed_joints(rot, betas), out.smpl_joints.numpy(), atol=2e-5,
                               err_msg="FK of the rest joints must equal SMPLBody's smpl_joints")
    np.testing.assert_allclose(skeleton.pelvis_cam(betas, np.zeros(3)), out.smpl_joints[:, 0].numpy(), atol=2e-5)


def _skeleton() -> SkeletonModel:
    rest = np.zeros((24, 3))
    parents = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])
    for k in range(1, 24):
        rest[k] = rest[parents[k]] + np.array([0.02 * (k % 3 - 1), 0.1, 0.0])
    dirs = np.zeros((24, 3, 10))
    dirs[0, 1, 0] = 0.05  # beta 0 moves the pelvis (so J0 depends on shape)
    return SkeletonModel(rest, dirs, parents)


def test_sequences_infill_gaps_and_keep_the_pelvis():
    skeleton = _skeleton()
    records = []
    rng = np.random.default_rng(0)
    for f in range(30):
        people = []
        if not 12 <= f < 16:  # undetected for 4 frames: tracker predicts, export interpolates
            betas = np.zeros(10)
            betas[0] = 1.0 + rng.normal(0, 0.05) + (5.0 if f == 3 else 0.0)  # one wild frame
            people.append(_person(f, 0, x=0.0, betas=betas))
        records.append(frame_record(f, people, [np.full(96, 0.1)] * len(people)))
    seqs = build_sequences(records, skeleton, 30.0, TrackerConfig(), smooth=False)
    assert [s.track_id for s in seqs] == [1], f"expected one track, got {[s.track_id for s in seqs]}"
    s = seqs[0]
    assert list(s.frame_indices) == list(range(30)), f"expected frames 0..29, got {s.frame_indices}"
    assert list(np.where(~s.observed)[0]) == [12, 13, 14, 15], f"got unobserved {np.where(~s.observed)[0]}"
    assert abs(s.betas[0] - 1.0) < 0.05, f"robust betas should ignore the wild frame, got {s.betas[0]:.3f}"
    # The pelvis follows the observed x = 0.001·frame, also through the gap (linear infill).
    np.testing.assert_allclose(s.pelvis_cam[:, 0], 0.001 * np.arange(30), atol=1e-9)
    # ... and equals J0(track betas) + transl.
    np.testing.assert_allclose(s.pelvis_cam, skeleton.pelvis_cam(s.betas, s.transl), atol=1e-9)


def test_people_tracker_predicted_person_moves_with_the_track():
    tracker = PeopleTracker(_skeleton(), TrackerConfig(n_init=1))
    outs = []
    for f in range(10):
        people = [_person(f, 0, x=0.03 * f)] if f < 6 else []
        outs += tracker.push(f, people, [np.full(96, 0.1)] * len(people))
    states = {f: tp for f, tps in outs for tp in tps}
    assert states[7].state == "predicted" and states[5].state == "observed"
    moved = states[7].person.cam_t_full[0] - states[5].person.cam_t_full[0]
    # 0.031 m/frame for 2 frames; the ridge on the velocity fit shrinks it by ~10 % on a 6-frame history.
    assert moved == pytest.approx(2 * 0.031, abs=0.01), f"expected ~0.062 m of constant-velocity motion, got {moved}"


def test_predicted_person_leaving_the_image_is_not_reported():
    tracker = PeopleTracker(_skeleton(), TrackerConfig(n_init=1, max_predict=10))
    outs = []
    for f in range(12):
        people = []
        if f < 6:
            p = _person(f, 0, x=0.3 * f)  # walks right fast; the box follows in pixels
            people = [PersonResult(**{**p.__dict__, "bbox_xyxy": np.array([100.0 * f, 10, 100.0 * f + 40, 110])})]
        outs += tracker.push(f, people, [np.full(96, 0.1)] * len(people), image_size_wh=(640, 480))
    reported = {f: [tp.state for tp in tps] for f, tps in outs}
    # Last box x1 = 500 at frame 5; predicted boxes move ~60 px/frame (f·Δx/z): mostly outside from frame 8 on.
    assert reported[6] == ["predicted"], f"expected a prediction right after the last detection, got {reported[6]}"
    assert all(reported[f] == [] for f in range(9, 12)), f"expected no ghost once the box left the image: {reported}"


def test_appearance_separates_clothing_and_ignores_position():
    from skimage import data as skdata

    from backend.video import appearance_distance, appearance_embedding

    astronaut = np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])  # BGR
    canvas = np.full((300, 600, 3), 90, np.uint8)
    person = astronaut[40:260:2, 120:340:2]  # 110 x 110
    canvas[100:210, 50:160] = person
    canvas[150:260, 400:510] = person  # the same person elsewhere
    green = person.copy()
    green[..., 0], green[..., 2] = person[..., 2] // 3, person[..., 0] // 3  # recoloured clothes
    canvas2 = canvas.copy()
    canvas2[150:260, 400:510] = green
    a = appearance_embedding(canvas, np.array([50, 100, 160, 210]))
    b = appearance_embedding(canvas, np.array([400, 150, 510, 260]))
    c = appearance_embedding(canvas2, np.array([400, 150, 510, 260]))
    same, other = appearance_distance(a, b)[0, 0], appearance_distance(a, c)[0, 0]
    assert same < 0.05, f"same person at another place: expected distance < 0.05, got {same:.3f}"
    assert other > 0.3, f"recoloured clothes: expected distance > 0.3, got {other:.3f}"


class _NoisyEngine:
    """Non-staged engine: one person per frame walking right with noisy pose and position."""

    name = "noisy"

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def reconstruct_batch(self, images_bgr, boxes_xyxy=None):
        out = []
        for img in images_bgr:
            f = int(img[0, 0, 0])
            p = _person(f, 0, x=0.02 * f)
            pose = 0.3 * np.sin(np.arange(23 * 3).reshape(23, 3) + f / 10.0) + self.rng.normal(0, 0.05, (23, 3))
            t = p.cam_t_full + self.rng.normal(0, 0.02, 3)
            out.append([PersonResult(**{**p.__dict__, "body_pose": pose, "cam_t_full": t})])
        return out


def test_video_session_smoothing_reduces_streamed_jitter():
    from backend.video import VideoOptions, VideoSession

    def stream(smooth: bool):
        session = VideoSession(_NoisyEngine(0), 30.0, VideoOptions(smooth=smooth), skeleton=_skeleton())
        results = []
        for i, img in _frames(90):
            session.push_frame(i, img)
            results += list(session.results())
        results += list(session.flush())
        assert [r.index for r in results] == list(range(90)), "one result per frame, in order"
        pose = np.stack([r.tracks[0].person.body_pose for r in results])
        return np.abs(np.diff(pose, 2, axis=0)).mean()

    raw, smoothed = stream(False), stream(True)
    assert smoothed < raw / 3, f"expected streamed pose acceleration cut >= 3x by smoothing, got {raw:.4f} -> {smoothed:.4f}"


def test_video_options_from_wire():
    from backend.video import VideoOptions

    opts = VideoOptions.from_json({"smooth": False, "batch_frames": 4})
    assert (opts.smooth, opts.batch_frames) == (False, 4)
    with pytest.raises(ValueError, match="unknown keys"):
        VideoOptions.from_json({"smoth": True})
    with pytest.raises(ValueError, match="batch_frames"):
        VideoOptions.from_json({"batch_frames": 0})

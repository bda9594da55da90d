"""Scoring through the streaming video path: the real VideoSession (tracker, smoothing) over frames on disk."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from backend.eval.datasets import BodySample
from backend.eval.video_eval import VideoResults, sequence_frames
from backend.video import VideoOptions, VideoSession, skeleton_for_models_dir

from .test_posetrack import two_people_scene


class InOrderEngine:
    """Stands in for a detector + HMR engine: returns the scripted people of the next frame on each call."""

    def __init__(self, scene):
        self.scene = scene
        self.next = 0

    def reconstruct_batch(self, images, boxes=None):
        out = []
        for _ in images:
            out.append(self.scene[self.next])
            self.next += 1
        return out


def gt_sample(folder, frame, box):
    return BodySample(sequence=folder.name, frame_index=frame, person_index=0,
                      image_path=folder / f"image_{frame:05d}.jpg", gender="male", global_orient=np.zeros(3),
                      body_pose=np.zeros(69), betas=np.zeros(10), bbox_xyxy=np.asarray(box, float),
                      intrinsics=np.eye(3))


def test_sequence_frames_reads_both_naming_schemes(tmp_path):
    for name in ("image_00002.jpg", "image_00010.jpg", "00003.jpg", "notes.jpg"):
        (tmp_path / name).write_bytes(b"")
    assert [f for f, _ in sequence_frames(tmp_path)] == [2, 3, 10]
    with pytest.raises(FileNotFoundError, match="no numbered .jpg frames"):
        sequence_frames(tmp_path / "missing")


def test_each_ground_truth_box_gets_its_tracked_person(tmp_path):
    scene, images, boxes = two_people_scene(frames=6)
    folder = tmp_path / "seq"
    folder.mkdir()
    for t, image in images.items():
        cv2.imwrite(str(folder / f"image_{t:05d}.jpg"), image)
    engine = InOrderEngine(scene)
    skeleton = skeleton_for_models_dir(tmp_path)
    sessions = []

    def make_session():
        sessions.append(VideoSession(engine, 30.0, VideoOptions(smooth=False), skeleton=skeleton))
        return sessions[-1]

    video = VideoResults(make_session, lambda p: cv2.imread(str(p)))
    for t in range(6):
        for k in (0, 1):
            found = video(gt_sample(folder, t, boxes[t][k]), boxes[t][k])
            assert found is not None, f"frame {t}, person {k}: no tracked person matched"
            np.testing.assert_allclose(found.bbox_xyxy, boxes[t][k], atol=1e-9)
            np.testing.assert_allclose(found.cam_t_full, scene[t][k].cam_t_full, atol=1e-9)
    assert len(sessions) == 1 and engine.next == 6, "one pass over the sequence, every frame once"
    far = np.array([600.0, 400.0, 630.0, 470.0])
    assert video(gt_sample(folder, 0, far), far) is None, "a box nobody overlaps gets no person"

"""PoseTrack evaluation: keypoint mapping, PCK against hand counts, box matching, and tracking scores of the real
video tracker on a scripted two-person sequence."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from backend.body import KEYPOINT_NAMES
from backend.eval import evaluate_tracking
from backend.eval.datasets import PoseTrackFrame
from backend.eval.posetrack import (
    POSETRACK_KEYPOINTS,
    POSETRACK_TO_KEYPOINTS,
    PCKCounter,
    concat_videos,
    crop_side,
    people_for_boxes,
    track_boxes,
    tracking_frames,
)
from backend.results import PersonResult
from backend.video import PeopleTracker, skeleton_for_models_dir

PT = {name: i for i, name in enumerate(POSETRACK_KEYPOINTS)}


def person(box=(0.0, 0.0, 1.0, 1.0), keypoints=None, cam_t=(0.0, 0.0, 5.0)):
    return PersonResult(engine="test", bbox_xyxy=np.asarray(box, float), score=1.0, global_orient=np.zeros(3),
                        body_pose=np.zeros((23, 3)), betas=np.zeros(10), cam_crop=np.zeros(3),
                        cam_t_full=np.asarray(cam_t, float), focal_length_px=1000.0,
                        keypoints_2d=np.zeros((44, 2)) if keypoints is None else keypoints)


def test_every_posetrack_keypoint_maps_to_the_named_keypoint():
    assert len(POSETRACK_KEYPOINTS) == 17
    assert set(POSETRACK_TO_KEYPOINTS) == set(POSETRACK_KEYPOINTS)
    expected = {"nose": 0, "head_bottom": 37, "head_top": 38, "left_wrist": 7, "right_wrist": 4, "left_hip": 12,
                "right_ankle": 11, "left_ear": 18}
    for name, index in expected.items():
        got = KEYPOINT_NAMES.index(POSETRACK_TO_KEYPOINTS[name])
        assert got == index, f"{name}: expected our keypoint {index}, got {got}"


def test_crop_side_grows_to_the_model_aspect_then_scales():
    # tall box 30x100: width grows to 75 (192:256), longer side 100 -> 120
    # wide box 200x100: height grows to 200*256/192 = 266.67 -> 320
    np.testing.assert_allclose(crop_side([[0, 0, 30, 100], [10, 10, 210, 110]]), [120.0, 320.0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(crop_side([[0, 0, 30, 100]], box_scale=1.0), [100.0], atol=1e-12)


def test_pck_counts_match_hand_computation():
    box = np.array([0.0, 0.0, 30.0, 100.0])  # crop side 120 -> thresholds 6 px (0.05) and 12 px (0.1)
    gt = np.zeros((17, 3))
    gt[:, :2] = np.arange(34.0).reshape(17, 2)
    pred = np.full((44, 2), 1e4)  # every keypoint far away unless set below
    for name, err in (("nose", 0.0), ("left_wrist", 5.0), ("right_knee", 8.0), ("head_top", 20.0)):
        ours = KEYPOINT_NAMES.index(POSETRACK_TO_KEYPOINTS[name])
        gt[PT[name], 2] = 1
        pred[ours] = gt[PT[name], :2] + [0.0, err]
    counter = PCKCounter()
    counter.add(pred, gt, box)
    missed_gt = np.zeros((17, 3))
    missed_gt[[PT["nose"], PT["left_hip"]], 2] = 1
    counter.add(None, missed_gt, box)  # the engine returned nobody: its 2 visible keypoints are wrong
    counter.add(pred, np.zeros((17, 3)), box)  # nothing visible: not a scored person
    rep = counter.report("hmr2", "val")
    assert (rep.num_people, rep.num_missed, rep.num_keypoints) == (2, 1, 6)
    assert rep.pck["0.05"] == pytest.approx(2 / 6, abs=1e-12), rep.pck
    assert rep.pck["0.1"] == pytest.approx(3 / 6, abs=1e-12), rep.pck
    assert rep.per_joint["0.1"]["right_knee"] == 1.0 and rep.per_joint["0.05"]["right_knee"] == 0.0
    assert rep.per_joint["0.1"]["nose"] == 0.5, "nose: correct once, missed once"
    assert "left_ear" not in rep.per_joint["0.1"], "never visible keypoints are not listed"


def test_people_for_boxes_matches_by_iou_when_the_engine_drops_one():
    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10]], float)
    a, b = person(boxes[0]), person(boxes[1] + [1, 0, 1, 0])
    assert people_for_boxes([a, b], boxes) == [a, b]
    assert people_for_boxes([b], boxes) == [None, b]
    assert people_for_boxes([person([50, 50, 60, 60])], boxes) == [None, None]


def gt_frame(frame_id, ids, boxes):
    return PoseTrackFrame(image_path="", frame_id=frame_id, track_ids=np.asarray(ids, np.int64),
                          boxes_xyxy=np.asarray(boxes, float).reshape(-1, 4), keypoints=np.zeros((len(ids), 17, 3)))


def test_tracking_frames_and_videos_scored_like_hand_counts():
    box = [0, 0, 10, 10]
    # Video A: GT 1 tracked by 5 in frames 0-1, then by 6 in frame 2: one ID switch.
    video_a = tracking_frames([gt_frame(f, [1], [box]) for f in range(3)],
                              {0: [(5, np.array(box, float))], 1: [(5, np.array(box, float))],
                               2: [(6, np.array(box, float))]})
    # Video B reuses the ids 1 and 5: they are other people. Frame 1 adds GT 2 with a tracker box at IoU 1/3.
    video_b = tracking_frames([gt_frame(0, [1], [box]), gt_frame(1, [1, 2], [box, [100, 0, 110, 10]])],
                              {0: [(5, np.array(box, float))],
                               1: [(5, np.array(box, float)), (9, np.array([105, 0, 115, 10], float))]})
    assert video_b[1].similarity[1, 1] == pytest.approx(1 / 3, abs=1e-12)
    scores = evaluate_tracking(concat_videos([video_a, video_b]))
    # 6 GT boxes, 1 FN + 1 FP (IoU 1/3 < 0.5), 1 switch -> MOTA = 1 - 3/6
    assert (scores.num_gt, scores.misses, scores.false_positives, scores.id_switches) == (6, 1, 1, 1)
    assert scores.mota == pytest.approx(0.5, abs=1e-12)
    # IDF1: IDTP = 2 (A: 1<->5) + 2 (B: 1<->5) = 4 of 6 GT and 6 predicted boxes -> 8 / 12
    assert scores.idf1 == pytest.approx(2 / 3, abs=1e-12)
    # Without unique ids the B video's GT 1 would continue A's track and add a second switch.
    assert evaluate_tracking(video_a + video_b).id_switches == 2


class ScriptedEngine:
    """Stands in for a detector + HMR engine: returns the people of a scripted scene for each frame."""

    def __init__(self, scene):
        self.scene = scene  # frame -> [PersonResult]
        self.calls = 0

    def reconstruct_batch(self, images, boxes=None):
        assert boxes is None, "the tracking evaluation must let the engine detect people"
        out = []
        for image in images:
            index = int(image[0, 0, 0])  # the frame number is written in the first pixel
            out.append(self.scene[index])
            self.calls += 1
        return out


def two_people_scene(frames=8):
    """Two people walking past each other (one above the other) in front of a pinhole camera (f=1000)."""
    scene, images, boxes = {}, {}, {}
    for t in range(frames):
        image = np.full((480, 640, 3), 40, np.uint8)
        people, frame_boxes = [], []
        for k, (x, y, colour) in enumerate(((-1.0 + 0.1 * t, -0.6, (0, 0, 220)), (1.0 - 0.1 * t, 0.6, (220, 0, 0)))):
            u, v = 320 + 1000 * x / 5.0, 240 + 1000 * y / 5.0
            b = np.array([u - 30, v - 60, u + 30, v + 60])
            cv2.rectangle(image, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), colour, -1)
            people.append(person(b, cam_t=(x, y, 5.0)))
            frame_boxes.append(b)
        image[0, 0] = t
        scene[t], images[t], boxes[t] = people, image, frame_boxes
    return scene, images, boxes


def test_video_tracker_on_a_scripted_scene_scores_perfectly(tmp_path):
    scene, images, boxes = two_people_scene()
    engine = ScriptedEngine(scene)
    tracker = PeopleTracker(skeleton_for_models_dir(tmp_path))  # no SMPL there: the mannequin skeleton
    tracks = track_boxes(((t, images[t]) for t in sorted(images)), engine, tracker)
    assert engine.calls == 8 and sorted(tracks) == list(range(8))
    ids = {tid for frame in tracks.values() for tid, _ in frame}
    assert len(ids) == 2, f"expected 2 track ids over the clip, got {sorted(ids)}"
    gt = [gt_frame(t, [7, 8], boxes[t]) for t in range(8)]
    scores = evaluate_tracking(tracking_frames(gt, tracks))
    assert (scores.id_switches, scores.misses, scores.false_positives) == (0, 0, 0), scores
    assert scores.mota == 1.0 and scores.idf1 == 1.0
    assert math.isclose(scores.hota, 1.0, abs_tol=1e-12), scores
    # Labelled frames the tracker has nothing for count as misses.
    scores = evaluate_tracking(tracking_frames(gt + [gt_frame(99, [7], [boxes[0][0]])], tracks))
    assert scores.misses == 1 and scores.num_gt == 17

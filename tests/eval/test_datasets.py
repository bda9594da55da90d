"""Readers on small files written by the tests in each public release's exact layout."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.eval.datasets import DatasetFormatError, posetrack_video_images, read_3dpw, read_emdb, read_posetrack

RX90 = Rotation.from_euler("x", 90, degrees=True).as_matrix()


def write_3dpw(root, n=4):
    folder = root / "sequenceFiles" / "test"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    cam = np.tile(np.eye(4), (n, 1, 1))
    cam[:, :3, :3] = RX90
    kp = np.zeros((n, 3, 18))
    kp[:, 0] = np.linspace(100, 200, 18)
    kp[:, 1] = np.linspace(50, 350, 18)
    kp[:, 2] = 1.0
    kp[2, 2] = 0.0  # frame 2: no confident keypoint -> no box -> skipped
    seq = {
        "sequence": "courtyard_test_00",
        "poses": [np.concatenate([np.zeros((n, 3)), rng.normal(0, 0.1, (n, 69))], axis=1)],
        "betas": [rng.normal(size=10)],
        "trans": [np.zeros((n, 3))],
        "genders": ["f"],
        "cam_poses": cam,
        "cam_intrinsics": np.array([[1961.0, 0, 540], [0, 1969.0, 960], [0, 0, 1]]),
        "campose_valid": [np.array([1, 1, 1, 0])],
        "poses2d": [kp],
    }
    with open(folder / "courtyard_test_00.pkl", "wb") as f:
        pickle.dump(seq, f, protocol=2)
    return seq


def test_3dpw_reader_moves_orientation_to_camera_and_skips_invalid(tmp_path):
    seq = write_3dpw(tmp_path)
    samples = list(read_3dpw(tmp_path, "test"))
    assert [s.frame_index for s in samples] == [0, 1], "frame 2 has no keypoints, frame 3 has no valid camera"
    s = samples[1]
    assert s.gender == "female"
    np.testing.assert_allclose(Rotation.from_rotvec(s.global_orient).as_matrix(), RX90, atol=1e-12)
    np.testing.assert_allclose(s.body_pose, seq["poses"][0][1, 3:])
    # box: keypoints span x 100..200, y 50..350 -> square of side 1.2*300 centred at (150, 200)
    np.testing.assert_allclose(s.bbox_xyxy, [150 - 180, 200 - 180, 150 + 180, 200 + 180])
    assert s.image_path == tmp_path / "imageFiles" / "courtyard_test_00" / "image_00001.jpg"


def test_3dpw_box_is_spins_any_confidence_keypoint_box(tmp_path):
    # SPIN's 3DPW test box: every keypoint with confidence > 0 counts, however few and however low.
    seq = write_3dpw(tmp_path)
    kp = seq["poses2d"][0]
    kp[1, 2] = 0.0
    kp[1, :, 3] = [40.0, 90.0, 0.05]  # one barely confident keypoint
    kp[1, :, 7] = [140.0, 290.0, 0.9]
    with open(tmp_path / "sequenceFiles" / "test" / "courtyard_test_00.pkl", "wb") as f:
        pickle.dump(seq, f, protocol=2)
    samples = {s.frame_index: s for s in read_3dpw(tmp_path, "test")}
    assert sorted(samples) == [0, 1], "two confident keypoints are enough for a box"
    # tight box x 40..140, y 90..290 -> square of side 1.2 * 200 = 240 centred at (90, 190)
    np.testing.assert_allclose(samples[1].bbox_xyxy, [90 - 120, 190 - 120, 90 + 120, 190 + 120], atol=1e-12)


def test_3dpw_missing_split_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="sequenceFiles/test"):
        list(read_3dpw(tmp_path, "test"))
    with pytest.raises(ValueError, match="split must be one of"):
        list(read_3dpw(tmp_path, "val"))


def test_3dpw_wrong_file_is_named(tmp_path):
    folder = tmp_path / "sequenceFiles" / "test"
    folder.mkdir(parents=True)
    with open(folder / "x.pkl", "wb") as f:
        pickle.dump({"poses": []}, f)
    with pytest.raises(DatasetFormatError, match="missing keys"):
        list(read_3dpw(tmp_path, "test"))


def test_emdb_reader_protocol_and_good_frames(tmp_path):
    n = 5
    for name, emdb1 in (("P0_00_walk", True), ("P1_01_run", False)):
        d = tmp_path / name[:2] / name[3:]
        d.mkdir(parents=True)
        extr = np.tile(np.eye(4), (n, 1, 1))
        extr[:, :3, :3] = RX90
        data = {
            "gender": "male", "name": name, "emdb1": emdb1, "emdb2": not emdb1, "n_frames": n,
            "good_frames_mask": np.array([True, True, False, True, True]),
            "camera": {"intrinsics": np.eye(3), "extrinsics": extr, "width": 1080, "height": 1920},
            "smpl": {"poses_root": np.zeros((n, 3)), "poses_body": np.ones((n, 69)) * 0.01,
                     "trans": np.zeros((n, 3)), "betas": np.arange(10.0)},
            "kp2d": np.zeros((n, 24, 2)),
            "bboxes": {"bboxes": np.tile([10.0, 20.0, 110.0, 220.0], (n, 1)), "invalid_idxs": np.array([4])},
        }
        with open(d / f"{name}_data.pkl", "wb") as f:
            pickle.dump(data, f)
    samples = list(read_emdb(tmp_path, protocol=1))
    assert [(s.sequence, s.frame_index) for s in samples] == [("P0_00_walk", i) for i in (0, 1, 3)]
    np.testing.assert_allclose(Rotation.from_rotvec(samples[0].global_orient).as_matrix(), RX90, atol=1e-12)
    np.testing.assert_allclose(samples[0].betas, np.arange(10.0))
    assert samples[0].image_path.name == "00000.jpg"
    assert [s.sequence for s in read_emdb(tmp_path, protocol=2)] == ["P1_01_run"] * 3


def test_posetrack_reader(tmp_path):
    doc = {
        "images": [
            {"id": 11, "file_name": "images/val/000001/000001.jpg", "frame_id": 1, "is_labeled": True},
            {"id": 10, "file_name": "images/val/000001/000000.jpg", "frame_id": 0, "is_labeled": True},
            {"id": 12, "file_name": "images/val/000001/000002.jpg", "frame_id": 2, "is_labeled": False},
        ],
        "annotations": [
            {"image_id": 10, "track_id": 3, "bbox": [10, 20, 30, 40], "keypoints": [1] * 51},
            {"image_id": 11, "track_id": 3, "bbox": [12, 20, 30, 40], "keypoints": [1] * 51},
            {"image_id": 11, "track_id": 4, "bbox": [100, 20, 30, 40], "keypoints": [0] * 51},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = tmp_path / "000001_mpii_test.json"
    path.write_text(json.dumps(doc))
    frames = read_posetrack(path)
    assert [f.frame_id for f in frames] == [0, 1]
    assert frames[1].track_ids.tolist() == [3, 4]
    np.testing.assert_allclose(frames[0].boxes_xyxy, [[10, 20, 40, 60]])
    assert frames[1].keypoints.shape == (2, 17, 3)


def test_posetrack_video_images_lists_every_frame_in_order(tmp_path):
    doc = {"images": [{"id": 3, "frame_id": 3, "file_name": "images/val/v/000001.jpg", "is_labeled": False},
                      {"id": 2, "frame_id": 2, "file_name": "images/val/v/000000.jpg", "is_labeled": True}]}
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc))
    assert posetrack_video_images(path) == [(2, "images/val/v/000000.jpg"), (3, "images/val/v/000001.jpg")]
    doc["images"][1]["frame_id"] = 3
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetFormatError, match="share a frame_id"):
        posetrack_video_images(path)

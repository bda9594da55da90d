"""The body evaluation loop on a toy rigid body: exact answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.eval.body_eval import evaluate_bodies, lsp14_from_vertices
from backend.eval.datasets import BodySample
from backend.eval.protocols import CROP_PROTOCOLS
from backend.results import PersonResult

RNG = np.random.default_rng(0)
TEMPLATE = RNG.normal(size=(60, 3))  # a rigid "body" of 60 vertices
REGRESSOR = np.abs(RNG.normal(size=(17, 60)))
REGRESSOR /= REGRESSOR.sum(axis=1, keepdims=True)


def rigid_vertices(gender, global_orient, body_pose, betas):
    del gender, body_pose
    scale = 1.0 + 0.1 * float(betas[0])
    return scale * Rotation.from_rotvec(global_orient).apply(TEMPLATE)


def sample(seq, i, orient):
    return BodySample(sequence=seq, frame_index=i, person_index=0, image_path=None, gender="male",
                      global_orient=np.asarray(orient, float), body_pose=np.zeros(69), betas=np.zeros(10),
                      bbox_xyxy=np.array([0.0, 0.0, 10.0, 20.0]), intrinsics=np.eye(3))


def person(orient, beta0=0.0):
    betas = np.zeros(10)
    betas[0] = beta0
    return PersonResult(engine="test", bbox_xyxy=np.zeros(4), score=1.0, global_orient=np.asarray(orient, float),
                        body_pose=np.zeros((23, 3)), betas=betas, cam_crop=np.zeros(3), cam_t_full=np.zeros(3),
                        focal_length_px=1.0, keypoints_2d=np.zeros((44, 2)))


def run(samples, answers, protocol=CROP_PROTOCOLS["full"]):
    it = iter(answers)
    seen_boxes = []

    def reconstruct(image, box):
        seen_boxes.append(box)
        return next(it)

    report = evaluate_bodies(samples, reconstruct, rigid_vertices, REGRESSOR, dataset="toy", engine="test",
                             protocol=protocol, load_image=lambda s: np.zeros((30, 30, 3), np.uint8))
    return report, seen_boxes


def test_exact_prediction_scores_zero():
    report, _ = run([sample("a", 0, [0.1, 0.2, 0.3])], [person([0.1, 0.2, 0.3])])
    assert report.num_samples == 1
    assert report.mpjpe_mm == pytest.approx(0.0, abs=1e-9)
    assert report.mve_mm == pytest.approx(0.0, abs=1e-9)


def test_rotation_and_scale_errors_vanish_after_procrustes_only():
    report, _ = run([sample("a", 0, [0.0, 0.0, 0.0])], [person([0.0, 0.5, 0.0], beta0=2.0)])
    assert report.mpjpe_mm > 10.0
    assert report.pa_mpjpe_mm == pytest.approx(0.0, abs=1e-6)


def test_mpjpe_matches_hand_computation_and_groups_sequences():
    gt_orient, pred_orient = np.zeros(3), np.array([0.0, 0.0, 0.3])
    report, _ = run([sample("a", 0, gt_orient), sample("b", 0, gt_orient)], [person(pred_orient), None])
    gt_j = lsp14_from_vertices(rigid_vertices("m", gt_orient, None, np.zeros(10))[None], REGRESSOR)[0]
    pr_j = lsp14_from_vertices(rigid_vertices("n", pred_orient, None, np.zeros(10))[None], REGRESSOR)[0]
    gt_j -= gt_j[[2, 3]].mean(0)
    pr_j -= pr_j[[2, 3]].mean(0)
    expected = np.linalg.norm(gt_j - pr_j, axis=1).mean() * 1000
    assert report.mpjpe_mm == pytest.approx(expected, rel=1e-9)
    assert report.num_missed == 1 and list(report.per_sequence_mm) == ["a"]
    assert report.per_joint_mm["left_wrist"] == pytest.approx(np.linalg.norm(gt_j[11] - pr_j[11]) * 1000)


def test_crop_protocol_shrinks_the_box_given_to_the_engine():
    report, boxes = run([sample("a", 0, np.zeros(3))], [person(np.zeros(3))], CROP_PROTOCOLS["crop30"])
    np.testing.assert_allclose(boxes[0], [0, 0, 10, 14])
    assert report.protocol == "crop30" and "bottom 30%" in report.notes[0]


def test_regressor_shape_is_checked():
    with pytest.raises(ValueError, match=r"\(17, 60\)"):
        lsp14_from_vertices(np.zeros((1, 60, 3)), np.zeros((17, 61)))

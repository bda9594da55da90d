"""The body evaluation loop on a toy rigid body: exact answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.eval.body_eval import (
    SMPL24_NAMES,
    consecutive_runs,
    evaluate_bodies,
    lsp14_from_vertices,
    lsp14_joint_set,
    smpl24_joint_set,
)
from backend.eval.datasets import BodySample
from backend.eval.pose_metrics import align_by_pelvis
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


def test_consecutive_runs():
    assert consecutive_runs([4, 5, 6, 9, 10, 12]) == [[0, 1, 2], [3, 4], [5]]
    assert consecutive_runs([]) == []


def test_acceleration_error_over_consecutive_frames_only():
    # Frames 0-2 consecutive (scales 1.0, 1.1, 1.0), frames 5-6 a run of 2 (too short), frame 8 missed by the engine.
    # Ground truth never moves, so the error is the prediction's acceleration at frame 1:
    # (1.0 - 2·1.1 + 1.0)·J = -0.2·J for the pelvis-aligned LSP joints J of the template.
    frames = [0, 1, 2, 5, 6, 8]
    answers = [person([0, 0, 0], b) for b in (0.0, 1.0, 0.0, 3.0, -2.0)] + [None]
    report, _ = run([sample("a", i, [0, 0, 0]) for i in frames], answers)
    joints = align_by_pelvis(lsp14_from_vertices(TEMPLATE[None], REGRESSOR))[0]
    expected = 0.2 * np.linalg.norm(joints, axis=-1).mean() * 1000.0
    assert report.accel_frames == 1
    assert report.accel_mm == pytest.approx(expected, abs=1e-6), (report.accel_mm, expected)
    assert report.per_sequence_mm["a"]["accel"] == pytest.approx(expected, abs=1e-6)
    assert report.num_missed == 1


def test_acceleration_is_per_person_and_sequence():
    # Two people of one sequence on the same frames: interleaved samples must not form one track.
    samples, answers = [], []
    for i in range(3):
        for p in (0, 1):
            s = sample("b", i, [0, 0, 0])
            samples.append(BodySample(**{**s.__dict__, "person_index": p}))
            answers.append(person([0, 0, 0], 0.0 if p == 0 else 0.5))
    report, _ = run(samples, answers)
    assert report.accel_frames == 2
    assert report.accel_mm == pytest.approx(0.0, abs=1e-9), "each person is still; only mixing them would move"


def test_batched_reconstruction_gives_the_same_report():
    samples = [sample("a", i, [0.0, 0.1 * i, 0.0]) for i in range(5)]
    answers = [person([0.0, 0.1 * i + 0.05, 0.0], 0.3 * i) for i in range(5)]
    single, _ = run(samples, answers)
    calls = []

    def reconstruct_batch(images, boxes):
        start = sum(calls)
        calls.append(len(images))
        return answers[start:start + len(images)]

    batched = evaluate_bodies(samples, None, rigid_vertices, REGRESSOR, dataset="toy", engine="test",
                              load_image=lambda s: np.zeros((30, 30, 3), np.uint8),
                              reconstruct_batch=reconstruct_batch, batch_size=2)
    assert calls == [2, 2, 1]
    assert batched.to_json() == single.to_json()
    with pytest.raises(ValueError, match="reconstruct or reconstruct_batch"):
        evaluate_bodies(samples, None, rigid_vertices, REGRESSOR, dataset="toy", engine="test",
                        load_image=lambda s: np.zeros((30, 30, 3), np.uint8))


def test_smpl24_joint_set_is_tokenhmrs_emdb_protocol():
    # TokenHMR's EMDB evaluation: the SMPL J_regressor on both meshes, all 24 joints, pelvis = mid-point of joints 1, 2.
    reg24 = np.abs(RNG.normal(size=(24, 60)))
    reg24 /= reg24.sum(axis=1, keepdims=True)
    gt_orient, pred_orient = np.zeros(3), np.array([0.2, 0.0, 0.1])
    samples = [sample("a", 0, gt_orient)]
    report = evaluate_bodies(samples, lambda image, box: person(pred_orient, beta0=1.0), rigid_vertices,
                             smpl24_joint_set(reg24), dataset="toy", engine="test",
                             load_image=lambda s: np.zeros((30, 30, 3), np.uint8))
    gt_v = rigid_vertices("m", gt_orient, None, np.zeros(10))
    pr_v = rigid_vertices("n", pred_orient, None, np.array([1.0] + [0.0] * 9))
    gt_j, pr_j = reg24 @ gt_v, reg24 @ pr_v
    gt_pelvis, pr_pelvis = gt_j[[1, 2]].mean(0), pr_j[[1, 2]].mean(0)
    per_joint = np.linalg.norm((pr_j - pr_pelvis) - (gt_j - gt_pelvis), axis=1) * 1000
    assert report.joints == "smpl24" and list(report.per_joint_mm) == list(SMPL24_NAMES)
    assert report.mpjpe_mm == pytest.approx(per_joint.mean(), rel=1e-9)
    assert report.per_joint_mm["right_wrist"] == pytest.approx(per_joint[21], rel=1e-9)
    expected_mve = np.linalg.norm((pr_v - pr_pelvis) - (gt_v - gt_pelvis), axis=1).mean() * 1000
    assert report.mve_mm == pytest.approx(expected_mve, rel=1e-9), "MVE is measured after the same pelvis alignment"
    # The same people scored on LSP14 give other numbers: the joint set matters.
    lsp = evaluate_bodies(samples, lambda image, box: person(pred_orient, beta0=1.0), rigid_vertices,
                          lsp14_joint_set(REGRESSOR), dataset="toy", engine="test",
                          load_image=lambda s: np.zeros((30, 30, 3), np.uint8))
    assert lsp.joints == "lsp14" and abs(lsp.mpjpe_mm - report.mpjpe_mm) > 1.0


def test_joint_set_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(24, V\)"):
        smpl24_joint_set(np.zeros((17, 60)))
    with pytest.raises(ValueError, match=r"\(17, V\)"):
        lsp14_joint_set(np.zeros((24, 60)))
    with pytest.raises(ValueError, match="61 vertices"):
        smpl24_joint_set(np.zeros((24, 60))).joints(np.zeros((1, 61, 3)))

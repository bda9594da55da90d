from __future__ import annotations

import numpy as np
import pytest

from backend.eval.tracking_metrics import TrackingFrame, box_iou, evaluate_tracking


def frame(gt, pred, sim):
    return TrackingFrame(np.array(gt), np.array(pred), np.array(sim, dtype=np.float64).reshape(len(gt), len(pred)))


def test_perfect_tracking_scores_one():
    frames = [frame([1, 2], [7, 8], [[1, 0], [0, 1]]) for _ in range(3)]
    s = evaluate_tracking(frames)
    assert (s.mota, s.id_switches, s.idf1) == (1.0, 0, 1.0)
    assert s.hota == pytest.approx(1.0)


def test_one_identity_switch_hand_computed():
    frames = [frame([1], [10], [[1]]), frame([1], [10], [[1]]), frame([1], [11], [[1]]), frame([1], [11], [[1]])]
    s = evaluate_tracking(frames)
    assert s.id_switches == 1
    assert s.mota == pytest.approx(0.75)  # 1 - 1/4
    assert s.idf1 == pytest.approx(0.5)  # IDTP 2, IDFN 2, IDFP 2
    assert s.deta == pytest.approx(1.0)
    assert s.assa == pytest.approx(0.5)  # each match's association IoU is 2 / (4 + 2 - 2)
    assert s.hota == pytest.approx(np.sqrt(0.5))


def test_hota_averages_over_localisation_thresholds():
    frames = [frame([1], [3], [[0.62]]) for _ in range(4)]
    s = evaluate_tracking(frames)
    # Alphas 0.05..0.60 (12 of 19) accept the match with perfect association; the rest see only misses.
    assert s.hota == pytest.approx(12 / 19)
    assert s.mota == pytest.approx(1.0)


def test_unmatched_prediction_and_miss():
    s = evaluate_tracking([frame([1], [5], [[0.2]])])
    assert (s.misses, s.false_positives) == (1, 1)
    assert s.mota == pytest.approx(-1.0)


def test_continuity_rule_avoids_spurious_switch():
    # Frame 1 offers a slightly better second prediction; CLEAR MOT keeps the existing valid match.
    frames = [frame([1], [10, 11], [[0.9, 0.0]]), frame([1], [10, 11], [[0.6, 0.7]])]
    s = evaluate_tracking(frames)
    assert s.id_switches == 0
    assert s.false_positives == 2  # prediction 11 is unmatched in both frames


def test_box_iou_hand_computed():
    iou = box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [5, 5, 6, 6]]))
    np.testing.assert_allclose(iou, [[1 / 7, 0.0]])


def test_bad_similarity_shape_is_rejected():
    with pytest.raises(ValueError, match="similarity must be"):
        evaluate_tracking([TrackingFrame(np.array([1]), np.array([1, 2]), np.zeros((1, 1)))])

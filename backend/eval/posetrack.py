"""PoseTrack evaluation: PCK of reprojected 2D keypoints with ground-truth boxes (HMR 2.0 Table 2) and multi-person
tracking scores of the video path (4DHumans Tables 3-4).

PCK. PoseTrack's 17 keypoints are compared with the engine's 44 keypoints (``backend.body.KEYPOINT_NAMES``: 25
OpenPose BODY_25, then 19 LSP / MPII / H36M joints) through :data:`POSETRACK_TO_KEYPOINTS`. A visible ground-truth
keypoint (visibility > 0) is correct when its pixel error is below ``threshold · S``, where ``S`` is the side of the
square crop the model sees for that ground-truth box: the box is grown about its centre to the model's 192:256
(width:height) aspect ratio, then its longer side is multiplied by ``box_scale`` (1.2 by default, HMR 2.0's crop
enlargement). This is PCK on crop-normalised coordinates, as HMR 2.0 reports it (thresholds 0.05 and 0.1); the exact
crop factor used for the paper's table should be checked against its evaluation code before comparing digits.

Tracking. The video path (``backend.video.run_pipeline`` → ``PeopleTracker``) runs over every frame of a video with a
person detector; on each labelled frame, the boxes of the tracks observed in that frame are compared with the
ground-truth boxes by IoU and scored with :func:`~backend.eval.tracking_metrics.evaluate_tracking` (HOTA, MOTA, IDF1,
ID switches; CLEAR MOT / IDF1 matches at IoU >= 0.5). PoseTrack's ignore regions are not applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from backend.body import KEYPOINT_NAMES
from backend.results import PersonResult

from .datasets import PoseTrackFrame
from .tracking_metrics import TrackingFrame, box_iou

__all__ = [
    "POSETRACK_KEYPOINTS",
    "POSETRACK_TO_KEYPOINTS",
    "PCK_THRESHOLDS",
    "PCKReport",
    "PCKCounter",
    "crop_side",
    "people_for_boxes",
    "track_boxes",
    "tracking_frames",
    "concat_videos",
]

log = logging.getLogger(__name__)

# PoseTrack 2018 keypoint order (the ``categories[0].keypoints`` list of every annotation file).
POSETRACK_KEYPOINTS: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip

# PoseTrack keypoint -> our keypoint. head_bottom / head_top are MPII's upper neck / head top, which SPIN and HMR 2.0
# map to the LSP neck and head top. Every PoseTrack keypoint has a counterpart (PoseTrack 2018 leaves the ears
# unannotated, visibility 0, so they never count).
POSETRACK_TO_KEYPOINTS: dict[str, str] = {
    "nose": "OP Nose", "head_bottom": "Neck (LSP)", "head_top": "Top of Head (LSP)", "left_ear": "OP LEar",
    "right_ear": "OP REar", "left_shoulder": "OP LShoulder", "right_shoulder": "OP RShoulder",
    "left_elbow": "OP LElbow", "right_elbow": "OP RElbow", "left_wrist": "OP LWrist", "right_wrist": "OP RWrist",
    "left_hip": "OP LHip", "right_hip": "OP RHip", "left_knee": "OP LKnee", "right_knee": "OP RKnee",
    "left_ankle": "OP LAnkle", "right_ankle": "OP RAnkle",
}  # fmt: skip

# Indices into our 44 keypoints, in PoseTrack order.
_OURS = np.array([KEYPOINT_NAMES.index(POSETRACK_TO_KEYPOINTS[n]) for n in POSETRACK_KEYPOINTS])

PCK_THRESHOLDS: tuple[float, ...] = (0.05, 0.1)
MODEL_ASPECT = 192.0 / 256.0  # width / height of the crop HMR 2.0 and TokenHMR look at


def crop_side(boxes_xyxy: np.ndarray, box_scale: float = 1.2, aspect: float = MODEL_ASPECT) -> np.ndarray:
    """Side in pixels of the square crop the model sees for each box (the PCK normaliser).

    The box grows about its centre to ``aspect`` (width / height) without shrinking either side; its longer side
    times ``box_scale`` is the crop side.

    Args:
        boxes_xyxy: (N, 4) boxes.
        box_scale: crop enlargement.
        aspect: model input width / height.
    Returns:
        (N,) sides.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    w_exp = np.maximum(w, h * aspect)
    h_exp = np.maximum(h, w / aspect)
    return box_scale * np.maximum(w_exp, h_exp)


@dataclass
class PCKReport:
    """PCK of one engine on PoseTrack (fractions in [0, 1])."""

    dataset: str
    engine: str
    split: str
    box_scale: float
    num_people: int = 0
    num_missed: int = 0
    num_keypoints: int = 0
    pck: dict[str, float] = field(default_factory=dict)  # "0.05" -> fraction
    per_joint: dict[str, dict[str, float]] = field(default_factory=dict)  # threshold -> keypoint -> fraction
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


class PCKCounter:
    """Accumulates correct / visible keypoint counts per PoseTrack keypoint and threshold.

    Args:
        thresholds: fractions of the crop side.
        box_scale: crop enlargement (see :func:`crop_side`).
    """

    def __init__(self, thresholds: tuple[float, ...] = PCK_THRESHOLDS, box_scale: float = 1.2) -> None:
        if box_scale <= 0:
            raise ValueError(f"box_scale must be > 0; got {box_scale}")
        self.thresholds = tuple(thresholds)
        self.box_scale = box_scale
        self.correct = np.zeros((len(self.thresholds), len(POSETRACK_KEYPOINTS)), dtype=np.int64)
        self.visible = np.zeros(len(POSETRACK_KEYPOINTS), dtype=np.int64)
        self.people = 0
        self.missed = 0

    def add(self, keypoints_44: np.ndarray | None, gt_keypoints: np.ndarray, box_xyxy: np.ndarray) -> None:
        """Scores one person.

        Args:
            keypoints_44: (44, 2) predicted keypoints in image pixels, or None when the engine returned nobody for
                the box (then every visible keypoint counts as wrong).
            gt_keypoints: (17, 3) PoseTrack keypoints (x, y, visibility).
            box_xyxy: (4,) the ground-truth box given to the engine.
        """
        gt = np.asarray(gt_keypoints, dtype=np.float64).reshape(17, 3)
        vis = gt[:, 2] > 0
        if not vis.any():
            return
        self.people += 1
        self.visible += vis
        if keypoints_44 is None:
            self.missed += 1
            return
        kp = np.asarray(keypoints_44, dtype=np.float64)
        if kp.shape != (len(KEYPOINT_NAMES), 2):
            raise ValueError(f"predicted keypoints must be ({len(KEYPOINT_NAMES)}, 2); got {kp.shape}")
        err = np.linalg.norm(kp[_OURS] - gt[:, :2], axis=-1)
        side = float(crop_side(box_xyxy, self.box_scale)[0])
        for t, thr in enumerate(self.thresholds):
            self.correct[t] += vis & (err < thr * side)

    def report(self, engine: str, split: str) -> PCKReport:
        """The fractions so far (nan where no keypoint was visible)."""
        rep = PCKReport(dataset="posetrack", engine=engine, split=split, box_scale=self.box_scale,
                        num_people=self.people, num_missed=self.missed, num_keypoints=int(self.visible.sum()))
        total = self.visible.sum()
        for t, thr in enumerate(self.thresholds):
            key = f"{thr:g}"
            rep.pck[key] = float(self.correct[t].sum() / total) if total else float("nan")
            rep.per_joint[key] = {name: float(self.correct[t, j] / self.visible[j])
                                  for j, name in enumerate(POSETRACK_KEYPOINTS) if self.visible[j]}
        return rep


def people_for_boxes(people: list[PersonResult], boxes_xyxy: np.ndarray,
                     min_iou: float = 0.5) -> list[PersonResult | None]:
    """The engine's result for each requested box.

    Engines return one result per box in box order; when one returns a different number (it dropped a box it could
    not fit), results are matched to boxes by the IoU of their boxes (>= ``min_iou``, one-to-one) and unmatched boxes
    get None.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(people) == len(boxes):
        return list(people)
    out: list[PersonResult | None] = [None] * len(boxes)
    if not people:
        return out
    iou = box_iou(boxes, np.stack([np.asarray(p.bbox_xyxy, dtype=np.float64).reshape(4) for p in people]))
    taken: set[int] = set()
    for b in np.argsort(-iou.max(axis=1)):
        for p in np.argsort(-iou[b]):
            if int(p) not in taken and iou[b, p] >= min_iou:
                out[int(b)] = people[int(p)]
                taken.add(int(p))
                break
    return out


def track_boxes(frames: Iterable[tuple[int, np.ndarray]], engine: Any, tracker: Any, *,
                include_predicted: bool = False, pipeline_config: Any = None,
                progress: Callable[[int], None] | None = None) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Runs the video path over frames and collects each frame's tracked boxes.

    Args:
        frames: (index, image_bgr) in increasing index order.
        engine: an Engine that detects people itself (``reconstruct_batch`` without boxes).
        tracker: a fresh ``backend.video.PeopleTracker``.
        include_predicted: also report tracks the tracker only predicts (occluded / missed) in a frame.
        pipeline_config: ``backend.video.PipelineConfig`` (default sizes when None).
        progress: called with the number of frames done.
    Returns:
        frame index -> [(track id, (4,) xyxy box)].
    """
    from backend.video import PipelineConfig, run_pipeline
    from backend.video.people_tracking import frame_appearances

    out: dict[int, list[tuple[int, np.ndarray]]] = {}

    def collect(released) -> None:
        for index, tracked in released:
            out[index] = [(tp.track_id, np.asarray(tp.person.bbox_xyxy, dtype=np.float64).reshape(4))
                          for tp in tracked if include_predicted or tp.state == "observed"]

    for n, (index, image, people) in enumerate(run_pipeline(frames, engine, pipeline_config or PipelineConfig()),
                                               start=1):
        collect(tracker.push(index, people, frame_appearances(image, people)))
        if progress:
            progress(n)
    collect(tracker.flush())
    return out


def tracking_frames(gt_frames: list[PoseTrackFrame],
                    tracks: dict[int, list[tuple[int, np.ndarray]]]) -> list[TrackingFrame]:
    """One :class:`TrackingFrame` per labelled frame: ground-truth ids and boxes against the tracked boxes (IoU).

    Args:
        gt_frames: labelled frames of one video, in time order (``read_posetrack``).
        tracks: frame id -> [(track id, xyxy box)] from :func:`track_boxes`; frames without an entry have no tracks.
    Returns:
        Frames for :func:`~backend.eval.tracking_metrics.evaluate_tracking`.
    """
    result = []
    for f in gt_frames:
        pred = tracks.get(f.frame_id, [])
        pred_ids = np.array([t for t, _ in pred], dtype=np.int64)
        pred_boxes = np.array([b for _, b in pred], dtype=np.float64).reshape(-1, 4)
        result.append(TrackingFrame(gt_ids=np.asarray(f.track_ids, dtype=np.int64), pred_ids=pred_ids,
                                    similarity=box_iou(f.boxes_xyxy, pred_boxes)))
    return result


def concat_videos(videos: list[list[TrackingFrame]]) -> list[TrackingFrame]:
    """Joins several videos' frames into one sequence with identities made unique per video (ground truth and
    tracker ids are offset by video), so the scores of :func:`evaluate_tracking` on the result equal those of the
    summed per-video counts (CLEAR MOT, IDF1 and HOTA all decompose over disjoint identities)."""
    out = []
    gt_offset = pred_offset = 0
    for frames in videos:
        gt_max = pred_max = -1
        for f in frames:
            gt = np.asarray(f.gt_ids, dtype=np.int64)
            pred = np.asarray(f.pred_ids, dtype=np.int64)
            if (gt.size and gt.min() < 0) or (pred.size and pred.min() < 0):
                raise ValueError("track ids must be >= 0 to be made unique across videos")
            out.append(TrackingFrame(gt_ids=gt + gt_offset, pred_ids=pred + pred_offset, similarity=f.similarity))
            gt_max = max(gt_max, int(gt.max()) if gt.size else -1)
            pred_max = max(pred_max, int(pred.max()) if pred.size else -1)
        gt_offset += gt_max + 1
        pred_offset += pred_max + 1
    return out

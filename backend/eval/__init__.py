"""Evaluation: the papers' accuracy and tracking metrics, dataset readers and evaluation protocols."""

from .datasets import BodySample, DatasetFormatError, PoseTrackFrame, read_3dpw, read_emdb, read_posetrack
from .pose_metrics import (
    acceleration_error,
    align_by_pelvis,
    jitter,
    mpjpe,
    mve,
    pa_mpjpe,
    pck,
    procrustes_align,
)
from .tracking_metrics import TrackingFrame, TrackingScores, box_iou, evaluate_tracking

__all__ = [
    "BodySample",
    "DatasetFormatError",
    "PoseTrackFrame",
    "read_3dpw",
    "read_emdb",
    "read_posetrack",
    "TrackingFrame",
    "TrackingScores",
    "acceleration_error",
    "align_by_pelvis",
    "box_iou",
    "evaluate_tracking",
    "jitter",
    "mpjpe",
    "mve",
    "pa_mpjpe",
    "pck",
    "procrustes_align",
]

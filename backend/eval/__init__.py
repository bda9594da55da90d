"""Evaluation: the papers' accuracy and tracking metrics, dataset readers and evaluation protocols."""

from .body_eval import BodyEvalReport, evaluate_bodies, lsp14_from_vertices
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
from .protocols import CROP_PROTOCOLS, CropProtocol, apply_crop_protocol
from .report import format_body_table, plot_body_report, write_report_json
from .tracking_metrics import TrackingFrame, TrackingScores, box_iou, evaluate_tracking

__all__ = [
    "BodyEvalReport",
    "CROP_PROTOCOLS",
    "CropProtocol",
    "apply_crop_protocol",
    "evaluate_bodies",
    "format_body_table",
    "lsp14_from_vertices",
    "plot_body_report",
    "write_report_json",
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

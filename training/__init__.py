"""Training for TokenMocap: the pose tokenizer (VQ-VAE) and TokenHMR with TALS.

Entry points: ``python -m training.tokenizer`` and ``python -m training.hmr`` (see their docstrings for the
single-GPU and ``torchrun`` commands), ``python -m training.thresholds`` for the TALS threshold analysis.
Importing this package imports only the light, pure modules; the entry points import the networks.
"""

from training.config import config_from_dict, config_to_dict, load_config, save_config
from training.losses import (
    TALSMasks,
    keypoint_2d_loss,
    keypoint_3d_loss,
    parameter_loss,
    tals_keypoint_2d_masks,
    tals_pose_masks,
    tokenizer_losses,
)
from training.thresholds import TALSThresholds, default_thresholds, load_thresholds, save_thresholds
from training.metrics import codebook_usage, mean_distance_mm

__all__ = [
    "TALSMasks",
    "TALSThresholds",
    "codebook_usage",
    "config_from_dict",
    "config_to_dict",
    "default_thresholds",
    "keypoint_2d_loss",
    "keypoint_3d_loss",
    "load_config",
    "load_thresholds",
    "mean_distance_mm",
    "parameter_loss",
    "save_config",
    "save_thresholds",
    "tals_keypoint_2d_masks",
    "tals_pose_masks",
    "tokenizer_losses",
]

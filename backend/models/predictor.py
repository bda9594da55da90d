"""``HMRPredictor``: the network plus SMPL and the crop camera, the official ``forward_step`` equivalent.

Outputs (TokenHMR ``forward_step`` keys in brackets): SMPL parameters, ``pred_cam`` and ``pred_cam_t``
(= [tx, ty, 2*5000/(256*s + 1e-9)], the SMPL origin's translation for the 256 px crop camera), vertices and the
44 keypoints without translation (``pred_vertices``, ``pred_keypoints_3d``), and ``pred_keypoints_2d``: the keypoints
projected with focal 5000/256 and principal point 0, i.e. crop-normalised (crop pixels = (k + 0.5) * 256).
Frames: OpenCV camera (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from backend.body import SMPLBody
from backend.vision import cam_crop_to_cam_t, perspective_projection

from .hmr import HMR2, HMROutput, TokenHMR

__all__ = ["FOCAL_LENGTH", "HMRPrediction", "HMRPredictor", "IMAGE_SIZE"]

FOCAL_LENGTH = 5000.0  # EXTRA.FOCAL_LENGTH: crop camera focal length in pixels of a 256 px crop
IMAGE_SIZE = 256  # MODEL.IMAGE_SIZE


@dataclass(frozen=True)
class HMRPrediction:
    """Per-crop result of ``HMRPredictor``.

    Attributes:
        network: the raw network output (rotations, betas, pred_cam, token probabilities, ...).
        pred_cam_t: (B,3) translation of the SMPL origin in the crop camera, metres.
        focal_length: (B,2) crop focal length (5000, 5000) in crop pixels.
        vertices: (B,V,3) posed SMPL vertices, no translation.
        keypoints_3d: (B,44,3) 25 OpenPose + 19 extra keypoints, no translation.
        keypoints_2d: (B,44,2) crop-normalised projections (about [-0.5, 0.5]).
    """

    network: HMROutput
    pred_cam_t: torch.Tensor
    focal_length: torch.Tensor
    vertices: torch.Tensor
    keypoints_3d: torch.Tensor
    keypoints_2d: torch.Tensor


class HMRPredictor(nn.Module):
    """Network + SMPL body, as the official ``forward_step`` runs them.

    Args:
        model: a loaded ``TokenHMR`` or ``HMR2``.
        smpl: the SMPL layer built from the user's files (``SMPLBody.from_files``), with the J19 regressor.
    """

    def __init__(self, model: TokenHMR | HMR2, smpl: SMPLBody) -> None:
        super().__init__()
        self.model = model
        self.smpl = smpl

    def forward(self, img: torch.Tensor) -> HMRPrediction:
        """(B,3,256,256) normalised RGB crops -> ``HMRPrediction``."""
        out = self.model(img)
        b = img.shape[0]
        # HMR 2.0 casts to float before SMPL; SMPLBody computes in its buffers' dtype (float32) for both models.
        body = self.smpl(out.global_orient.float(), out.body_pose.float(), out.betas.float())
        pred_cam = out.pred_cam.float()
        pred_cam_t = cam_crop_to_cam_t(pred_cam, FOCAL_LENGTH, IMAGE_SIZE)
        focal_length = torch.full((b, 2), FOCAL_LENGTH, dtype=pred_cam.dtype, device=pred_cam.device)
        keypoints_2d = perspective_projection(body.joints, pred_cam_t, focal_length / IMAGE_SIZE)
        return HMRPrediction(
            network=out,
            pred_cam_t=pred_cam_t,
            focal_length=focal_length,
            vertices=body.vertices,
            keypoints_3d=body.joints,
            keypoints_2d=keypoints_2d,
        )

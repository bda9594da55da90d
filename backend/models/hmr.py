"""The two networks: ``TokenHMR`` and ``HMR2`` (attributes ``backbone`` and ``smpl_head``, as upstream).

``state_dict()`` keys equal the official Lightning checkpoints' ``state_dict`` minus ``smpl.*`` (the SMPL body is
built from the user's files), ``initialized`` and ``discriminator.*``. Input: (B,3,256,256) float crops,
ImageNet-normalised RGB (``backend.vision.crop_person``); the ViT sees the centre 256x192 window. Output rotations
are in the OpenCV camera frame (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .config import HMR2Config, TokenHMRConfig
from .heads import HeadOutput, SMPLTokenDecoderHead, SMPLTransformerDecoderHead
from .rot6d import rot6d_to_rotmat
from .vit import ViT
from .vqvae import PoseTokenDecoder

__all__ = ["HMR2", "HMROutput", "TokenHMR", "check_image_batch"]

IMAGE_SIZE = 256  # MODEL.IMAGE_SIZE of both released models


@dataclass(frozen=True)
class HMROutput:
    """Network output for a batch of crops.

    Attributes:
        global_orient: (B,1,3,3) root rotation in the camera frame.
        body_pose: (B,23,3,3) rotations of SMPL joints 1..23 relative to their parents.
        betas: (B,10) SMPL shape.
        pred_cam: (B,3) weak-perspective camera (s, tx, ty) in crop-normalised units.
        cls_logits: (B,T,C) token logits before the softmax (TokenHMR), else None.
        cls_probs: (B,T,C) token probabilities, upstream ``cls_logits_softmax`` (TokenHMR), else None.
        pose_6d: (B,144) the 6D pose fed to rot6d_to_rotmat (mean pose included).
        features: (B,E,Hp,Wp) backbone features.
        token_out: (B,1024) decoder output.
        body_pose_6d_tokens: (B,126) VQ decoder output (TokenHMR), else None.
    """

    global_orient: torch.Tensor
    body_pose: torch.Tensor
    betas: torch.Tensor
    pred_cam: torch.Tensor
    cls_logits: torch.Tensor | None
    cls_probs: torch.Tensor | None
    pose_6d: torch.Tensor
    features: torch.Tensor
    token_out: torch.Tensor
    body_pose_6d_tokens: torch.Tensor | None = None


def check_image_batch(img: torch.Tensor, model: nn.Module) -> None:
    """Raise a clear error unless ``img`` is a floating (B,3,256,256) tensor on the model's device.

    Args:
        img: the candidate input.
        model: the network it is meant for.
    """
    if not isinstance(img, torch.Tensor):
        raise TypeError(
            f"model input must be a torch.Tensor of shape (B,3,{IMAGE_SIZE},{IMAGE_SIZE}); got {type(img).__name__}. "
            "Build crops with backend.vision.crop_person and stack them with torch.from_numpy"
        )
    if not img.is_floating_point():
        raise TypeError(
            f"model input must be a floating tensor of normalised RGB crops; got dtype {img.dtype} "
            f"(shape {tuple(img.shape)}). Raw uint8 images go through backend.vision.crop_person first"
        )
    if img.ndim != 4 or tuple(img.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"model input must have shape (B,3,{IMAGE_SIZE},{IMAGE_SIZE}) (channels first); got {tuple(img.shape)}"
        )
    param = next(model.parameters(), None)
    if param is not None and param.device != img.device:
        raise ValueError(f"model input is on {img.device} but the model is on {param.device}; move one of them")


def _to_output(head: HeadOutput, features: torch.Tensor, convention: str) -> HMROutput:
    b = head.pose_6d.shape[0]
    rotmats = rot6d_to_rotmat(head.pose_6d, convention).reshape(b, -1, 3, 3)
    return HMROutput(
        global_orient=rotmats[:, :1],
        body_pose=rotmats[:, 1:],
        betas=head.betas,
        pred_cam=head.pred_cam,
        cls_logits=head.cls_logits,
        cls_probs=head.cls_probs,
        pose_6d=head.pose_6d,
        features=features,
        token_out=head.token_out,
        body_pose_6d_tokens=head.body_pose_6d_tokens,
    )


class TokenHMR(nn.Module):
    """TokenHMR (CVPR 2024): ViT-H backbone, token head, and the pose tokenizer's decoder (not in state_dict).

    Args:
        config: architecture (release defaults).
        token_decoder: the tokenizer decoder + codebook; a fresh one of ``config.tokenizer`` when omitted.
    """

    def __init__(self, config: TokenHMRConfig = TokenHMRConfig(), token_decoder: PoseTokenDecoder | None = None):
        super().__init__()
        if config.decoder.context_dim != config.backbone.embed_dim:
            raise ValueError(
                f"decoder context_dim {config.decoder.context_dim} must equal the backbone embed_dim "
                f"{config.backbone.embed_dim}; use config.with_backbone(...)"
            )
        self.config = config
        self.backbone = ViT(config.backbone)
        self.smpl_head = SMPLTokenDecoderHead(config, token_decoder or PoseTokenDecoder(config.tokenizer))

    def init_weights(self) -> None:
        """Initialisation for training from scratch (the official ViT init; the heads keep PyTorch's defaults, as
        upstream). Loading a checkpoint never depends on it."""
        self.backbone.init_weights()

    @property
    def token_decoder(self) -> PoseTokenDecoder:
        """The pose tokenizer's decoder and codebook."""
        return self.smpl_head.decpose.token_decoder

    def forward(self, img: torch.Tensor) -> HMROutput:
        """(B,3,256,256) normalised RGB crops -> SMPL parameters, camera and token probabilities."""
        check_image_batch(img, self)
        features = self.backbone(img)
        return _to_output(self.smpl_head(features), features, self.config.rot6d_convention)


class HMR2(nn.Module):
    """HMR 2.0 (4D-Humans): the same backbone and decoder, a regression pose head, columns-convention 6D.

    Upstream slices the input columns in ``HMR2.forward_step`` rather than in the ViT; our ViT does it, and the
    numbers are the same.

    Args:
        config: architecture (release defaults).
    """

    def __init__(self, config: HMR2Config = HMR2Config()):
        super().__init__()
        if config.decoder.context_dim != config.backbone.embed_dim:
            raise ValueError(
                f"decoder context_dim {config.decoder.context_dim} must equal the backbone embed_dim "
                f"{config.backbone.embed_dim}; use config.with_backbone(...)"
            )
        self.config = config
        self.backbone = ViT(config.backbone)
        self.smpl_head = SMPLTransformerDecoderHead(config)

    def init_weights(self) -> None:
        """Initialisation for training from scratch (the official ViT init; the head keeps PyTorch's defaults)."""
        self.backbone.init_weights()

    def forward(self, img: torch.Tensor) -> HMROutput:
        """(B,3,256,256) normalised RGB crops -> SMPL parameters and camera."""
        check_image_batch(img, self)
        features = self.backbone(img)
        return _to_output(self.smpl_head(features), features, self.config.rot6d_convention)

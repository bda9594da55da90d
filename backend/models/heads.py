"""SMPL heads: TokenHMR's token head (``heads/token_head.py: SMPLTokenDecoderHead``) and HMR 2.0's regression head
(``hmr2/models/heads/smpl_head.py: SMPLTransformerDecoderHead``).

Both decode one zero query token against the ViT tokens and add their read-outs to the mean parameters
(``init_body_pose`` (1,144), ``init_betas`` (1,10), ``init_cam`` (1,3), buffers that ARE in the checkpoints).
The pose is 24 x 6D: the root, SMPL joints 1..21 and the two hands (22, 23).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .config import HMR2Config, TokenHMRConfig
from .token_classifier import TokenClassifier
from .transformer import TransformerDecoder
from .vqvae import PoseTokenDecoder

__all__ = ["HeadOutput", "SMPLTokenDecoderHead", "SMPLTransformerDecoderHead"]


@dataclass(frozen=True)
class HeadOutput:
    """Raw head result before the 6D -> rotation conversion.

    Attributes:
        pose_6d: (B, 144) 24 joints x 6D, mean pose included (the value that goes into rot6d_to_rotmat).
        betas: (B, 10) SMPL shape.
        pred_cam: (B, 3) weak-perspective camera (s, tx, ty), crop-normalised.
        token_out: (B, 1024) decoder output feature.
        cls_logits: (B, T, C) token logits (TokenHMR), else None.
        cls_probs: (B, T, C) token probabilities (TokenHMR), else None.
        body_pose_6d_tokens: (B, 126) VQ decoder output for joints 1..21 (TokenHMR), else None.
    """

    pose_6d: torch.Tensor
    betas: torch.Tensor
    pred_cam: torch.Tensor
    token_out: torch.Tensor
    cls_logits: torch.Tensor | None = None
    cls_probs: torch.Tensor | None = None
    body_pose_6d_tokens: torch.Tensor | None = None


class _MeanParamsHead(nn.Module):
    """Shared part: decoder, shape and camera read-outs and the mean-parameter buffers."""

    def __init__(self, config: TokenHMRConfig | HMR2Config) -> None:
        super().__init__()
        if config.ief_iters < 1:
            raise ValueError(f"IEF_ITERS must be at least 1; got {config.ief_iters}")
        self.config = config
        dim = config.decoder.dim
        self.npose = 6 * (config.num_body_joints + 1)
        self.transformer = TransformerDecoder(config.decoder)
        self.decshape = nn.Linear(dim, 10)
        self.deccam = nn.Linear(dim, 3)
        # Upstream fills these from smpl_mean_params.npz; the checkpoint values then win on load.
        self.register_buffer("init_body_pose", torch.zeros(1, self.npose))
        self.register_buffer("init_betas", torch.zeros(1, 10))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def set_mean_params(self, pose: torch.Tensor, shape: torch.Tensor, cam: torch.Tensor) -> None:
        """Set the mean parameters (from ``smpl_mean_params.npz``: pose (144,), shape (10,), cam (3,))."""
        with torch.no_grad():
            self.init_body_pose.copy_(torch.as_tensor(pose, dtype=torch.float32).reshape(1, self.npose))
            self.init_betas.copy_(torch.as_tensor(shape, dtype=torch.float32).reshape(1, 10))
            self.init_cam.copy_(torch.as_tensor(cam, dtype=torch.float32).reshape(1, 3))

    def decode_token(self, features: torch.Tensor) -> torch.Tensor:
        """(B,E,Hp,Wp) ViT features -> (B, 1024) output of the query token."""
        b = features.shape[0]
        context = features.flatten(2).transpose(1, 2)  # 'b c h w -> b (h w) c'
        query = torch.zeros(b, 1, 1, dtype=context.dtype, device=context.device)
        return self.transformer(query, context=context).squeeze(1)


class SMPLTokenDecoderHead(_MeanParamsHead):
    """TokenHMR head: ``decpose_grot`` (6), ``decpose`` token classifier (126), ``decpose_hands`` (12).

    Args:
        config: TokenHMR config.
        token_decoder: the tokenizer's decoder + codebook (from ``tokenizer.pth``).
    """

    def __init__(self, config: TokenHMRConfig, token_decoder: PoseTokenDecoder) -> None:
        super().__init__(config)
        dim = config.decoder.dim
        self.decpose_grot = nn.Linear(dim, 6)
        self.decpose_hands = nn.Linear(dim, 12)
        self.decpose = TokenClassifier(dim, config.num_tokens, config.token_class_num, token_decoder, config.classifier)

    def forward(self, features: torch.Tensor) -> HeadOutput:
        """(B,E,Hp,Wp) ViT features -> head output (pose in TokenHMR's rows 6D convention)."""
        b = features.shape[0]
        pose = self.init_body_pose.expand(b, -1)
        betas = self.init_betas.expand(b, -1)
        cam = self.init_cam.expand(b, -1)
        # With the zero query every iteration sees the same token, so IEF just re-adds the deltas (as upstream).
        token_out = self.decode_token(features)
        for _ in range(self.config.ief_iters):
            tokens = self.decpose(token_out)
            delta = torch.cat([self.decpose_grot(token_out), tokens.body_pose_6d, self.decpose_hands(token_out)], -1)
            pose = delta + pose
            betas = self.decshape(token_out) + betas
            cam = self.deccam(token_out) + cam
        return HeadOutput(
            pose_6d=pose,
            betas=betas,
            pred_cam=cam,
            token_out=token_out,
            cls_logits=tokens.logits,
            cls_probs=tokens.probs,
            body_pose_6d_tokens=tokens.body_pose_6d,
        )


class SMPLTransformerDecoderHead(_MeanParamsHead):
    """HMR 2.0 head: ``decpose`` Linear(1024, 144) regresses the whole 24 x 6D pose (columns convention).

    Args:
        config: HMR 2.0 config.
    """

    def __init__(self, config: HMR2Config) -> None:
        super().__init__(config)
        self.decpose = nn.Linear(config.decoder.dim, self.npose)

    def forward(self, features: torch.Tensor) -> HeadOutput:
        """(B,E,Hp,Wp) ViT features -> head output (pose in HMR 2.0's columns 6D convention)."""
        b = features.shape[0]
        pose = self.init_body_pose.expand(b, -1)
        betas = self.init_betas.expand(b, -1)
        cam = self.init_cam.expand(b, -1)
        token_out = self.decode_token(features)
        for _ in range(self.config.ief_iters):
            pose = self.decpose(token_out) + pose
            betas = self.decshape(token_out) + betas
            cam = self.deccam(token_out) + cam
        return HeadOutput(pose_6d=pose, betas=betas, pred_cam=cam, token_out=token_out)

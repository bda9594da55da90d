"""Pose VQ-VAE (the TokenHMR pose tokenizer): Conv1d encoder, EMA quantizer, Conv1d decoder.

Re-implements ``tokenization/models/vanilla_pose_vqvae.py`` (``PoseSPEncoderV1``, ``PoseSPDecoderV1``,
``VanillaTokenizer``, ``DecodeTokens``) and ``resnet.py`` with the official key layout
(``encoder.encoder.N``, ``decoder.decoder.N``, ``quantizer.codebook``), so ``tokenizer.pth['net']`` loads strictly.
The Sequential indices depend on the architecture (TOKEN_SIZE_MUL, TOKEN_SIZE_DIV, DOWN_T); they are built the same
way, never hard-coded. Unlike upstream, nothing loads SMPL-H at import or needs CUDA.

Shapes: the 21 body joints (SMPL joints 1..21) in 6D (rows convention) are (B,21,6); the latent is (B,D,T) with
T = ``TokenizerArch.num_tokens`` tokens of width D = CODE_DIM.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .config import TokenizerArch
from .quantizer import QuantizeEMAReset
from .rot6d import rotmat_to_rot6d

__all__ = ["PoseDecoder", "PoseEncoder", "PoseTokenDecoder", "PoseVQVAE"]


class ResConv1DBlock(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), with a dilated k=3 conv1 and a k=1 conv2 (no norm, as released).

    Args:
        width: channels.
        dilation: dilation (and padding) of conv1.
    """

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, 1, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(torch.relu(x))))


class Resnet1D(nn.Module):
    """``depth`` residual blocks with dilations rate**d, applied in reverse order (upstream's default).

    Args:
        width: channels.
        depth: number of blocks.
        dilation_rate: dilation growth.
    """

    def __init__(self, width: int, depth: int, dilation_rate: int) -> None:
        super().__init__()
        dilations = [dilation_rate**d for d in range(depth)][::-1]
        self.model = nn.Sequential(*(ResConv1DBlock(width, d) for d in dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PoseEncoder(nn.Module):
    """(B,6,21) body pose -> (B,D,T) latent (``PoseSPEncoderV1``; training and token targets only).

    Args:
        arch: tokenizer architecture.
    """

    def __init__(self, arch: TokenizerArch) -> None:
        super().__init__()
        w = arch.width
        layers: list[nn.Module] = [nn.Conv1d(6, w, 3, 1, 1), nn.ReLU()]
        # Resample the 21 joints to a multiple of 10 (40), then double TOKEN_SIZE_MUL-1 times.
        layers += [nn.Upsample(size=arch.encoder_upsample_len, mode="nearest"), nn.Conv1d(w, w, 3, 1, 1), nn.ReLU()]
        for _ in range(arch.token_size_mul - 1):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(w, w, 3, 1, 1), nn.ReLU()]
        for _ in range(arch.down_t):
            layers.append(nn.Sequential(nn.Conv1d(w, w, 4, 2, 1), Resnet1D(w, arch.depth, arch.dilation_rate)))
        layers.append(nn.Conv1d(w, arch.code_dim, 3, 1, 1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class PoseDecoder(nn.Module):
    """(B,D,T) latent -> (B,6,21) body pose (``PoseSPDecoderV1``).

    Args:
        arch: tokenizer architecture.
    """

    def __init__(self, arch: TokenizerArch) -> None:
        super().__init__()
        w = arch.width
        layers: list[nn.Module] = [nn.Conv1d(arch.code_dim, w, 3, 1, 1), nn.ReLU()]
        # 'nearest' resampling T -> ... -> 21 (e.g. 160 -> 125 -> 90 -> 55 -> 21): a downsampling in steps.
        for size in arch.decoder_upsample_sizes:
            layers += [nn.Upsample(size=size, mode="nearest"), nn.Conv1d(w, w, 3, 1, 1), nn.ReLU()]
        for _ in range(arch.down_t):
            layers.append(nn.Sequential(Resnet1D(w, arch.depth, arch.dilation_rate), nn.Conv1d(w, w, 3, 1, 1)))
        layers.append(nn.Conv1d(w, 6, 3, 1, 1))
        self.decoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(x)


def _decode_latent(decoder: PoseDecoder, latent: torch.Tensor) -> torch.Tensor:
    """(B,T,D) token codes -> (B,21,6) body pose 6D."""
    return decoder(latent.permute(0, 2, 1)).permute(0, 2, 1)


class PoseTokenDecoder(nn.Module):
    """What TokenHMR uses of the tokenizer: the decoder and the codebook (``DecodeTokens`` upstream).

    Keys ``decoder.decoder.N.*`` and ``quantizer.codebook``: ``tokenizer.pth['net']`` minus ``encoder.*``.

    Args:
        arch: tokenizer architecture.
    """

    def __init__(self, arch: TokenizerArch) -> None:
        super().__init__()
        self.arch = arch
        self.decoder = PoseDecoder(arch)
        self.quantizer = QuantizeEMAReset(arch.nb_code, arch.code_dim)

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        """Soft decoding: (B,T,K) token probabilities -> (B,21,6) body pose 6D (rows convention, a residual)."""
        return _decode_latent(self.decoder, self.quantizer.dequantize_probs(probs))


class PoseVQVAE(nn.Module):
    """The whole tokenizer (``VanillaTokenizer`` without its SMPL-H mesh branch): encoder, quantizer, decoder.

    Args:
        arch: tokenizer architecture.
    """

    def __init__(self, arch: TokenizerArch) -> None:
        super().__init__()
        self.arch = arch
        self.encoder = PoseEncoder(arch)
        self.decoder = PoseDecoder(arch)
        self.quantizer = QuantizeEMAReset(arch.nb_code, arch.code_dim)

    @staticmethod
    def to_6d(body_pose: torch.Tensor) -> torch.Tensor:
        """(B,21,3,3) rotation matrices -> (B,21,6) (first two rows); (B,21,6) passes through."""
        if body_pose.shape[-2:] == (3, 3):
            return rotmat_to_rot6d(body_pose, "rows")
        if body_pose.shape[-1] != 6:
            raise ValueError(f"tokenizer input must be (B,21,3,3) or (B,21,6); got {tuple(body_pose.shape)}")
        return body_pose

    def encode_latent(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B,21,3,3) or (B,21,6) body pose -> (B,D,T) continuous latent."""
        x = self.to_6d(body_pose)
        if x.shape[1] != self.arch.nb_joints:
            raise ValueError(f"tokenizer input must have {self.arch.nb_joints} joints; got {tuple(body_pose.shape)}")
        return self.encoder(x.permute(0, 2, 1))

    def encode(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B,21,3,3) or (B,21,6) body pose -> (B,T) int64 token indices (the classifier's targets)."""
        latent = self.encode_latent(body_pose)
        b, d, t = latent.shape
        return self.quantizer.quantize(latent.permute(0, 2, 1).reshape(-1, d)).reshape(b, t)

    def decode_tokens(self, code_idx: torch.Tensor) -> torch.Tensor:
        """(B,T) int64 token indices -> (B,21,6) body pose 6D."""
        return _decode_latent(self.decoder, self.quantizer.dequantize(code_idx))

    def decode_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """(B,T,K) token probabilities -> (B,21,6) body pose 6D (TokenHMR's soft decoding)."""
        return _decode_latent(self.decoder, self.quantizer.dequantize_probs(probs))

    def forward(self, body_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct through the bottleneck (training updates the codebook).

        Args:
            body_pose: (B,21,3,3) rotation matrices or (B,21,6).

        Returns:
            (B,21,6) reconstruction, commitment loss (), perplexity ().
        """
        quantized, commit_loss, perplexity = self.quantizer(self.encode_latent(body_pose))
        return self.decoder(quantized).permute(0, 2, 1), commit_loss, perplexity

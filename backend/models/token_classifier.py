"""MLP-Mixer token classifier of TokenHMR (``heads/token_classifier.py: TokenClassfier``, ``heads/modules.py``).

Keys as upstream: ``mixer_trans.ff.{0,1}``, ``mixer_head.{k}.{layernorm1, MLP_token.ff.{0,3}, layernorm2,
MLP_channel.ff.{0,3}}``, ``mixer_norm_layer.ff.{0,1}``, ``class_pred_layer``.

The pose tokenizer's decoder is **not** part of this module's ``state_dict``: upstream holds it in a plain Python
proxy object, so the released checkpoints do not contain it and it is loaded from ``tokenizer.pth``. We keep it
outside the registered submodules the same way and forward ``.to()`` / ``.eval()`` to it explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from .config import TokenClassifierConfig
from .vqvae import PoseTokenDecoder

__all__ = ["TokenClassifier", "TokenClassifierOutput"]


class FCBlock(nn.Module):
    """Linear -> LayerNorm -> ReLU (``ff.0``, ``ff.1``).

    Args:
        in_dim: input width.
        out_dim: output width.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.ff = nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class MLPBlock(nn.Module):
    """Linear -> GELU -> Dropout -> Linear -> Dropout (``ff.0``, ``ff.3``).

    Args:
        dim: input and output width.
        inter_dim: hidden width.
        dropout: dropout rate (0 in the release).
    """

    def __init__(self, dim: int, inter_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.ff = nn.Sequential(
            nn.Linear(dim, inter_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(inter_dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class MixerLayer(nn.Module):
    """One mixer layer; upstream returns ``x + y + z`` with y the token-MLP branch and z = MLP_channel(LN2(x + y)).

    Args:
        hidden_dim: per-token width.
        hidden_inter_dim: channel-MLP hidden width.
        token_dim: number of tokens T.
        token_inter_dim: token-MLP hidden width.
    """

    def __init__(self, hidden_dim: int, hidden_inter_dim: int, token_dim: int, token_inter_dim: int) -> None:
        super().__init__()
        self.layernorm1 = nn.LayerNorm(hidden_dim)
        self.MLP_token = MLPBlock(token_dim, token_inter_dim)
        self.layernorm2 = nn.LayerNorm(hidden_dim)
        self.MLP_channel = MLPBlock(hidden_dim, hidden_inter_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,T,H) -> (B,T,H)."""
        y = self.MLP_token(self.layernorm1(x).transpose(1, 2)).transpose(1, 2)
        z = self.MLP_channel(self.layernorm2(x + y))
        return x + y + z


@dataclass(frozen=True)
class TokenClassifierOutput:
    """Result of the token classifier.

    Attributes:
        body_pose_6d: (B, 126) decoded 6D residual of SMPL joints 1..21 (rows convention).
        logits: (B, T, C) token-class logits.
        probs: (B, T, C) softmax of the logits (upstream ``cls_logits_softmax``).
    """

    body_pose_6d: torch.Tensor
    logits: torch.Tensor
    probs: torch.Tensor


class TokenClassifier(nn.Module):
    """Head feature (B, in_dim) -> token logits (B, T, C) -> softmax @ codebook -> VQ decoder -> (B, 126).

    Args:
        in_dim: head feature width (1024).
        token_num: T, which must equal the tokenizer's derived token count.
        token_class_num: C, which must equal the tokenizer's codebook size.
        token_decoder: the tokenizer decoder + codebook (kept out of ``state_dict``, frozen).
        config: mixer sizes (literals upstream).
    """

    def __init__(
        self,
        in_dim: int,
        token_num: int,
        token_class_num: int,
        token_decoder: PoseTokenDecoder,
        config: TokenClassifierConfig = TokenClassifierConfig(),
    ) -> None:
        super().__init__()
        arch = token_decoder.arch
        if arch.num_tokens != token_num or arch.nb_code != token_class_num:
            raise ValueError(
                f"token classifier predicts {token_num} tokens x {token_class_num} classes but the tokenizer "
                f"architecture decodes {arch.num_tokens} tokens from a codebook of {arch.nb_code}; the tokenizer "
                "file and the TokenHMR checkpoint must come from the same training run"
            )
        self.token_num = token_num
        self.token_class_num = token_class_num
        h = config.hidden_dim
        self.mixer_trans = FCBlock(in_dim, token_num * h)
        self.mixer_head = nn.ModuleList(
            MixerLayer(h, config.hidden_inter_dim, token_num, config.token_inter_dim) for _ in range(config.num_blocks)
        )
        self.mixer_norm_layer = FCBlock(h, h)
        self.class_pred_layer = nn.Linear(h, token_class_num)
        token_decoder.requires_grad_(False)
        # A tuple hides the module from registration (and hence from state_dict), as upstream's Proxy does.
        self._token_decoder = (token_decoder,)

    @property
    def token_decoder(self) -> PoseTokenDecoder:
        """The frozen tokenizer decoder (not in ``state_dict``; load it from ``tokenizer.pth``)."""
        return self._token_decoder[0]

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> "TokenClassifier":
        # .to(), .half(), .cuda(), to_empty() all go through _apply: carry the unregistered tokenizer along.
        super()._apply(fn, recurse)
        self.token_decoder._apply(fn, recurse)
        return self

    def train(self, mode: bool = True) -> "TokenClassifier":
        super().train(mode)
        self.token_decoder.eval()  # frozen upstream too (never trained with the classifier)
        return self

    def forward(self, x: torch.Tensor) -> TokenClassifierOutput:
        """(B, in_dim) head feature -> decoded pose, logits and probabilities."""
        b = x.shape[0]
        feat = self.mixer_trans(x).reshape(b, self.token_num, -1)
        for layer in self.mixer_head:
            feat = layer(feat)
        logits = self.class_pred_layer(self.mixer_norm_layer(feat))
        probs = logits.softmax(-1)
        body_pose_6d = self.token_decoder(probs).reshape(b, -1)
        return TokenClassifierOutput(body_pose_6d=body_pose_6d, logits=logits, probs=probs)

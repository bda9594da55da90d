"""ViTPose-style ViT backbone of TokenHMR and HMR 2.0 (``tokenhmr/lib/models/backbones/vit.py``).

Parameter names equal the official checkpoint keys (``patch_embed.proj``, ``pos_embed``, ``blocks.N.norm1``,
``blocks.N.attn.qkv``, ``blocks.N.attn.proj``, ``blocks.N.norm2``, ``blocks.N.mlp.fc1/fc2``, ``last_norm``), so a
checkpoint loads after stripping the ``backbone.`` prefix. timm provides the MLP, DropPath and init; attention
calls ``F.scaled_dot_product_attention`` (the official code's explicit softmax differs by < 1e-6).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, trunc_normal_

from .config import ViTConfig

__all__ = ["ViT"]


class PatchEmbed(nn.Module):
    """Image to patch tokens with the official padded conv (kernel = stride = patch, padding 2).

    Args:
        patch_size: conv kernel and stride.
        padding: conv padding (2 officially, which yields a 16x12 grid from 256x192).
        in_chans: input channels.
        embed_dim: output token width.
    """

    def __init__(self, patch_size: int = 16, padding: int = 2, in_chans: int = 3, embed_dim: int = 1280) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, padding=padding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """(B,C,H,W) image -> ((B, Hp*Wp, E) tokens, (Hp, Wp))."""
        x = self.proj(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (official key names ``qkv``, ``proj``).

    Args:
        dim: token width.
        num_heads: heads; head width = dim // num_heads.
        qkv_bias: bias on ``qkv``.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"ViT embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,N,C) -> (B,N,C)."""
        b, n, c = x.shape
        # The official reshape: (B,N,3,heads,hd) -> (3,B,heads,N,hd).
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)).

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / dim.
        qkv_bias: bias on the qkv projection.
        drop_path: stochastic-depth rate of this block (identity in eval).
        eps: LayerNorm eps (1e-6 in the official ViT).
    """

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float, eps: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        # timm's Mlp has the official names fc1/fc2 and the exact (erf) GELU.
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ViT(nn.Module):
    """The ViTPose backbone; input (B,3,256,256), output feature map (B,E,16,12) for the official sizes.

    Args:
        config: sizes; ``ViTConfig()`` is the official ViT-H/16.
    """

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config.patch_size, config.patch_padding, config.in_chans, config.embed_dim)
        # Sized for the un-padded grid plus a cls slot that the model never uses as a token.
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_pos_embed, config.embed_dim))
        # Upstream draws pos_embed from trunc_normal(0.02) here; we leave zeros and do it in init_weights(), since
        # inference and fine-tuning always load it (training/hmr.py relies on this RNG order).
        rates = torch.linspace(0, config.drop_path_rate, config.depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            Block(config.embed_dim, config.num_heads, config.mlp_ratio, config.qkv_bias, rate, config.layer_norm_eps)
            for rate in rates
        )
        self.last_norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps) if config.last_norm else nn.Identity()

    def init_weights(self) -> None:
        """Official initialisation (truncated-normal linears and pos_embed, unit LayerNorms); training only."""
        trunc_normal_(self.pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,256,192) window -> (B,E,Hp,Wp) features."""
        b = x.shape[0]
        x, (hp, wp) = self.patch_embed(x)
        if x.shape[1] != self.pos_embed.shape[1] - 1:
            raise ValueError(
                f"ViT input {tuple(x.shape)} gives {x.shape[1]} patch tokens but pos_embed holds "
                f"{self.pos_embed.shape[1] - 1}; the model expects a (B,3,{self.config.img_size[0]},"
                f"{self.config.img_size[1] + 2 * self.config.input_crop_columns}) crop"
            )
        # The official ViT adds the cls position embedding to every token (there is no cls token); same order of
        # additions as upstream so the float rounding matches.
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for block in self.blocks:
            x = block(x)
        x = self.last_norm(x)
        return x.permute(0, 2, 1).reshape(b, -1, hp, wp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,256,256) crop -> (B,E,Hp,Wp); only the centre columns [32:-32] are seen."""
        c = self.config.input_crop_columns
        return self.forward_features(x[:, :, :, c:-c] if c > 0 else x)

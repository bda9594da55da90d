"""Cross-attention transformer decoder of the SMPL heads (``components/pose_transformer.py``, shared by
TokenHMR and HMR 2.0).

Key names follow the official nesting exactly: ``to_token_embedding``, ``pos_embedding``,
``transformer.layers.{i}.{0,1,2}.{norm,fn}``, ``fn.to_qkv``, ``fn.to_q``, ``fn.to_kv``, ``fn.to_out.0``,
``fn.net.{0,3}``. LayerNorms use the default eps 1e-5; attention runs through ``F.scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TransformerDecoderConfig

__all__ = ["TransformerDecoder"]


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B,N,H*D) -> (B,H,N,D)."""
    b, n, hd = x.shape
    return x.reshape(b, n, heads, hd // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B,H,N,D) -> (B,N,H*D)."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def _output_projection(inner_dim: int, dim: int, heads: int, dim_head: int, dropout: float) -> nn.Module:
    # Upstream drops the projection when a single head already has the model width.
    if heads == 1 and dim_head == dim:
        return nn.Identity()
    return nn.Sequential(nn.Linear(inner_dim, dim), nn.Dropout(dropout))


class SelfAttention(nn.Module):
    """Multi-head self-attention without qkv bias (``Attention`` upstream).

    Args:
        dim: token width.
        heads: attention heads.
        dim_head: width per head.
        dropout: output dropout (training only).
    """

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float = 0.0) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = _output_projection(inner, dim, heads, dim_head, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,N,dim) -> (B,N,dim)."""
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    """Queries from the tokens, keys and values from the context (the ViT features).

    Args:
        dim: token width.
        context_dim: context width (the ViT embed dim).
        heads: attention heads.
        dim_head: width per head.
        dropout: output dropout (training only).
    """

    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int, dropout: float = 0.0) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_kv = nn.Linear(context_dim, inner * 2, bias=False)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_out = _output_projection(inner, dim, heads, dim_head, dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x (B,N,dim), context (B,M,context_dim) -> (B,N,dim)."""
        k, v = self.to_kv(context).chunk(2, dim=-1)
        q = self.to_q(x)
        q, k, v = (_split_heads(t, self.heads) for t in (q, k, v))
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class FeedForward(nn.Module):
    """Linear-GELU-Linear; the Sequential indices give the official keys ``net.0`` and ``net.3``.

    Args:
        dim: token width.
        hidden_dim: hidden width.
        dropout: dropout (training only).
    """

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PreNorm(nn.Module):
    """LayerNorm on the tokens (not on the context), then ``fn``.

    Args:
        dim: token width.
        fn: the wrapped sub-layer.
    """

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


class TransformerCrossAttn(nn.Module):
    """``depth`` x [self-attention, cross-attention, feed-forward], each pre-norm and residual.

    Args:
        config: decoder sizes.
    """

    def __init__(self, config: TransformerDecoderConfig) -> None:
        super().__init__()
        c = config
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PreNorm(c.dim, SelfAttention(c.dim, c.heads, c.dim_head, c.dropout)),
                    PreNorm(c.dim, CrossAttention(c.dim, c.context_dim, c.heads, c.dim_head, c.dropout)),
                    PreNorm(c.dim, FeedForward(c.dim, c.mlp_dim, c.dropout)),
                ]
            )
            for _ in range(c.depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for self_attn, cross_attn, feed_forward in self.layers:
            x = self_attn(x) + x
            x = cross_attn(x, context=context) + x
            x = feed_forward(x) + x
        return x


class TransformerDecoder(nn.Module):
    """Query-token decoder: embed the (zero) query, add ``pos_embedding``, attend to the ViT tokens.

    Args:
        config: decoder sizes (release: dim 1024, depth 6, heads 8, dim_head 64, mlp 1024, context 1280).
    """

    def __init__(self, config: TransformerDecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.to_token_embedding = nn.Linear(config.token_dim, config.dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, config.num_tokens, config.dim))
        self.transformer = TransformerCrossAttn(config)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """tokens (B,N,token_dim), context (B,M,context_dim) -> (B,N,dim).

        Token dropout (``DropTokenDropout``) is identity at inference and with the release rate 0, so it is omitted.
        """
        x = self.to_token_embedding(tokens)
        x = x + self.pos_embedding[:, : x.shape[1]]
        return self.transformer(x, context=context)

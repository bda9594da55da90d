"""EMA vector quantizer with dead-code reset (``tokenization/models/quantize_cnn.py: QuantizeEMAReset``).

The maths is in pure functions on tensors (nearest code, EMA update with reset, perplexity), so training code and
tests can call them directly; ``QuantizeEMAReset`` only holds the state. Only ``codebook`` is in the official
``state_dict``; the EMA statistics are non-persistent buffers (upstream keeps them as plain attributes), so the
official ``tokenizer.pth`` loads strictly. Unlike upstream, nothing calls ``.cuda()``: it runs on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "EMAState",
    "QuantizeEMAReset",
    "code_perplexity",
    "ema_codebook_update",
    "nearest_code",
    "tile_codes",
]

EMA_DECAY = 0.99  # official mu


def nearest_code(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row by squared L2 distance.

    Args:
        x: (N, D) vectors.
        codebook: (K, D) codes.

    Returns:
        (N,) int64 indices.
    """
    # |x|^2 - 2 x.c + |c|^2, the official expansion (same argmin, same tie-breaking as upstream).
    distance = x.pow(2).sum(-1, keepdim=True) - 2 * x @ codebook.t() + codebook.pow(2).sum(-1)[None, :]
    return distance.argmin(dim=-1)


def code_perplexity(code_idx: torch.Tensor, nb_code: int) -> torch.Tensor:
    """exp(entropy) of the code usage histogram; nb_code when all codes are used equally.

    Args:
        code_idx: (N,) int64 indices.
        nb_code: K.

    Returns:
        () float32.
    """
    counts = torch.bincount(code_idx.reshape(-1), minlength=nb_code).to(torch.float32)
    prob = counts / counts.sum()
    return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())


def tile_codes(x: torch.Tensor, nb_code: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """At least ``nb_code`` candidate codes from a batch: x itself, or x repeated plus N(0, (0.01/sqrt(D))^2) noise.

    Args:
        x: (N, D) encoder outputs.
        nb_code: K.
        generator: optional RNG for the noise.

    Returns:
        (max(N, K'), D) with K' >= K.
    """
    n, d = x.shape
    if n >= nb_code:
        return x
    repeats = (nb_code + n - 1) // n
    out = x.repeat(repeats, 1)
    noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
    return out + noise * (0.01 / math.sqrt(d))


@dataclass(frozen=True)
class EMAState:
    """EMA statistics of the codebook.

    Attributes:
        codebook: (K, D) current codes.
        code_sum: (K, D) EMA of the sum of vectors assigned to each code.
        code_count: (K,) EMA of the number of vectors assigned to each code.
    """

    codebook: torch.Tensor
    code_sum: torch.Tensor
    code_count: torch.Tensor


def ema_codebook_update(
    state: EMAState,
    x: torch.Tensor,
    code_idx: torch.Tensor,
    mu: float = EMA_DECAY,
    generator: torch.Generator | None = None,
) -> EMAState:
    """One EMA step with dead-code reset (official ``update_codebook``).

    Codes whose EMA count falls below 1 are replaced by random vectors of the current batch.

    Args:
        state: current statistics.
        x: (N, D) encoder outputs of this batch.
        code_idx: (N,) their nearest codes.
        mu: EMA decay (0.99 officially).
        generator: RNG for the reset candidates.

    Returns:
        The new statistics.
    """
    nb_code = state.codebook.shape[0]
    onehot = F.one_hot(code_idx, nb_code).to(x.dtype).t()  # (K, N)
    batch_sum = onehot @ x  # (K, D)
    batch_count = onehot.sum(dim=-1)  # (K,)
    # Upstream resets dead codes to the first K rows of the (tiled) batch; batches are shuffled, so they are random.
    candidates = tile_codes(x, nb_code, generator)[:nb_code]
    code_sum = mu * state.code_sum + (1.0 - mu) * batch_sum
    code_count = mu * state.code_count + (1.0 - mu) * batch_count
    usage = (code_count >= 1.0)[:, None]
    codebook = torch.where(usage, code_sum / code_count[:, None], candidates)
    return EMAState(codebook=codebook, code_sum=code_sum, code_count=code_count)


class QuantizeEMAReset(nn.Module):
    """Codebook holder; key ``codebook`` (K, D) as in the official tokenizer.

    Args:
        nb_code: K, the number of codes (token classes).
        code_dim: D, the code width.
        mu: EMA decay.
    """

    def __init__(self, nb_code: int, code_dim: int, mu: float = EMA_DECAY) -> None:
        super().__init__()
        self.nb_code = nb_code
        self.code_dim = code_dim
        self.mu = mu
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))
        self.register_buffer("code_sum", torch.zeros(nb_code, code_dim), persistent=False)
        self.register_buffer("code_count", torch.zeros(nb_code), persistent=False)
        # Upstream re-initialises the codebook from the first training batch; loading a codebook does not set it.
        self.register_buffer("initialized", torch.tensor(False), persistent=False)

    @torch.no_grad()
    def reset_ema_state(self) -> None:
        """Forget the EMA statistics: the next training batch re-initialises the codebook (as upstream)."""
        self.code_sum.zero_()
        self.code_count.zero_()
        self.initialized.fill_(False)

    def dequantize_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """Soft code mix used by TokenHMR: (..., K) probabilities @ codebook -> (..., D)."""
        return probs @ self.codebook

    def dequantize(self, code_idx: torch.Tensor) -> torch.Tensor:
        """(...,) int64 indices -> (..., D) codes."""
        return F.embedding(code_idx, self.codebook)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) vectors -> (N,) nearest code indices."""
        return nearest_code(x, self.codebook)

    @torch.no_grad()
    def init_codebook(self, flat: torch.Tensor) -> None:
        """Official first-batch initialisation: codes = the (tiled, noised) batch vectors, counts = 1.

        Args:
            flat: (N, D) encoder outputs.
        """
        tiled = tile_codes(flat, self.nb_code)[: self.nb_code]
        self.codebook.copy_(tiled)
        self.code_sum.copy_(tiled)
        self.code_count.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def update_codebook(self, flat: torch.Tensor, code_idx: torch.Tensor) -> None:
        """One EMA step with dead-code reset on the stored statistics (see ``ema_codebook_update``)."""
        state = ema_codebook_update(EMAState(self.codebook, self.code_sum, self.code_count), flat, code_idx, self.mu)
        self.codebook.copy_(state.codebook)
        self.code_sum.copy_(state.code_sum)
        self.code_count.copy_(state.code_count)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise encoder outputs; in training mode also update the codebook (EMA + dead-code reset).

        Args:
            x: (B, D, T) encoder output.

        Returns:
            (B, D, T) quantised with the straight-through gradient, the commitment loss (), the perplexity ().
        """
        b, d, t = x.shape
        if d != self.code_dim:
            raise ValueError(f"quantizer expects (B, {self.code_dim}, T) encoder output; got {tuple(x.shape)}")
        flat = x.permute(0, 2, 1).reshape(-1, d)
        if self.training and not bool(self.initialized):
            self.init_codebook(flat.detach())
        code_idx = self.quantize(flat)
        quantized = self.dequantize(code_idx)  # the codes before this step's update, as upstream
        if self.training:
            self.update_codebook(flat.detach(), code_idx)
        commit_loss = F.mse_loss(flat, quantized.detach())
        perplexity = code_perplexity(code_idx, self.nb_code)
        straight_through = flat + (quantized - flat).detach()
        return straight_through.reshape(b, t, d).permute(0, 2, 1), commit_loss, perplexity

"""Vector-quantiser training maths: nearest code, EMA codebook update, dead-code reset, VQ losses, perplexity.

Pure functions on tensors (STYLE.md §5). They reproduce the official ``QuantizeEMAReset`` training rule
(TokenHMR ``tokenization/models/quantize_cnn.py``, itself from T2M-GPT) without its ``.cuda()`` calls:

* assignment: the code with the smallest L2 distance;
* EMA: ``code_sum ← μ·code_sum + (1-μ)·Σ_{x→k} x`` and ``code_count ← μ·code_count + (1-μ)·n_k`` (μ = 0.99);
* codebook: ``code_sum / code_count`` for codes with ``code_count ≥ 1``; every other ("dead") code is replaced by a
  random encoder output of the current batch (tiled with N(0, (0.01/√D)²) noise when the batch has fewer vectors
  than codes). We also set a reset code's ``code_sum``/``code_count`` to (that vector, 1), so the running
  statistics agree with the codebook they produced (upstream leaves them stale);
* losses: embedding loss ``‖sg(z) − e‖²`` (no gradient reaches an EMA codebook; logged only) and commitment loss
  ``‖z − sg(e)‖²``; the decoder sees the straight-through value ``z + sg(e − z)``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "codebook_usage",
    "ema_codebook_update",
    "nearest_codes",
    "perplexity",
    "random_codes_from_batch",
    "reset_dead_codes",
    "straight_through",
    "vq_losses",
]


def nearest_codes(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (L2) for every vector.

    Args:
        x: (N, D) vectors.
        codebook: (K, D) codes.
    Returns:
        (N,) int64 indices into the codebook.
    """
    # ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²; ‖x‖² is the same for every code so it is left out of the argmin.
    distance = codebook.pow(2).sum(dim=1)[None, :] - 2.0 * x @ codebook.t()
    return distance.argmin(dim=1)


def ema_codebook_update(
    code_sum: torch.Tensor,
    code_count: torch.Tensor,
    x: torch.Tensor,
    code_idx: torch.Tensor,
    mu: float = 0.99,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One EMA step of the per-code running sums and counts.

    Args:
        code_sum: (K, D) running sum of the vectors assigned to each code.
        code_count: (K,) running count of assignments.
        x: (N, D) encoder outputs of this batch (detached by the caller).
        code_idx: (N,) their assigned codes.
        mu: EMA decay (the official value is 0.99).
    Returns:
        (new_code_sum (K, D), new_code_count (K,)).
    """
    batch_sum, batch_count = code_statistics(x, code_idx, code_sum.shape[0])
    return mu * code_sum + (1.0 - mu) * batch_sum, mu * code_count + (1.0 - mu) * batch_count


def code_statistics(x: torch.Tensor, code_idx: torch.Tensor, num_codes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-code sum (K, D) and count (K,) of the vectors ``x`` (N, D) assigned by ``code_idx`` (N,)."""
    batch_sum = torch.zeros(num_codes, x.shape[1], dtype=x.dtype, device=x.device)
    batch_sum.index_add_(0, code_idx, x)
    batch_count = torch.bincount(code_idx, minlength=num_codes).to(x.dtype)
    return batch_sum, batch_count


def random_codes_from_batch(x: torch.Tensor, num_codes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``num_codes`` random rows of ``x`` (N, D), tiled with small noise when N < num_codes (official ``_tile``).

    Returns:
        (num_codes, D) candidate codes.
    """
    n, dim = x.shape
    if n < num_codes:
        repeats = (num_codes + n - 1) // n
        std = 0.01 / math.sqrt(dim)
        x = x.repeat(repeats, 1)
        x = x + torch.randn(x.shape, generator=generator, device="cpu").to(x) * std
    order = torch.randperm(x.shape[0], generator=generator, device="cpu").to(x.device)
    return x[order[:num_codes]]


def reset_dead_codes(
    code_sum: torch.Tensor,
    code_count: torch.Tensor,
    random_codes: torch.Tensor,
    min_count: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codebook from the EMA statistics, with dead codes replaced by fresh encoder outputs.

    Args:
        code_sum: (K, D) EMA sums.
        code_count: (K,) EMA counts.
        random_codes: (K, D) replacements (``random_codes_from_batch``).
        min_count: a code is alive when its EMA count is at least this (official: 1.0).
    Returns:
        codebook (K, D), new code_sum (K, D), new code_count (K,), alive (K,) bool.
    """
    alive = code_count >= min_count
    alive_col = alive[:, None]
    safe_count = torch.where(alive, code_count, torch.ones_like(code_count))
    codebook = torch.where(alive_col, code_sum / safe_count[:, None], random_codes)
    new_sum = torch.where(alive_col, code_sum, random_codes)
    new_count = torch.where(alive, code_count, torch.ones_like(code_count))
    return codebook, new_sum, new_count, alive


def straight_through(x: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator: the value of ``x_q`` with the gradient of ``x`` (same shapes)."""
    return x + (x_q - x).detach()


def vq_losses(x: torch.Tensor, x_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Embedding and commitment losses (means over every element).

    Args:
        x: encoder outputs, any shape.
        x_q: their quantised values, same shape.
    Returns:
        (embedding_loss = mean((sg(x) − x_q)²), commitment_loss = mean((x − sg(x_q))²)).
    """
    embed = torch.mean((x.detach() - x_q) ** 2)
    commit = torch.mean((x - x_q.detach()) ** 2)
    return embed, commit


def perplexity(code_idx: torch.Tensor, num_codes: int) -> torch.Tensor:
    """exp(entropy) of the code histogram of a batch: 1 when one code is used, K when all are equally used."""
    counts = torch.bincount(code_idx.reshape(-1), minlength=num_codes).double()
    prob = counts / counts.sum().clamp_min(1.0)
    return torch.exp(-(prob * torch.log(prob + 1e-10)).sum()).float()


def codebook_usage(code_idx: torch.Tensor, num_codes: int) -> float:
    """Fraction of the K codes used at least once by ``code_idx`` (any shape)."""
    used = torch.unique(code_idx.reshape(-1)).numel()
    return used / float(num_codes)

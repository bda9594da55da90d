"""Tokenizer metrics: reconstruction errors through SMPL and codebook usage."""

from __future__ import annotations

import torch

__all__ = ["codebook_usage", "mean_distance_mm"]


def mean_distance_mm(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """Mean Euclidean distance in millimetres between matching points: MPJPE for joints, MVE for vertices.

    Args:
        pred: (B, N, 3) metres.
        gt: (B, N, 3) metres, same frame (the tokenizer's poses share a zero root, so no alignment is needed).
    Returns:
        The mean over every point of the batch, in mm.
    """
    return float(torch.linalg.norm(pred.float() - gt.float(), dim=-1).mean()) * 1000.0


def codebook_usage(code_idx: torch.Tensor, num_codes: int) -> float:
    """Fraction of the K codes used at least once by ``code_idx`` (any shape, int64)."""
    return torch.unique(code_idx.reshape(-1)).numel() / float(num_codes)

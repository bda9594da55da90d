"""The 6D rotation representation of the networks, in both official conventions.

TokenHMR (``tokenhmr/lib/utils/geometry.py``) and its tokenizer (PyTorch3D ``rotation_6d_to_matrix``) stack the
Gram-Schmidt vectors b1, b2, b3 as the matrix **rows**; HMR 2.0 (``hmr2/utils/geometry.py``) stacks them as
**columns**. For the same 6 numbers the two results are transposes of each other, so every model carries its
convention in its config and nothing here has a default.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["Rot6dConvention", "rot6d_to_rotmat", "rotmat_to_rot6d"]

Rot6dConvention = Literal["rows", "columns"]


def _check_convention(convention: str) -> None:
    if convention not in ("rows", "columns"):
        raise ValueError(f"6D convention must be 'rows' (TokenHMR) or 'columns' (HMR 2.0); got {convention!r}")


def rot6d_to_rotmat(x: torch.Tensor, convention: Rot6dConvention) -> torch.Tensor:
    """6D vectors to rotation matrices by Gram-Schmidt (Zhou et al. 2019).

    Args:
        x: (..., 6) vectors; a1 = x[..., 0:3], a2 = x[..., 3:6] (a flat (B, 6*J) input also works; the result is
            then (B*J, 3, 3), as the official function returns).
        convention: "rows" stacks (b1, b2, b3) as rows (TokenHMR), "columns" as columns (HMR 2.0).

    Returns:
        (N, 3, 3) rotation matrices, N = x.numel() // 6.
    """
    _check_convention(convention)
    v = x.reshape(-1, 2, 3)
    a1, a2 = v[:, 0], v[:, 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1)
    # bf16 cross products lose too much; the official TokenHMR code computes them in fp32 as well.
    b3 = torch.cross(b1.float(), b2.float(), dim=-1).to(b1.dtype)
    return torch.stack((b1, b2, b3), dim=-2 if convention == "rows" else -1)


def rotmat_to_rot6d(rotmat: torch.Tensor, convention: Rot6dConvention) -> torch.Tensor:
    """Rotation matrices to the 6D vector that ``rot6d_to_rotmat`` maps back to them.

    Args:
        rotmat: (..., 3, 3) rotation matrices.
        convention: "rows" keeps the first two rows (PyTorch3D / TokenHMR tokenizer), "columns" the first two columns.

    Returns:
        (..., 6) vectors.
    """
    _check_convention(convention)
    basis = rotmat if convention == "rows" else rotmat.transpose(-1, -2)
    return basis[..., :2, :].reshape(*rotmat.shape[:-2], 6)

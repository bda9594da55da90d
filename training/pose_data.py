"""Body-pose data for the tokenizer: AMASS/MOYO ``.npz`` folders, mixing-weight sampling, synthetic poses,
and the progressive joint-noise augmentation.

Layout (as the official ``prepare_amass_smplh_pose.py`` writes it): ``<data_dir>/<split>/<split>_<NAME>.npz`` with
``pose_body`` (N, 63) axis-angle of SMPL joints 1..21 (radians; optional ``betas``, ``gender``, ``name``).
Training batches draw a dataset by its mixing weight (paper / official yaml: CMU .12, KIT .11, ... MOYO .16),
then a frame uniformly inside it. Sampling uses one ``torch.Generator`` whose state goes into the checkpoint,
so a resumed run sees the same batches.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backend.geometry import axis_angle_to_rotmat

__all__ = [
    "BODY_PARTS",
    "OFFICIAL_TRAIN_WEIGHTS",
    "PoseCollection",
    "add_joint_noise",
    "load_pose_collection",
    "noise_multiplier",
    "poses_to_matrices",
    "random_body_poses",
    "write_synthetic_pose_folder",
]

logger = logging.getLogger(__name__)

# tokenization/configs/tokenizer_amass_moyo.yaml: the training mix.
OFFICIAL_TRAIN_WEIGHTS: dict[str, float] = {
    "CMU": 0.12, "KIT": 0.11, "BMLrub": 0.11, "DanceDB": 0.05, "BMLmovi": 0.05, "EyesJapan": 0.05,
    "BMLhandball": 0.05, "TotalCapture": 0.05, "EKUT": 0.03, "ACCAD": 0.03, "TCDHands": 0.03, "MPI-Limits": 0.16,
    "MOYO": 0.16,
}  # fmt: skip

# Body parts over the 21 tokenised joints (index = SMPL joint − 1): the groups the noise augmentation perturbs.
BODY_PARTS: tuple[tuple[int, ...], ...] = (
    (0, 3, 6, 9),  # left leg: hip, knee, ankle, foot
    (1, 4, 7, 10),  # right leg
    (2, 5, 8),  # spine1..3
    (11, 14),  # neck, head
    (12, 15, 17, 19),  # left arm: collar, shoulder, elbow, wrist
    (13, 16, 18, 20),  # right arm
)


@dataclass(frozen=True)
class PoseCollection:
    """Poses of several datasets held in memory, with their mixing weights."""

    names: tuple[str, ...]  # dataset names, e.g. "CMU"
    poses: tuple[torch.Tensor, ...]  # per dataset (N_i, 21, 3) axis-angle, float32
    weights: torch.Tensor  # (len(names),) sampling probabilities, summing to 1

    def __len__(self) -> int:
        return sum(p.shape[0] for p in self.poses)

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(batch_size, 21, 3) axis-angle poses drawn by the mixing weights, then uniformly inside a dataset."""
        which = torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)
        out = torch.empty(batch_size, 21, 3)
        for d in range(len(self.names)):
            rows = (which == d).nonzero(as_tuple=True)[0]
            if rows.numel():
                idx = torch.randint(self.poses[d].shape[0], (rows.numel(),), generator=generator)
                out[rows] = self.poses[d][idx]
        return out

    def all_poses(self) -> torch.Tensor:
        """(N, 21, 3) every pose of every dataset (for validation)."""
        return torch.cat(list(self.poses), dim=0)


def load_pose_collection(data_dir: str | Path, split: str, weights: dict[str, float] | None = None) -> PoseCollection:
    """Read ``<data_dir>/<split>/<split>_<NAME>.npz`` files.

    Args:
        data_dir: root folder.
        split: "train", "val" or "test".
        weights: dataset name → mixing weight; names without a file are skipped with a warning and the rest are
            renormalised. None: every file found, weighted by its number of frames.
    Returns:
        The collection.
    Raises:
        FileNotFoundError: no usable file; ValueError: a file without a (N, 63) ``pose_body``.
    """
    folder = Path(data_dir) / split
    files = {p.stem[len(split) + 1 :]: p for p in sorted(folder.glob(f"{split}_*.npz"))}
    if not files:
        raise FileNotFoundError(
            f"no {split}_<NAME>.npz files in {folder}; expected the AMASS/MOYO pose files written by the official "
            "prepare_amass_smplh_pose.py (key pose_body (N,63))"
        )
    chosen = weights if weights is not None else {n: None for n in files}
    missing = sorted(set(chosen) - set(files))
    if missing:
        logger.warning("%s: no file for dataset(s) %s; their weight is shared among the others", folder, missing)
    names, poses, raw_weights = [], [], []
    for name, w in chosen.items():
        if name not in files:
            continue
        with np.load(files[name], allow_pickle=False) as data:
            if "pose_body" not in data:
                raise ValueError(f"{files[name]}: missing key 'pose_body'; found {sorted(data.files)}")
            pose = np.asarray(data["pose_body"], dtype=np.float32)
        if pose.ndim != 2 or pose.shape[1] != 63 or pose.shape[0] == 0:
            raise ValueError(f"{files[name]}: 'pose_body' must be (N>0, 63) axis-angle, found {pose.shape}")
        names.append(name)
        poses.append(torch.from_numpy(pose).reshape(-1, 21, 3))
        raw_weights.append(float(pose.shape[0]) if w is None else float(w))
    if not names:
        raise FileNotFoundError(f"{folder}: none of the datasets {sorted(chosen)} has a file; found {sorted(files)}")
    wt = torch.tensor(raw_weights, dtype=torch.float64)
    if torch.any(wt < 0) or float(wt.sum()) <= 0:
        raise ValueError(f"mixing weights must be >= 0 with a positive sum, found {dict(zip(names, raw_weights))}")
    return PoseCollection(names=tuple(names), poses=tuple(poses), weights=(wt / wt.sum()).float())


# Per-joint ranges (radians) of random "valid" poses: (x, y, z) half-widths of a uniform draw around a bias.
_LIMITS = {
    0: ((-1.2, 0.4), (-0.4, 0.4), (-0.3, 0.6)), 1: ((-1.2, 0.4), (-0.4, 0.4), (-0.6, 0.3)),
    3: ((0.0, 2.0), (-0.1, 0.1), (-0.1, 0.1)), 4: ((0.0, 2.0), (-0.1, 0.1), (-0.1, 0.1)),
    15: ((-0.5, 0.5), (-0.8, 0.4), (-1.0, 0.6)), 16: ((-0.5, 0.5), (-0.4, 0.8), (-0.6, 1.0)),
    17: ((-0.2, 0.2), (-2.0, 0.0), (-0.2, 0.2)), 18: ((-0.2, 0.2), (0.0, 2.0), (-0.2, 0.2)),
}  # fmt: skip
_DEFAULT_LIMIT = ((-0.3, 0.3), (-0.3, 0.3), (-0.3, 0.3))


def random_body_poses(num: int, generator: torch.Generator) -> torch.Tensor:
    """(num, 21, 3) axis-angle poses from random joint angles inside loose anatomical ranges (knees and
    elbows bend one way; other joints within ±0.3 rad). Synthetic stand-in for AMASS in tests and demos."""
    lo = torch.tensor([[r[0] for r in _LIMITS.get(j, _DEFAULT_LIMIT)] for j in range(21)])
    hi = torch.tensor([[r[1] for r in _LIMITS.get(j, _DEFAULT_LIMIT)] for j in range(21)])
    u = torch.rand(num, 21, 3, generator=generator)
    return lo + (hi - lo) * u


def write_synthetic_pose_folder(
    folder: str | Path, frames: dict[str, int], split: str = "train", seed: int = 0
) -> dict[str, Path]:
    """Write ``<folder>/<split>/<split>_<NAME>.npz`` files of random valid poses (official keys), for tests.

    Args:
        folder: root to write into.
        frames: dataset name → number of frames.
        split: split folder name.
        seed: RNG seed.
    Returns:
        Dataset name → written path.
    """
    out = Path(folder) / split
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    paths = {}
    for name, n in frames.items():
        pose = random_body_poses(n, gen).reshape(n, 63).numpy()
        path = out / f"{split}_{name}.npz"
        np.savez(path, pose_body=pose, betas=np.zeros((n, 10), np.float32), gender=np.array("neutral"))
        paths[name] = path
    return paths


def noise_multiplier(step: int, interval: int, multipliers: tuple[float, ...]) -> float:
    """Progressive noise level: ``multipliers[step // interval]``, then the last value (official schedule:
    interval 5000, (0.01, 0.05, 0.1, 0.1, 0.5, 0.5))."""
    if interval <= 0 or not multipliers:
        return 0.0
    return float(multipliers[min(step // interval, len(multipliers) - 1)])


def add_joint_noise(
    pose_6d: torch.Tensor, multiplier: float, generator: torch.Generator, fraction: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Perturb one random body part of a random half of the batch (the encoder input only; targets stay clean).

    The official code meant to add ``U(0,1)·multiplier`` to the 6D values of a random body part's joints in half
    of the batch, but wrote it into a temporary copy (``x[idx][:, joints] += ...``), so nothing changed. Here the
    noise is Gaussian with std ``multiplier`` per value and is really applied.

    Args:
        pose_6d: (B, 21, 6) encoder input.
        multiplier: noise standard deviation.
        generator: RNG (CPU).
        fraction: share of the batch to perturb.
    Returns:
        (noisy (B, 21, 6) new tensor, mask (B, 21) bool of the perturbed joints).
    """
    b = pose_6d.shape[0]
    mask = torch.zeros(b, 21, dtype=torch.bool)
    if multiplier <= 0 or b == 0:
        return pose_6d.clone(), mask
    rows = torch.randperm(b, generator=generator)[: max(1, math.ceil(b * fraction))]
    parts = torch.randint(len(BODY_PARTS), (rows.numel(),), generator=generator)
    for r, p in zip(rows.tolist(), parts.tolist()):
        mask[r, list(BODY_PARTS[p])] = True
    noise = torch.randn(pose_6d.shape, generator=generator) * multiplier
    mask_dev = mask.to(pose_6d.device)
    return pose_6d + noise.to(pose_6d) * mask_dev[..., None], mask_dev


def poses_to_matrices(axis_angle: torch.Tensor) -> torch.Tensor:
    """(B, 21, 3) axis-angle → (B, 21, 3, 3)."""
    return axis_angle_to_rotmat(axis_angle)

"""HMR training data: a mix of webdataset shard sets drawn by weight, step-deterministic batches, and a writer of
synthetic shards (SMPL bodies projected by a known camera, keypoints drawn on random images) for tests.

Batches are a pure function of (seed, rank, step): each step seeds its own generator, so a ``DataLoader`` with
workers may prefetch freely and a resumed run at step s reads exactly the batches the uninterrupted run would.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import torch

from backend.body import SMPLBody
from backend.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle
from training.augment import NO_AUGMENT, AugmentConfig, crop_and_augment, draw_augmentation
from training.pose_data import random_body_poses
from training.webdataset import ShardIndex, index_shards, read_item, write_shards

__all__ = ["DatasetSpec", "HMRItems", "StepBatchSampler", "build_mixture", "write_synthetic_hmr_shards"]


@dataclass(frozen=True)
class DatasetSpec:
    """One training dataset: its shards, its mixing weight, and whether its SMPL labels are real 3D GT."""

    shards: tuple[str, ...] = ()  # shard paths or glob patterns, e.g. "data/h36m/{000..099}.tar" as a glob "h36m/*.tar"
    weight: float = 1.0  # mixing weight (official mix: H36M .1, MPII .1, COCO .1, BEDLAM .18, AIC .13, ...)
    gt_3d: bool = False  # True for 3D ground truth (H36M, BEDLAM): full loss; False for pseudo-GT fits: TALS


def _expand(patterns: tuple[str, ...], name: str) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not found:
            raise FileNotFoundError(f"dataset {name!r}: no shard matches {pattern!r}")
        paths.extend(found)
    if not paths:
        raise FileNotFoundError(f"dataset {name!r} lists no shards; give 'shards' as paths or glob patterns")
    return paths


class HMRItems(torch.utils.data.Dataset):
    """Map-style dataset over several shard indexes; an item id is ``(dataset, index, augmentation seed)``."""

    def __init__(self, names: list[str], indexes: list[ShardIndex], gt_3d: list[bool], augment: AugmentConfig | None):
        self.names, self.indexes, self.gt_3d, self.augment = names, indexes, gt_3d, augment

    def __len__(self) -> int:
        return sum(len(i) for i in self.indexes)

    def __getitem__(self, item: tuple[int, int, int]) -> dict[str, Any]:
        d, i, seed = item
        image, person, _ = read_item(self.indexes[d], i)
        params = NO_AUGMENT if self.augment is None else draw_augmentation(self.augment, np.random.default_rng(seed))
        sample = crop_and_augment(image, person, params)
        sample["has_body_pose"] = np.float32(person["has_body_pose"] > 0)
        sample["has_betas"] = np.float32(person["has_betas"] > 0)
        sample["gt_3d"] = np.float32(self.gt_3d[d])
        sample["dataset"] = np.int64(d)
        return sample


def build_mixture(specs: dict[str, DatasetSpec], augment: AugmentConfig | None) -> tuple[HMRItems, torch.Tensor]:
    """Index every dataset's shards; returns the items and the normalised mixing weights (D,)."""
    if not specs:
        raise ValueError("no datasets configured; give at least one name → {shards, weight, gt_3d}")
    names = list(specs)
    indexes = [index_shards(_expand(specs[n].shards, n)) for n in names]
    for n, idx in zip(names, indexes):
        if len(idx) == 0:
            raise ValueError(f"dataset {n!r}: its shards hold no person")
    weights = torch.tensor([specs[n].weight for n in names], dtype=torch.float64)
    if torch.any(weights < 0) or float(weights.sum()) <= 0:
        raise ValueError(f"mixing weights must be >= 0 with a positive sum, found {dict(zip(names, weights.tolist()))}")
    return HMRItems(names, indexes, [specs[n].gt_3d for n in names], augment), (weights / weights.sum()).float()


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields the item ids of steps ``start_step``..``total_steps``−1; batch s depends only on (seed, rank, s)."""

    def __init__(self, items: HMRItems, weights: torch.Tensor, batch_size: int, seed: int, rank: int,
                 start_step: int, total_steps: int) -> None:  # fmt: skip
        self.sizes = [len(i) for i in items.indexes]
        self.weights, self.batch_size, self.seed, self.rank = weights, batch_size, seed, rank
        self.start_step, self.total_steps = start_step, total_steps

    def batch(self, step: int) -> list[tuple[int, int, int]]:
        """The item ids of ``step``."""
        gen = torch.Generator().manual_seed(((self.seed * 1_000_003 + self.rank) * 1_000_003 + step) % (2**63))
        which = torch.multinomial(self.weights, self.batch_size, replacement=True, generator=gen).tolist()
        picks = torch.rand(self.batch_size, generator=gen, dtype=torch.float64).tolist()
        seeds = torch.randint(2**31 - 1, (self.batch_size,), generator=gen).tolist()
        return [(d, min(int(p * self.sizes[d]), self.sizes[d] - 1), s) for d, p, s in zip(which, picks, seeds)]

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


def write_synthetic_hmr_shards(
    folder: str | Path, smpl: SMPLBody, num_samples: int, per_shard: int = 16, seed: int = 0,
    image_size: int = 320, focal_px: float = 700.0,
) -> list[Path]:  # fmt: skip
    """Synthetic HMR 2.0 shards: random valid SMPL bodies seen by a known pinhole camera.

    Each sample's image is noise with the 44 projected keypoints drawn as coloured dots (so the image carries the
    pose); annotations are exact: 2D keypoints (pixels, conf 1), 3D keypoints in the camera frame, axis-angle pose
    with the root in the camera frame, betas, box centre and scale (box side / 200).
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    body = random_body_poses(num_samples, gen)  # (N,21,3)
    hands = torch.zeros(num_samples, 2, 3)
    # Upright people in the OpenCV camera frame (y down): a half turn about x, then a random turn about the vertical.
    yaw = torch.from_numpy(rng.uniform(-np.pi, np.pi, num_samples)).float()
    root_rot = axis_angle_to_rotmat(torch.tensor([np.pi, 0.0, 0.0])) @ axis_angle_to_rotmat(
        torch.stack([torch.zeros_like(yaw), yaw, torch.zeros_like(yaw)], -1)
    )
    betas = torch.from_numpy(rng.normal(0.0, 0.5, (num_samples, 10))).float()
    with torch.no_grad():
        out = smpl(root_rot[:, None], axis_angle_to_rotmat(torch.cat([body, hands], 1)), betas)
    root_aa = rotmat_to_axis_angle(root_rot)
    joints = out.joints.numpy()  # (N,44,3)
    samples = []
    for n in range(num_samples):
        depth = rng.uniform(6.0, 9.0)
        cam = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), depth]) - joints[n, 39]
        pts = joints[n] + cam
        uv = focal_px * pts[:, :2] / pts[:, 2:3] + image_size / 2.0
        img = rng.integers(0, 60, (image_size, image_size, 3), dtype=np.uint8)
        for k, (u, v) in enumerate(uv):
            color = tuple(int(c) for c in (50 + 4 * k, 255 - 4 * k, 128 + (k % 4) * 30))
            cv2.circle(img, (int(round(u)), int(round(v))), 3, color, -1)
        lo, hi = uv.min(0), uv.max(0)
        person = {
            "center": ((lo + hi) / 2).astype(np.float32),
            "scale": (np.full(2, (hi - lo).max() * 1.2) / 200.0).astype(np.float32),
            "keypoints_2d": np.concatenate([uv, np.ones((44, 1))], 1).astype(np.float32),
            "keypoints_3d": np.concatenate([pts, np.ones((44, 1))], 1).astype(np.float32),
            "body_pose": torch.cat([root_aa[n : n + 1], body[n], hands[n]], 0).reshape(72).numpy().astype(np.float32),
            "betas": betas[n].numpy(), "has_body_pose": np.array(1.0, np.float32),
            "has_betas": np.array(1.0, np.float32), "extra_info": {},
        }  # fmt: skip
        samples.append((f"synth{seed:03d}_{n:06d}", img, [person]))
    return write_shards(folder, samples, per_shard, prefix=f"synth{seed:03d}")

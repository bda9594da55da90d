"""Reconstruction error of the pose tokenizer (TokenHMR Table 3): body poses are encoded to tokens, decoded back and
both poses are posed on SMPL (zero shape, identity root and hands, as the tokenizer's training does); MVE is the mean
vertex error and MPJPE the mean error of the 24 SMPL joints, in millimetres, averaged over every pose.

Data: the AMASS / MOYO ``.npz`` folders of the official ``prepare_amass_smplh_pose.py``
(``<root>/<split>/<split>_<NAME>.npz``, key ``pose_body`` (N, 63)), read with ``training.pose_data``; the test
split holds Transitions and SSM, the val split HumanEva, HDM05, SFU, MPI-Mosh and MOYO.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

__all__ = ["TokenizerEvalReport", "evaluate_tokenizer", "load_pose_vqvae", "smpl_pose_forward", "tokenizer_roundtrip"]

log = logging.getLogger(__name__)

# (B, 21, 3, 3) body-joint rotations -> ((B, J, 3) joints, (B, V, 3) vertices), metres
ForwardFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
# (B, 21, 3, 3) -> (B, 21, 3, 3): encode to tokens and decode back
RoundtripFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class TokenizerEvalReport:
    """Reconstruction errors of a tokenizer on the pose files of one split (mm)."""

    dataset: str  # "amass" or "moyo"
    split: str
    tokenizer: str
    num_poses: int = 0
    mve_mm: float = float("nan")
    mpjpe_mm: float = float("nan")
    per_dataset_mm: dict[str, dict[str, float]] = field(default_factory=dict)  # NAME -> {mve, mpjpe, count}
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def load_pose_vqvae(path: str | Path, device: str | torch.device = "cpu"):
    """The whole tokenizer (encoder, quantizer, decoder) from an official ``tokenizer.pth``, loaded strictly."""
    from backend.models import PoseVQVAE, filter_tokenizer_state_dict, load_state_dict_strict, read_tokenizer_file

    file = read_tokenizer_file(path)
    vqvae = PoseVQVAE(file.arch)
    load_state_dict_strict(vqvae, filter_tokenizer_state_dict(file.net, ("encoder", "decoder", "quantizer")), str(path))
    return vqvae.to(device).eval()


def tokenizer_roundtrip(vqvae) -> RoundtripFn:
    """Encode to token indices (nearest code) and decode: the tokenizer's reconstruction of a body pose."""
    from backend.models import rot6d_to_rotmat

    @torch.no_grad()
    def roundtrip(body_rot: torch.Tensor) -> torch.Tensor:
        idx = vqvae.encode(body_rot)
        return rot6d_to_rotmat(vqvae.decode_tokens(idx), "rows").reshape(body_rot.shape)

    return roundtrip


def smpl_pose_forward(smpl) -> ForwardFn:
    """SMPL posed with body-joint rotations only (identity root and hands, zero shape): (24 joints, vertices)."""

    @torch.no_grad()
    def forward(body_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = body_rot.shape[0]
        eye = torch.eye(3, dtype=body_rot.dtype, device=body_rot.device).expand(b, 3, 3, 3)
        out = smpl(eye[:, :1], torch.cat([body_rot, eye[:, :2]], dim=1),
                   torch.zeros(b, smpl.num_betas, dtype=body_rot.dtype, device=body_rot.device))
        return out.smpl_joints, out.vertices

    return forward


def evaluate_tokenizer(poses: dict[str, torch.Tensor], roundtrip: RoundtripFn, forward: ForwardFn, *,
                       dataset: str, split: str, tokenizer: str, batch_size: int = 512,
                       progress: Callable[[int], None] | None = None) -> TokenizerEvalReport:
    """Scores the tokenizer's reconstruction of every pose.

    Args:
        poses: dataset name -> (N, 21, 3) axis-angle body poses (radians).
        roundtrip: the tokenizer's encode + decode on (B, 21, 3, 3) rotation matrices.
        forward: body-pose rotations -> (joints, vertices) in metres.
        dataset, split, tokenizer: labels for the report.
        batch_size: poses per forward pass.
        progress: called with the number of poses done.
    """
    from training.metrics import mean_distance_mm
    from training.pose_data import poses_to_matrices

    report = TokenizerEvalReport(dataset=dataset, split=split, tokenizer=tokenizer)
    done = 0
    sums = {"mve": 0.0, "mpjpe": 0.0}
    for name, data in poses.items():
        data = torch.as_tensor(data, dtype=torch.float32)
        if data.ndim != 3 or data.shape[1:] != (21, 3):
            raise ValueError(f"{name}: poses must be (N, 21, 3) axis-angle; got {tuple(data.shape)}")
        mve = mpjpe = 0.0
        for chunk in data.split(batch_size):
            body_rot = poses_to_matrices(chunk)
            j_gt, v_gt = forward(body_rot)
            j_pred, v_pred = forward(roundtrip(body_rot))
            mpjpe += mean_distance_mm(j_pred, j_gt) * chunk.shape[0]
            mve += mean_distance_mm(v_pred, v_gt) * chunk.shape[0]
            done += chunk.shape[0]
            if progress:
                progress(done)
        n = data.shape[0]
        if n:
            report.per_dataset_mm[name] = {"mve": mve / n, "mpjpe": mpjpe / n, "count": n}
        sums["mve"] += mve
        sums["mpjpe"] += mpjpe
    report.num_poses = done
    if done:
        report.mve_mm = sums["mve"] / done
        report.mpjpe_mm = sums["mpjpe"] / done
    return report

"""Train the pose tokenizer (VQ-VAE on SMPL body poses) and export a ``tokenizer.pth`` the backend loads.

One GPU (or CPU)::

    python -m training.tokenizer --config configs/tokenizer.yaml

Several GPUs on one node (DDP; every rank draws its own batches, rank 0 logs and saves)::

    torchrun --standalone --nproc_per_node=4 -m training.tokenizer --config configs/tokenizer.yaml

Several nodes: ``torchrun --nnodes=2 --node_rank=<i> --master_addr=<host> --master_port=29500
--nproc_per_node=4 -m training.tokenizer --config ...``. Resume with ``--resume <out_dir>/last.ckpt``.
A few steps on tiny synthetic data (writes its own SMPL and poses): ``python -m training.tokenizer --smoke
--out-dir /tmp/tok``; a longer CPU run on synthetic poses: ``scripts/train_tokenizer_synthetic.sh``.

Loss (paper): λ_RE·(L1 rotation matrices + L1 joints through SMPL) + λ_E·L_embed + λ_C·L_commit, weights
50, 1, 1. The codebook is the EMA + dead-code-reset quantizer of ``backend.models`` (its embedding loss has no
gradient and is logged for completeness). Differences from upstream, on purpose: LR milestones are ints, so the
LR does decay; the progressive joint noise really perturbs the encoder input; no SMPL-H or ``.cuda()`` needed.
Under DDP the codebook EMA follows rank 0's batches (DDP broadcasts module buffers each forward).

Outputs in ``out_dir``: ``last.ckpt`` (resume), ``tokenizer.pth`` (``{'net', 'hparams'}``, official layout, loads
with ``backend.models.read_tokenizer_file``), ``tokenizer.safetensors`` (decoder + codebook, the backend's
installed layout; ``hparams`` JSON in the metadata), ``metrics.jsonl`` (one JSON line per log/validation step),
``config.yaml``.
"""

from __future__ import annotations

import argparse
import json
import os
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import save_file
from smplx.lbs import batch_rigid_transform

from backend.body import SMPLBody, write_synthetic_smpl_files
from backend.models import (
    PoseVQVAE,
    TokenizerArch,
    filter_tokenizer_state_dict,
    rot6d_to_rotmat,
    rotmat_to_rot6d,
)
from training.config import config_to_dict, load_config, save_config
from training.losses import tokenizer_losses
from training.metrics import codebook_usage, mean_distance_mm
from training.pose_data import (
    OFFICIAL_TRAIN_WEIGHTS,
    PoseCollection,
    add_joint_noise,
    load_pose_collection,
    noise_multiplier,
    poses_to_matrices,
    write_synthetic_pose_folder,
)
from training.runtime import (
    Runtime,
    autocast,
    load_training_checkpoint,
    make_lr_scheduler,
    rng_state,
    save_training_checkpoint,
    seed_everything,
    set_rng_state,
    setup_runtime,
    teardown_runtime,
)

__all__ = ["TokenizerTrainConfig", "TokenizerTrainer", "export_tokenizer", "main", "smoke_config"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenizerTrainConfig:
    """Everything a tokenizer run needs; defaults are the release tokenizer's values."""

    data_dir: str = ""  # folder with train/ and val/ <split>_<NAME>.npz files
    smpl_path: str = ""  # SMPL_NEUTRAL.pkl (or its folder): joints/vertices for the loss and metrics
    out_dir: str = "runs/tokenizer"  # where checkpoints, exports and metrics go
    arch: TokenizerArch = field(default_factory=TokenizerArch)  # VQ-VAE architecture (release: 160 tokens x 2048)
    train_weights: dict[str, float] = field(default_factory=lambda: dict(OFFICIAL_TRAIN_WEIGHTS))  # mixing weights
    val_datasets: tuple[str, ...] = ()  # val/<name> files to evaluate; empty: every val file
    batch_size: int = 256  # per process
    total_steps: int = 150_000  # optimiser steps
    lr: float = 2e-4  # AdamW base LR
    adam_betas: tuple[float, ...] = (0.9, 0.99)  # AdamW betas
    weight_decay: float = 1e-5  # AdamW weight decay
    warmup_steps: int = 1000  # linear LR warm-up
    lr_milestones: tuple[int, ...] = (75_000, 100_000)  # LR ×gamma at these steps (ints!)
    lr_gamma: float = 0.05  # decay factor per milestone
    lambda_re: float = 50.0  # reconstruction weight λ_RE (pose L1 + joints L1)
    lambda_e: float = 1.0  # embedding-loss weight λ_E (no gradient with an EMA codebook)
    lambda_c: float = 1.0  # commitment weight λ_C
    noise_interval: int = 5000  # steps per noise level; 0 disables the joint-noise augmentation
    noise_levels: tuple[float, ...] = (0.01, 0.05, 0.1, 0.1, 0.5, 0.5)  # progressive noise std per interval
    log_every: int = 100  # steps between training logs
    val_every: int = 5000  # steps between validations
    val_max_poses: int = 20_000  # validation subset size
    ckpt_every: int = 5000  # steps between last.ckpt writes (also written at the end)
    seed: int = 0  # base seed; rank r uses seed + r
    bf16: bool = True  # bf16 autocast on CUDA (CPU stays fp32)
    device: str = "auto"  # auto, cpu or cuda


def write_synthetic_data(folder: str | Path, train_frames: int, val_frames: int, seed: int = 0) -> tuple[str, str]:
    """Synthetic SMPL files and random-valid-pose folders (3 train datasets, 1 val) under ``folder``.

    Returns:
        (data_dir, smpl_path) for ``TokenizerTrainConfig``.
    """
    folder = Path(folder)
    files = write_synthetic_smpl_files(folder / "body_models", seed=seed)
    quarter = train_frames // 4
    split = {"SYNTH_A": 2 * quarter, "SYNTH_B": quarter, "SYNTH_C": train_frames - 3 * quarter}
    write_synthetic_pose_folder(folder / "poses", split, "train", seed=seed)
    write_synthetic_pose_folder(folder / "poses", {"SYNTH_VAL": val_frames}, "val", seed=seed + 1)
    return str(folder / "poses"), str(files.smpl_path)


SYNTHETIC_WEIGHTS = {"SYNTH_A": 0.5, "SYNTH_B": 0.3, "SYNTH_C": 0.2}


def smoke_config(out_dir: str | Path, total_steps: int = 20) -> TokenizerTrainConfig:
    """A tiny run on synthetic SMPL files and poses written under ``out_dir/smoke_data_rank<RANK>`` (once)."""
    # One folder per torchrun rank, so ranks never write the same files at once.
    data = Path(out_dir) / f"smoke_data_rank{os.environ.get('RANK', '0')}"
    if (data / "poses" / "val").is_dir():
        data_dir, smpl_path = str(data / "poses"), str(data / "body_models" / "smpl" / "SMPL_NEUTRAL.pkl")
    else:
        data_dir, smpl_path = write_synthetic_data(data, 768, 128)
    arch = TokenizerArch(code_dim=32, nb_code=64, down_t=1, width=48, depth=1, dilation_rate=2,
                         token_size_mul=1, token_size_div=2)  # fmt: skip
    return TokenizerTrainConfig(
        data_dir=data_dir, smpl_path=smpl_path, out_dir=str(out_dir), arch=arch,
        train_weights=dict(SYNTHETIC_WEIGHTS), batch_size=32, total_steps=total_steps, lr=1e-3, warmup_steps=5,
        lr_milestones=(max(1, total_steps * 3 // 4),), lr_gamma=0.1, noise_interval=max(1, total_steps // 4),
        log_every=max(1, total_steps // 10), val_every=total_steps, val_max_poses=128, ckpt_every=total_steps,
        bf16=False, device="cpu",
    )  # fmt: skip


class _Objective(nn.Module):
    """The differentiable part of a step, as one module so DDP sees every parameter used."""

    def __init__(self, vqvae: PoseVQVAE) -> None:
        super().__init__()
        self.vqvae = vqvae

    def forward(self, pose_6d: torch.Tensor, bf16: bool) -> tuple[torch.Tensor, ...]:
        """(B,21,6) encoder input → (decoded 6D (B,21,6), latent, quantised latent, commitment, perplexity)."""
        with autocast(pose_6d.device, bf16):
            latent = self.vqvae.encoder(pose_6d.permute(0, 2, 1))
        # Nearest-code search and EMA statistics in fp32: bf16 would blur the distances.
        with torch.autocast(device_type=pose_6d.device.type, enabled=False):
            quantized, commit, ppl = self.vqvae.quantizer(latent.float())
        with autocast(pose_6d.device, bf16):
            decoded = self.vqvae.decoder(quantized).permute(0, 2, 1)
        return decoded.float(), latent.float(), quantized, commit, ppl


def _body_joints(smpl: SMPLBody, body_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,21,3,3) body-joint rotations → (24 SMPL joints (B,24,3), vertices (B,V,3)) at zero shape and root."""
    b = body_rot.shape[0]
    eye = torch.eye(3, device=body_rot.device).expand(b, 3, 3, 3)
    out = smpl(eye[:, :1], torch.cat([body_rot, eye[:, :2]], dim=1), torch.zeros(b, smpl.num_betas, device=eye.device))
    return out.smpl_joints, out.vertices


def _chain_joints(smpl: SMPLBody, body_rot: torch.Tensor) -> torch.Tensor:
    """(B,21,3,3) → the 24 posed SMPL joints (B,24,3) at zero shape and root, through the kinematic chain only.

    Equals ``_body_joints(...)[0]`` (smplx computes joints from the rest joints and the chain, before skinning)
    without skinning 6890 vertices, which dominates the step time on CPU.
    """
    b = body_rot.shape[0]
    rest = (smpl.J_regressor @ smpl.v_template)[None].expand(b, -1, -1)
    eye = torch.eye(3, device=body_rot.device, dtype=body_rot.dtype).expand(b, 3, 3, 3)
    rot = torch.cat([eye[:, :1], body_rot, eye[:, :2]], dim=1)
    posed, _ = batch_rigid_transform(rot, rest.to(body_rot.dtype), smpl.parents)
    return posed


class TokenizerTrainer:
    """Holds the model, optimiser, data and RNGs of one run; ``train()`` runs it to ``total_steps``."""

    def __init__(self, config: TokenizerTrainConfig, runtime: Runtime) -> None:
        self.config, self.runtime = config, runtime
        seed_everything(config.seed + runtime.rank)
        self.data_gen = torch.Generator().manual_seed(config.seed * 1000 + runtime.rank)
        self.noise_gen = torch.Generator().manual_seed(config.seed * 1000 + 500 + runtime.rank)
        self.train_data: PoseCollection = load_pose_collection(config.data_dir, "train", config.train_weights)
        self.val_data: PoseCollection | None = None
        if (Path(config.data_dir) / "val").is_dir():
            self.val_data = load_pose_collection(config.data_dir, "val", {n: 1.0 for n in config.val_datasets} or None)
        self.smpl = SMPLBody.from_files(config.smpl_path).to(runtime.device)
        self.vqvae = PoseVQVAE(config.arch).to(runtime.device)
        self.objective: nn.Module = _Objective(self.vqvae)
        if runtime.distributed:
            ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            self.objective = nn.parallel.DistributedDataParallel(self.objective, device_ids=ids)
        self.optimizer = torch.optim.AdamW(
            self.vqvae.parameters(), lr=config.lr, betas=tuple(config.adam_betas), weight_decay=config.weight_decay
        )
        self.scheduler = make_lr_scheduler(self.optimizer, config.warmup_steps, config.lr_milestones, config.lr_gamma)
        self.step = 0
        self.history: list[dict[str, Any]] = []

    # ---- one step ---------------------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """One optimiser step on a fresh batch; returns the logged scalars."""
        cfg, dev = self.config, self.runtime.device
        self.vqvae.train()
        body_rot = poses_to_matrices(self.train_data.sample(cfg.batch_size, self.data_gen)).to(dev)
        pose_6d = rotmat_to_rot6d(body_rot, "rows")
        level = noise_multiplier(self.step, cfg.noise_interval, cfg.noise_levels)
        noisy, _ = add_joint_noise(pose_6d, level, self.noise_gen)
        decoded, latent, quantized, commit, ppl = self.objective(noisy, cfg.bf16)
        pred_rot = rot6d_to_rotmat(decoded, "rows").reshape(body_rot.shape)
        with torch.no_grad():
            joints_gt = _chain_joints(self.smpl, body_rot)
        joints_pred = _chain_joints(self.smpl, pred_rot)
        pose_l1, joints_l1 = tokenizer_losses(pred_rot, body_rot, joints_pred, joints_gt)
        embed = torch.mean((latent.detach() - quantized.detach()) ** 2)
        loss = cfg.lambda_re * (pose_l1 + joints_l1) + cfg.lambda_e * embed + cfg.lambda_c * commit
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return {
            "train/loss": float(loss.detach()), "train/pose_l1": float(pose_l1.detach()),
            "train/joints_l1": float(joints_l1.detach()), "train/commit": float(commit.detach()),
            "train/embed": float(embed), "train/perplexity": float(ppl), "train/noise": level,
            "train/lr": self.scheduler.get_last_lr()[0],
        }  # fmt: skip

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Reconstruction MPJPE (24 SMPL joints) and MVE in mm, codebook usage and perplexity on val poses."""
        data = self.val_data or self.train_data
        poses = data.all_poses()[: self.config.val_max_poses]
        self.vqvae.eval()
        mpjpe, mve, codes, n = 0.0, 0.0, [], 0
        for chunk in poses.split(512):
            body_rot = poses_to_matrices(chunk).to(self.runtime.device)
            latent = self.vqvae.encode_latent(body_rot)
            b, d, t = latent.shape
            idx = self.vqvae.quantizer.quantize(latent.permute(0, 2, 1).reshape(-1, d)).reshape(b, t)
            pred_rot = rot6d_to_rotmat(self.vqvae.decode_tokens(idx), "rows").reshape(body_rot.shape)
            j_gt, v_gt = _body_joints(self.smpl, body_rot)
            j_pred, v_pred = _body_joints(self.smpl, pred_rot)
            mpjpe += mean_distance_mm(j_pred, j_gt) * b
            mve += mean_distance_mm(v_pred, v_gt) * b
            codes.append(idx.cpu())
            n += b
        all_codes = torch.cat(codes)
        nb = self.config.arch.nb_code
        counts = torch.bincount(all_codes.reshape(-1), minlength=nb).double()
        prob = counts / counts.sum()
        perplexity = float(torch.exp(-(prob * torch.log(prob + 1e-10)).sum()))
        return {"val/mpjpe_mm": mpjpe / n, "val/mve_mm": mve / n, "val/codebook_usage": codebook_usage(all_codes, nb),
                "val/perplexity": perplexity}  # fmt: skip

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume exactly."""
        q = self.vqvae.quantizer
        return {
            "model": self.vqvae.state_dict(),
            # The EMA statistics are non-persistent buffers (not in the official file): saved here by hand.
            "quantizer_ema": {"code_sum": q.code_sum.clone(), "code_count": q.code_count.clone(),
                              "initialized": q.initialized.clone()},
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "step": self.step,
            "rng": rng_state({"data": self.data_gen, "noise": self.noise_gen}),
            "config": config_to_dict(self.config), "history": list(self.history),
        }  # fmt: skip

    def load_state(self, payload: dict[str, Any]) -> None:
        """Restore a ``state()`` (same architecture required)."""
        self.vqvae.load_state_dict(payload["model"], strict=True)
        q = self.vqvae.quantizer
        for name, value in payload["quantizer_ema"].items():
            getattr(q, name).copy_(value)
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.step = int(payload["step"])
        self.history = list(payload.get("history", []))
        set_rng_state(payload["rng"], {"data": self.data_gen, "noise": self.noise_gen})

    def resume(self, path: str | Path) -> None:
        """Load ``last.ckpt``; the architecture must match this config's."""
        payload = load_training_checkpoint(path, ("model", "quantizer_ema", "optimizer", "scheduler", "step", "rng"))
        saved_arch = payload["config"]["arch"]
        if saved_arch != config_to_dict(self.config)["arch"]:
            raise ValueError(f"{path}: checkpoint architecture {saved_arch} differs from the config's "
                             f"{config_to_dict(self.config)['arch']}; resume with the run's own config")  # fmt: skip
        self.load_state(payload)

    # ---- loop -------------------------------------------------------------------------------------------------
    def _record(self, values: dict[str, float]) -> None:
        if not self.runtime.is_main:
            return
        row = {"step": self.step, **values}
        self.history.append(row)
        with open(Path(self.config.out_dir) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        logger.info("step %d %s", self.step, " ".join(f"{k}={v:.5g}" for k, v in values.items()))

    def train(self) -> dict[str, float]:
        """Run to ``total_steps``; returns the last validation metrics."""
        cfg = self.config
        out = Path(cfg.out_dir)
        if self.runtime.is_main:
            out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, out / "config.yaml")
        last_val: dict[str, float] = {}
        t0 = time.perf_counter()
        while self.step < cfg.total_steps:
            values = self.train_step()
            if self.step % cfg.log_every == 0:
                self._record({**values, "time/s": time.perf_counter() - t0})
            if self.step % cfg.val_every == 0 or self.step == cfg.total_steps:
                last_val = self.validate()
                self._record(last_val)
            if self.runtime.is_main and (self.step % cfg.ckpt_every == 0 or self.step == cfg.total_steps):
                save_training_checkpoint(out / "last.ckpt", self.state())
        if self.runtime.is_main:
            export_tokenizer(self.vqvae, cfg, out)
        return last_val


def export_tokenizer(vqvae: PoseVQVAE, config: TokenizerTrainConfig, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``tokenizer.pth`` (``{'net', 'hparams'}`` as the official file, hparams as plain dicts) and
    ``tokenizer.safetensors``: the decoder and codebook, the backend's installed tokenizer layout (loads strictly
    into ``backend.models.PoseTokenDecoder``), with the hparams JSON under metadata key ``hparams``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = {k: v.detach().cpu().contiguous() for k, v in vqvae.state_dict().items()}
    hparams = {"ARCH": config.arch.to_hparams(),
               "OPT": {"LR": config.lr, "TOTAL_ITER": config.total_steps, "LR_SCHEDULER": list(config.lr_milestones)}}
    pth = out / "tokenizer.pth"
    torch.save({"net": net, "hparams": hparams}, pth)
    st = out / "tokenizer.safetensors"
    save_file(filter_tokenizer_state_dict(net), str(st),
              metadata={"hparams": json.dumps(hparams), "format": "tokenmocap-tokenizer-decoder-v1"})  # fmt: skip
    return pth, st


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--config`` file (JSON/YAML of ``TokenizerTrainConfig``) or ``--smoke``."""
    parser = argparse.ArgumentParser(description="Train the TokenHMR pose tokenizer (VQ-VAE).")
    parser.add_argument("--config", help="JSON or YAML file with TokenizerTrainConfig fields")
    parser.add_argument("--smoke", action="store_true", help="a few steps on tiny synthetic data")
    parser.add_argument("--steps", type=int, help="override total_steps")
    parser.add_argument("--out-dir", help="override out_dir")
    parser.add_argument("--resume", help="last.ckpt to resume from")
    parser.add_argument(
        "--synthetic", type=int, metavar="FRAMES",
        help="write synthetic SMPL files and FRAMES random valid poses under <out_dir>/synthetic_data and train on "
        "them (overrides data_dir, smpl_path and train_weights)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.smoke:
        config = smoke_config(args.out_dir or "runs/tokenizer_smoke", args.steps or 20)
    elif args.config:
        config = load_config(TokenizerTrainConfig, args.config)
    else:
        parser.error("pass --config <file> or --smoke")
    if args.steps is not None:
        config = replace(config, total_steps=args.steps)
    if args.out_dir is not None:
        config = replace(config, out_dir=args.out_dir)
    if args.synthetic:
        data_dir, smpl_path = write_synthetic_data(Path(config.out_dir) / "synthetic_data", args.synthetic,
                                                   max(256, args.synthetic // 10), seed=config.seed)  # fmt: skip
        config = replace(config, data_dir=data_dir, smpl_path=smpl_path, train_weights=dict(SYNTHETIC_WEIGHTS))
    runtime = setup_runtime(config.device)
    try:
        trainer = TokenizerTrainer(config, runtime)
        if args.resume:
            trainer.resume(args.resume)
        metrics = trainer.train()
        if runtime.is_main:
            logger.info("final validation: %s", json.dumps(metrics))
    finally:
        teardown_runtime(runtime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train TokenHMR (ViT backbone + token head, frozen tokenizer decoder) with TALS, and export files the backend loads.

One GPU (or CPU)::

    python -m training.hmr --config configs/tokenhmr.yaml

Several GPUs (DDP; rank r draws batches seeded by (seed, r, step), rank 0 logs and saves)::

    torchrun --standalone --nproc_per_node=4 -m training.hmr --config configs/tokenhmr.yaml

Several nodes: add ``--nnodes=N --node_rank=i --master_addr=<host> --master_port=29500``. Resume with
``--resume <out_dir>/last.ckpt``. Smoke run on synthetic shards: ``python -m training.hmr --smoke --out-dir /tmp/h``.

Per step (official ``TokenHMR.compute_loss``): the model predicts token logits → softmax @ codebook → frozen VQ
decoder → body pose; SMPL gives the 44 keypoints; they are projected with the HMR camera (focal 5000 for a 256
crop). Loss = 0.05·L1 3D keypoints (pelvis-aligned) + 0.01·L1 2D keypoints + 0.001·MSE global orient + 0.001·MSE
body pose + 0.0005·MSE betas, where for pseudo-GT samples TALS down-weights (α = 0.01) keypoints and joints whose
error is within their threshold, 3D keypoints count only when 3D GT or 2D-valid, and betas only with 3D GT.
As in the paper, 3D-GT samples keep the full loss on every term; upstream's code also applied the 2D
keypoint TALS to them.

Outputs in ``out_dir``: ``last.ckpt`` (resume), ``tokenhmr_model.ckpt`` (``{'state_dict'}`` with ``backbone.*`` and
``smpl_head.*``, the official layout), a copy of the ``tokenizer.pth`` used, ``model_config.yaml`` (official keys),
``backbone.json`` (ViT sizes), ``metrics.jsonl``, and the backend's installed layout ``model.safetensors`` +
``tokenizer.safetensors`` (decoder and codebook) + ``config.json``. Load them with
``backend.models.load_installed_model(out_dir)``, or from the official-layout files with
``backend.models.load_tokenhmr(ckpt, tokenizer, model_config, backbone=cfg)`` where
``cfg = backend.models.backbone_config_from_json(json.load(open('backbone.json')))``.
"""

from __future__ import annotations

import argparse
import json
import os
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from backend.body import SMPLBody, load_smpl_mean_params
from backend.geometry import axis_angle_to_rotmat
from backend.models import (
    PoseTokenDecoder,
    TokenHMR,
    TokenHMRConfig,
    TransformerDecoderConfig,
    ViTConfig,
    filter_tokenizer_state_dict,
    load_state_dict_strict,
    read_lightning_state_dict,
    read_tokenizer_file,
    save_installed_model,
)
from training.augment import AugmentConfig
from training.config import config_to_dict, load_config, save_config
from training.hmr_data import DatasetSpec, StepBatchSampler, build_mixture
from training.losses import (
    keypoint_2d_loss,
    keypoint_3d_loss,
    parameter_loss,
    tals_keypoint_2d_masks,
    tals_pose_masks,
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
from training.thresholds import HMR_CROP_PX, HMR_FOCAL_PX, default_thresholds, load_thresholds

__all__ = ["HMRTrainConfig", "HMRTrainer", "LossWeights", "export_tokenhmr", "main"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LossWeights:
    """Release ``LOSS_WEIGHTS`` (``tokenhmr_release.yaml``)."""

    keypoints_3d: float = 0.05  # L1 on pelvis-aligned 3D keypoints
    keypoints_2d: float = 0.01  # L1 on crop-normalised 2D keypoints
    global_orient: float = 0.001  # squared error of the root rotation matrix
    body_pose: float = 0.001  # squared error of the 23 body rotation matrices
    betas: float = 0.0005  # squared error of the shape


@dataclass(frozen=True)
class HMRTrainConfig:
    """Everything a TokenHMR run needs."""

    train_data: dict[str, DatasetSpec] = field(default_factory=dict)  # name → shards, weight, gt_3d
    val_data: dict[str, DatasetSpec] = field(default_factory=dict)  # evaluated without augmentation or TALS
    tokenizer_path: str = ""  # tokenizer.pth (ours or official): frozen decoder + codebook
    smpl_path: str = ""  # SMPL_NEUTRAL.pkl
    joint_regressor_extra_path: str = ""  # SMPL_to_J19.pkl (the 19 extra keypoints)
    mean_params_path: str = ""  # smpl_mean_params.npz (initial pose/shape/camera of the head)
    pretrained_backbone: str = ""  # optional HMR 2.0 / ViTPose Lightning checkpoint: its backbone.* initialises ours
    out_dir: str = "runs/tokenhmr"  # checkpoints, exports, metrics
    backbone: ViTConfig = field(default_factory=ViTConfig)  # ViT-H by default
    decoder: TransformerDecoderConfig = field(default_factory=TransformerDecoderConfig)  # head transformer
    batch_size: int = 48  # per process
    total_steps: int = 100_000  # optimiser steps (paper 100k; release 350k)
    lr: float = 5e-6  # AdamW LR (paper 5e-6, release 5e-7)
    weight_decay: float = 1e-4  # AdamW weight decay
    warmup_steps: int = 0  # linear LR warm-up
    lr_milestones: tuple[int, ...] = ()  # LR ×gamma at these steps (ints)
    lr_gamma: float = 0.1  # decay per milestone
    grad_clip: float = 0.0  # max gradient norm; 0 disables (the release sets none)
    loss_weights: LossWeights = field(default_factory=LossWeights)  # per-term weights
    tals: bool = True  # threshold-adaptive loss scaling for pseudo-GT samples
    loose_weight: float = 0.01  # α: weight of items within their threshold (paper 0.01; release code 0.05)
    thresholds_path: str = ""  # TALS thresholds JSON (training.thresholds); empty: the official values
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # crop augmentation
    num_workers: int = 4  # DataLoader workers per process
    log_every: int = 100  # steps between training logs
    val_every: int = 5000  # steps between validations
    val_batches: int = 50  # batches per validation
    ckpt_every: int = 5000  # steps between last.ckpt writes
    seed: int = 0  # base seed; batches depend on (seed, rank, step)
    bf16: bool = True  # bf16 autocast on CUDA
    device: str = "auto"  # auto, cpu or cuda


def model_config(config: HMRTrainConfig, tokenizer_arch: Any) -> TokenHMRConfig:
    """The ``TokenHMRConfig`` of a run: our backbone and decoder, the tokenizer's architecture."""
    base = TokenHMRConfig(tokenizer=tokenizer_arch).with_backbone(config.backbone)
    return replace(base, decoder=replace(config.decoder, context_dim=config.backbone.embed_dim))


def _project(joints: torch.Tensor, pred_cam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Official ``forward_step`` camera: (B,44,3), (B,3) → (crop-normalised keypoints (B,44,2), cam_t (B,3))."""
    s, tx, ty = pred_cam.unbind(-1)
    cam_t = torch.stack([tx, ty, 2 * HMR_FOCAL_PX / (HMR_CROP_PX * s + 1e-9)], dim=-1)
    p = joints + cam_t[:, None, :]
    return (HMR_FOCAL_PX / HMR_CROP_PX) * p[..., :2] / p[..., 2:3], cam_t


class _Forward(nn.Module):
    """Network + SMPL + camera as one module (the DDP unit). SMPL and the tokenizer decoder have no parameters."""

    def __init__(self, model: TokenHMR, smpl: SMPLBody) -> None:
        super().__init__()
        self.model, self.smpl = model, smpl

    def forward(self, img: torch.Tensor, bf16: bool) -> dict[str, torch.Tensor]:
        with autocast(img.device, bf16):
            out = self.model(img)
        go, bp, betas, cam = (t.float() for t in (out.global_orient, out.body_pose, out.betas, out.pred_cam))
        body = self.smpl(go, bp, betas)
        kp2d, cam_t = _project(body.joints, cam)
        return {"global_orient": go, "body_pose": bp, "betas": betas, "pred_cam": cam, "pred_cam_t": cam_t,
                "keypoints_3d": body.joints, "keypoints_2d": kp2d}  # fmt: skip


def compute_losses(
    pred: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], config: HMRTrainConfig,
    thresholds: dict[str, torch.Tensor], use_tals: bool,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Every loss term and the weighted total (``loss``) of a batch (official ``compute_loss``)."""
    b = pred["body_pose"].shape[0]
    gt_rot = axis_angle_to_rotmat(batch["body_pose"].reshape(b, 24, 3))
    gt_go, gt_bp = gt_rot[:, :1], gt_rot[:, 1:]
    has_pose, has_betas, gt_3d = batch["has_body_pose"], batch["has_betas"], batch["gt_3d"]
    kp2d_gt, kp3d_gt = batch["keypoints_2d"], batch["keypoints_3d"]
    a = config.loose_weight
    if use_tals:
        m2d = tals_keypoint_2d_masks(pred["keypoints_2d"], kp2d_gt, thresholds["keypoints_2d"], gt_3d)
        kp2d_full = torch.cat([kp2d_gt[..., :2], m2d.full[..., None]], -1)  # confidence now excludes weak keypoints
        l2d = keypoint_2d_loss(pred["keypoints_2d"], kp2d_full, m2d.weak, a)
        conf3 = kp3d_gt[..., 3] * ((gt_3d[:, None] + m2d.full) > 0.5).to(kp3d_gt.dtype)
        l3d = keypoint_3d_loss(pred["keypoints_3d"], torch.cat([kp3d_gt[..., :3], conf3[..., None]], -1))
        mgo = tals_pose_masks(pred["global_orient"], gt_go, thresholds["global_orient"], has_pose, gt_3d)
        mbp = tals_pose_masks(pred["body_pose"], gt_bp, thresholds["body_pose"], has_pose, gt_3d)
        lgo = parameter_loss(pred["global_orient"], gt_go, mgo.full, mgo.weak, a)
        lbp = parameter_loss(pred["body_pose"], gt_bp, mbp.full, mbp.weak, a)
        lbetas = parameter_loss(pred["betas"], batch["betas"], has_betas * gt_3d)
    else:
        l2d = keypoint_2d_loss(pred["keypoints_2d"], kp2d_gt)
        l3d = keypoint_3d_loss(pred["keypoints_3d"], kp3d_gt)
        lgo = parameter_loss(pred["global_orient"], gt_go, has_pose[:, None].expand(b, 1))
        lbp = parameter_loss(pred["body_pose"], gt_bp, has_pose[:, None].expand(b, 23))
        lbetas = parameter_loss(pred["betas"], batch["betas"], has_betas)
    w = config.loss_weights
    total = (w.keypoints_3d * l3d + w.keypoints_2d * l2d + w.global_orient * lgo + w.body_pose * lbp
             + w.betas * lbetas)  # fmt: skip
    return {"loss": total, "keypoints_2d": l2d, "keypoints_3d": l3d, "global_orient": lgo, "body_pose": lbp,
            "betas": lbetas}  # fmt: skip


def keypoint_mpjpe_mm(pred: torch.Tensor, gt: torch.Tensor, pelvis_index: int = 39) -> torch.Tensor:
    """Mean pelvis-aligned 3D keypoint error in mm over the keypoints with confidence > 0.

    Args:
        pred: (B, 44, 3) metres.
        gt: (B, 44, 4) metres + confidence.
    Returns:
        () tensor; 0 when no keypoint has confidence.
    """
    pred = pred - pred[:, pelvis_index : pelvis_index + 1]
    gt_xyz = gt[..., :3] - gt[:, pelvis_index : pelvis_index + 1, :3]
    valid = gt[..., 3] > 0
    err = torch.linalg.norm(pred - gt_xyz, dim=-1)[valid]
    return err.mean() * 1000.0 if err.numel() else torch.zeros((), device=pred.device)


def _load_token_decoder(path: str) -> tuple[PoseTokenDecoder, Any]:
    tok = read_tokenizer_file(path)
    decoder = PoseTokenDecoder(tok.arch)
    load_state_dict_strict(decoder, filter_tokenizer_state_dict(tok.net), path)
    return decoder, tok.arch


class HMRTrainer:
    """Model, optimiser and data of one TokenHMR run; ``train()`` runs to ``total_steps``."""

    def __init__(self, config: HMRTrainConfig, runtime: Runtime) -> None:
        self.config, self.runtime = config, runtime
        seed_everything(config.seed + runtime.rank)
        dev = runtime.device
        token_decoder, arch = _load_token_decoder(config.tokenizer_path)
        self.model = TokenHMR(model_config(config, arch), token_decoder)
        mean = load_smpl_mean_params(config.mean_params_path)
        self.model.smpl_head.set_mean_params(torch.as_tensor(mean.pose), torch.as_tensor(mean.shape),
                                             torch.as_tensor(mean.cam))  # fmt: skip
        if config.pretrained_backbone:
            sd = read_lightning_state_dict(config.pretrained_backbone)
            backbone = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
            load_state_dict_strict(self.model.backbone, backbone, config.pretrained_backbone)
        self.model.to(dev)
        extra = config.joint_regressor_extra_path
        self.smpl = SMPLBody.from_files(config.smpl_path, extra or None).to(dev)
        if not self.smpl.has_extra_regressor:
            raise ValueError("joint_regressor_extra_path (SMPL_to_J19.pkl) is required: the losses use 44 keypoints")
        self.forward: nn.Module = _Forward(self.model, self.smpl)
        if runtime.distributed:
            ids = [dev.index] if dev.type == "cuda" else None
            self.forward = nn.parallel.DistributedDataParallel(self.forward, device_ids=ids)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = make_lr_scheduler(self.optimizer, config.warmup_steps, config.lr_milestones, config.lr_gamma)
        thr = load_thresholds(config.thresholds_path) if config.thresholds_path else default_thresholds()
        self.thresholds = {k: v.to(dev) for k, v in thr.tensors().items()}
        self.train_items, self.train_weights = build_mixture(config.train_data, config.augment)
        self.val = build_mixture(config.val_data, None) if config.val_data else None
        self.step = 0
        self.history: list[dict[str, Any]] = []

    def _loader(self, items: Any, weights: torch.Tensor, start: int, total: int, seed: int) -> Any:
        sampler = StepBatchSampler(items, weights, self.config.batch_size, seed, self.runtime.rank, start, total)
        return torch.utils.data.DataLoader(items, batch_sampler=sampler, num_workers=self.config.num_workers,
                                           pin_memory=self.runtime.device.type == "cuda",
                                           persistent_workers=False)  # fmt: skip

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.runtime.device, non_blocking=True) for k, v in batch.items()}

    def common_step(self, batch: dict[str, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        """Forward + losses, shared by train and val (TALS only in training; val adds the keypoint MPJPE)."""
        pred = self.forward(batch["img"], self.config.bf16)
        losses = compute_losses(pred, batch, self.config, self.thresholds, self.config.tals and stage == "train")
        if stage != "train":
            losses["mpjpe_mm"] = keypoint_mpjpe_mm(pred["keypoints_3d"].detach(), batch["keypoints_3d"])
        return losses

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimiser step; returns the logged scalars."""
        self.model.train()
        losses = self.common_step(self._to_device(batch), "train")
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        out = {f"train/{k}": float(v.detach()) for k, v in losses.items()}
        out["train/lr"] = self.scheduler.get_last_lr()[0]
        return out

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean losses over ``val_batches`` fixed validation batches (no augmentation, no TALS)."""
        if self.val is None:
            return {}
        self.model.eval()
        items, weights = self.val
        sums: dict[str, float] = {}
        loader = self._loader(items, weights, 0, self.config.val_batches, self.config.seed + 7919)
        for n, batch in enumerate(loader, start=1):
            for k, v in self.common_step(self._to_device(batch), "val").items():
                sums[k] = sums.get(k, 0.0) + float(v)
        return {f"val/{k}": v / n for k, v in sums.items()}

    def state(self) -> dict[str, Any]:
        """Everything needed to resume exactly (batches are a function of the step)."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "rng": rng_state(),
                "config": config_to_dict(self.config), "history": list(self.history)}  # fmt: skip

    def resume(self, path: str | Path) -> None:
        """Load ``last.ckpt`` written by this trainer."""
        payload = load_training_checkpoint(path, ("model", "optimizer", "scheduler", "step", "rng"))
        self.model.load_state_dict(payload["model"], strict=True)
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.step = int(payload["step"])
        self.history = list(payload.get("history", []))
        set_rng_state(payload["rng"])

    def _record(self, values: dict[str, float]) -> None:
        if not self.runtime.is_main:
            return
        row = {"step": self.step, **values}
        self.history.append(row)
        with open(Path(self.config.out_dir) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        logger.info("step %d %s", self.step, " ".join(f"{k}={v:.5g}" for k, v in values.items()))

    def train(self) -> None:
        """Run from the current step to ``total_steps``, then export (rank 0)."""
        cfg, out = self.config, Path(self.config.out_dir)
        if self.runtime.is_main:
            out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, out / "config.yaml")
        t0 = time.perf_counter()
        for batch in self._loader(self.train_items, self.train_weights, self.step, cfg.total_steps, cfg.seed):
            values = self.train_step(batch)
            if self.step % cfg.log_every == 0:
                self._record({**values, "time/s": time.perf_counter() - t0})
            if self.val is not None and (self.step % cfg.val_every == 0 or self.step == cfg.total_steps):
                self._record(self.validate())
            if self.runtime.is_main and (self.step % cfg.ckpt_every == 0 or self.step == cfg.total_steps):
                save_training_checkpoint(out / "last.ckpt", self.state())
        if self.runtime.is_main:
            export_tokenhmr(self.model, cfg, out)


def _official_model_config(config: TokenHMRConfig) -> str:
    d = config.decoder
    return (
        "MODEL:\n  IMAGE_SIZE: 256\n  IMAGE_MEAN: [0.485, 0.456, 0.406]\n  IMAGE_STD: [0.229, 0.224, 0.225]\n"
        "  BBOX_SHAPE: [192, 256]\n  TOKENIZER_CHECKPOINT_PATH: tokenizer.pth\n  BACKBONE:\n    TYPE: vit\n"
        f"  SMPL_HEAD:\n    TYPE: token\n    IEF_ITERS: {config.ief_iters}\n    TOKENIZER:\n"
        f"      TOKEN_CODE_DIM: {config.tokenizer.code_dim}\n      TOKEN_NUM: {config.num_tokens}\n"
        f"      TOKEN_CLASS_NUM: {config.token_class_num}\n      TOKENIZER_TYPE: Vanilla\n"
        f"    TRANSFORMER_DECODER:\n      depth: {d.depth}\n      heads: {d.heads}\n      mlp_dim: {d.mlp_dim}\n"
        f"      dim_head: {d.dim_head}\n      dropout: 0.0\n      emb_dropout: 0.0\n      norm: layer\n"
        f"      context_dim: {d.context_dim}\nSMPL:\n  NUM_BODY_JOINTS: {config.num_body_joints}\n"
        "EXTRA:\n  FOCAL_LENGTH: 5000\nLOSS_WEIGHTS:\n  ADVERSARIAL: 0.0\n"
    )


def export_tokenhmr(model: TokenHMR, config: HMRTrainConfig, out_dir: str | Path) -> Path:
    """Write ``tokenhmr_model.ckpt`` (official ``{'state_dict'}``), ``model_config.yaml``, ``backbone.json`` and a
    copy of the tokenizer next to them, plus the backend's installed layout (``model.safetensors``,
    ``tokenizer.safetensors``, ``config.json``: ``backend.models.load_installed_model(out_dir)``); returns the
    checkpoint path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    ckpt = out / "tokenhmr_model.ckpt"
    torch.save({"state_dict": state}, ckpt)
    save_installed_model(model, out, extra={"source": f"training.hmr step {config.total_steps}"})
    (out / "model_config.yaml").write_text(_official_model_config(model.config), encoding="utf-8")
    backbone = asdict(model.config.backbone)
    backbone["patch_embed_padding"] = backbone.pop("patch_padding")
    (out / "backbone.json").write_text(json.dumps({"backbone": backbone}, indent=1) + "\n", encoding="utf-8")
    if Path(config.tokenizer_path).resolve() != (out / "tokenizer.pth").resolve():
        shutil.copyfile(config.tokenizer_path, out / "tokenizer.pth")
    return ckpt


def smoke_config(out_dir: str | Path, total_steps: int = 10) -> HMRTrainConfig:
    """A tiny run: synthetic SMPL, a tiny tokenizer, and synthetic shards (one 3D-GT set, one pseudo-GT set)."""
    from backend.body import write_synthetic_smpl_files
    from backend.models.tiny import TINY_TOKENHMR_CONFIG, write_tiny_tokenhmr_files
    from training.hmr_data import write_synthetic_hmr_shards

    # One folder per torchrun rank, so ranks never write the same files at once.
    data = Path(out_dir) / f"smoke_data_rank{os.environ.get('RANK', '0')}"
    body, tiny_dir = data / "body_models", data / "tiny"
    if not (data / "shards_val").is_dir():
        files = write_synthetic_smpl_files(body, seed=0)
        write_tiny_tokenhmr_files(tiny_dir, seed=0)
        smpl = SMPLBody.from_files(files.smpl_path, files.joint_regressor_extra_path)
        write_synthetic_hmr_shards(data / "shards_3d", smpl, 24, per_shard=8, seed=1)
        write_synthetic_hmr_shards(data / "shards_pgt", smpl, 24, per_shard=8, seed=2)
        write_synthetic_hmr_shards(data / "shards_val", smpl, 8, per_shard=8, seed=3)
    tiny_cfg = TINY_TOKENHMR_CONFIG
    return HMRTrainConfig(
        train_data={"SYNTH-3D": DatasetSpec((str(data / "shards_3d" / "*.tar"),), 0.5, True),
                    "SYNTH-PGT": DatasetSpec((str(data / "shards_pgt" / "*.tar"),), 0.5, False)},
        val_data={"SYNTH-VAL": DatasetSpec((str(data / "shards_val" / "*.tar"),), 1.0, True)},
        tokenizer_path=str(tiny_dir / "tokenizer.pth"), smpl_path=str(body / "smpl" / "SMPL_NEUTRAL.pkl"),
        joint_regressor_extra_path=str(body / "SMPL_to_J19.pkl"), mean_params_path=str(body / "smpl_mean_params.npz"),
        out_dir=str(out_dir), backbone=tiny_cfg.backbone, decoder=tiny_cfg.decoder, batch_size=4,
        total_steps=total_steps, lr=1e-3, warmup_steps=2, num_workers=0, log_every=1, val_every=total_steps,
        val_batches=2, ckpt_every=total_steps, bf16=False, device="cpu",
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--config`` (JSON/YAML of ``HMRTrainConfig``) or ``--smoke``."""
    parser = argparse.ArgumentParser(description="Train TokenHMR with TALS.")
    parser.add_argument("--config", help="JSON or YAML file with HMRTrainConfig fields")
    parser.add_argument("--smoke", action="store_true", help="a few steps on tiny synthetic data")
    parser.add_argument("--steps", type=int, help="override total_steps")
    parser.add_argument("--out-dir", help="override out_dir")
    parser.add_argument("--resume", help="last.ckpt to resume from")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.smoke:
        config = smoke_config(args.out_dir or "runs/tokenhmr_smoke", args.steps or 10)
    elif args.config:
        config = load_config(HMRTrainConfig, args.config)
    else:
        parser.error("pass --config <file> or --smoke")
    if args.steps is not None:
        config = replace(config, total_steps=args.steps)
    if args.out_dir is not None:
        config = replace(config, out_dir=args.out_dir)
    runtime = setup_runtime(config.device)
    try:
        trainer = HMRTrainer(config, runtime)
        if args.resume:
            trainer.resume(args.resume)
        trainer.train()
    finally:
        teardown_runtime(runtime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

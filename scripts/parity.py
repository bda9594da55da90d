#!/usr/bin/env python
"""Parity check against reference tensors produced with the official TokenHMR code.

Usage:
    .venv/bin/python scripts/parity.py FIXTURE_DIR [--rtol 1e-4] [--atol 1e-5]

FIXTURE_DIR follows the layout of ``shared/fixtures/tokenhmr_parity`` (see its README.md): ``fixture_config.json``
(backbone sizes, file names), ``model_config.yaml`` (decoder sizes, SMPL paths), the checkpoint and
``tokenizer.pth`` (tokenizer architecture), the SMPL files, ``inputs.npz``, ``outputs.npz``, optionally
``intermediates.npz`` and ``preprocess.npz``. Every size is read from those files, so any fixture produced the
same way works (other sizes, seeds, tokenizer architectures).

The network runs on ``inputs.npz``; every key of ``outputs.npz`` (and of ``intermediates.npz``) is compared, and
the raw images of ``preprocess.npz`` go through ``backend.vision.crop_person`` and are compared with the official
crops. Prints the max |difference| per key and exits 1 if any key fails (or is unknown), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backend.body import SMPLBody
from backend.models import HMRPredictor, backbone_config_from_json, load_tokenhmr, read_official_model_config
from backend.vision import (
    BBOX_SHAPE,
    CROP_SIZE,
    FOCAL_LENGTH,
    IMAGE_MEAN,
    IMAGE_STD,
    cam_crop_to_full,
    crop_person,
    focal_length_px,
)

DEFAULT_FILES = {
    "model_config": "model_config.yaml",
    "checkpoint": "tokenhmr_fixture.ckpt",
    "tokenizer_checkpoint": "tokenizer.pth",
    "inputs": "inputs.npz",
    "outputs": "outputs.npz",
    "intermediates": "intermediates.npz",
    "preprocess": "preprocess.npz",
}


@dataclass
class Row:
    """One compared key."""

    group: str
    key: str
    shape: tuple
    max_abs: float
    ok: bool
    note: str = ""


def _compare(group: str, key: str, actual: np.ndarray | None, expected: np.ndarray, rtol: float, atol: float) -> Row:
    if actual is None:
        return Row(group, key, tuple(expected.shape), float("nan"), False, "no implementation for this key")
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.size != expected.size:
        return Row(group, key, tuple(expected.shape), float("nan"), False, f"shape {actual.shape} != {expected.shape}")
    actual = actual.reshape(expected.shape)
    diff = np.abs(actual - expected)
    ok = bool(np.all(diff <= atol + rtol * np.abs(expected)))
    return Row(group, key, tuple(expected.shape), float(diff.max()) if diff.size else 0.0, ok)


def _files(folder: Path, fixture_config: dict) -> dict[str, Path]:
    names = {**DEFAULT_FILES, **fixture_config.get("files", {})}
    return {k: folder / v for k, v in names.items()}


def _smpl_paths(folder: Path, files: dict[str, Path], model_cfg: dict) -> tuple[Path, Path | None]:
    smpl_cfg = model_cfg.get("SMPL", {})
    if "smpl_model" in files:
        smpl = files["smpl_model"]
    else:
        gender = str(smpl_cfg.get("GENDER", "neutral")).upper()
        smpl = folder / smpl_cfg.get("MODEL_PATH", "body_models/smpl") / f"SMPL_{gender}.pkl"
    if "joint_regressor_extra" in files:
        extra = files["joint_regressor_extra"]
    else:
        extra = folder / smpl_cfg["JOINT_REGRESSOR_EXTRA"] if "JOINT_REGRESSOR_EXTRA" in smpl_cfg else None
    return smpl, extra


def _config_rows(model_cfg: dict) -> list[Row]:
    """The camera and preprocessing constants of ``model_config.yaml`` must be the ones the implementation uses
    (both released models share them); a fixture made with other values fails here by name, not as a wall of
    numeric mismatches."""
    ours = {
        "EXTRA.FOCAL_LENGTH": [FOCAL_LENGTH],
        "MODEL.IMAGE_SIZE": [CROP_SIZE],
        "MODEL.IMAGE_MEAN": list(IMAGE_MEAN),
        "MODEL.IMAGE_STD": list(IMAGE_STD),
        "MODEL.BBOX_SHAPE": list(BBOX_SHAPE),
    }
    rows = []
    for key, expected in ours.items():
        section, name = key.split(".")
        value = model_cfg.get(section, {}).get(name)
        if value is None:
            continue  # absent: the official loader uses the same defaults
        got = np.atleast_1d(np.asarray(value, dtype=np.float64))
        ok = got.shape == (len(expected),) and bool(np.allclose(got, expected, rtol=0, atol=1e-12))
        diff = float(np.abs(got - expected).max()) if got.shape == (len(expected),) else float("nan")
        note = "" if ok else f"fixture {got.tolist()} but the implementation uses {expected}"
        rows.append(Row("config", key, got.shape, diff, ok, note))
    return rows


def _preprocess_cases(data: np.lib.npyio.NpzFile) -> list[int]:
    return sorted(int(k.rsplit("_", 1)[1]) for k in data.files if k.startswith("raw_image_"))


def run(folder: Path, rtol: float, atol: float) -> list[Row]:
    """Run every comparison for one fixture folder."""
    fixture_config = json.loads((folder / "fixture_config.json").read_text(encoding="utf-8"))
    files = _files(folder, fixture_config)
    backbone = backbone_config_from_json(fixture_config)
    model_cfg = read_official_model_config(files["model_config"])
    model = load_tokenhmr(files["checkpoint"], files["tokenizer_checkpoint"], files["model_config"], backbone=backbone)
    smpl_path, extra_path = _smpl_paths(folder, files, model_cfg)
    predictor = HMRPredictor(model, SMPLBody.from_files(smpl_path, extra_path)).eval()

    img = torch.from_numpy(np.load(files["inputs"])["img"]).float()
    with torch.no_grad():
        pred = predictor(img)
        head = model.smpl_head
        deltas = {
            "global_orient_6d_delta": head.decpose_grot(pred.network.token_out),
            "hands_6d_delta": head.decpose_hands(pred.network.token_out),
            "betas_delta": head.decshape(pred.network.token_out),
            "cam_delta": head.deccam(pred.network.token_out),
        }
    net = pred.network

    rows: list[Row] = _config_rows(model_cfg)
    crops = {}
    if files["preprocess"].is_file():
        pre = np.load(files["preprocess"])
        for i in _preprocess_cases(pre):
            crop = crop_person(pre[f"raw_image_{i}"], pre[f"bbox_xyxy_{i}"])
            height, width = pre[f"raw_image_{i}"].shape[:2]
            crops[i] = (crop, np.array([width, height], dtype=np.float64))
            rows.append(_compare("preprocess", f"img_{i}", crop.img, pre[f"img_{i}"], rtol, atol))
            rows.append(_compare("preprocess", f"box_center_{i}", crop.box_center, pre[f"box_center_{i}"], rtol, atol))
            rows.append(_compare("preprocess", f"box_size_{i}", np.asarray(crop.box_size), pre[f"box_size_{i}"], rtol, atol))
            rows.append(_compare("preprocess", f"img_size_{i}", crops[i][1], pre[f"img_size_{i}"], rtol, atol))

    actual: dict[str, np.ndarray | None] = {
        "global_orient": net.global_orient.numpy(),
        "body_pose": net.body_pose.numpy(),
        "betas": net.betas.numpy(),
        "pred_cam": net.pred_cam.numpy(),
        "pred_cam_t": pred.pred_cam_t.numpy(),
        "focal_length": pred.focal_length.numpy(),
        "pred_keypoints_3d": pred.keypoints_3d.numpy(),
        "pred_keypoints_2d": pred.keypoints_2d.numpy(),
        "pred_vertices": pred.vertices.numpy(),
        "cls_logits_softmax": net.cls_probs.numpy(),
    }
    if len(crops) >= img.shape[0]:
        # inputs.npz stacks the preprocess crops in case order (README), so case i is batch row i.
        order = sorted(crops)[: img.shape[0]]
        box_center = np.stack([crops[i][0].box_center for i in order]).astype(np.float64)
        box_size = np.array([crops[i][0].box_size for i in order], dtype=np.float64)
        img_size = np.stack([crops[i][1] for i in order])
        pred_cam = net.pred_cam.numpy().astype(np.float64)
        focal = focal_length_px(img_size)
        batch_max_focal = np.array([FOCAL_LENGTH / CROP_SIZE * img_size.max()])  # the official demo's img_size.max()
        actual.update(
            box_center=box_center,
            box_size=box_size,
            img_size=img_size,
            scaled_focal_length_per_image=focal,
            pred_cam_t_full=cam_crop_to_full(pred_cam, box_center, box_size, img_size, focal),
            scaled_focal_length_batch_max=batch_max_focal,
            pred_cam_t_full_batch_max_focal=cam_crop_to_full(
                pred_cam, box_center, box_size, img_size, np.repeat(batch_max_focal, len(order))
            ),
        )
    outputs = np.load(files["outputs"])
    for key in outputs.files:
        rows.append(_compare("outputs", key, actual.get(key), outputs[key], rtol, atol))

    if files["intermediates"].is_file():
        inter_actual = {
            "backbone_features": net.features.numpy(),
            "token_out": net.token_out.numpy(),
            "cls_logits": net.cls_logits.numpy(),
            "body_pose_6d_tokens": net.body_pose_6d_tokens.numpy(),
            "pose_6d_full": net.pose_6d.numpy(),
            **{k: v.numpy() for k, v in deltas.items()},
        }
        intermediates = np.load(files["intermediates"])
        for key in intermediates.files:
            rows.append(_compare("intermediates", key, inter_actual.get(key), intermediates[key], rtol, atol))
    return rows


def format_table(rows: list[Row]) -> str:
    """A plain-text table: group, key, shape, max |diff|, status."""
    lines = [f"{'group':<14} {'key':<34} {'shape':<18} {'max |diff|':>12}  status"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        status = "ok" if r.ok else f"FAIL {r.note}".rstrip()
        lines.append(f"{r.group:<14} {r.key:<34} {str(r.shape):<18} {r.max_abs:>12.3e}  {status}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixture_dir", type=Path, help="folder in the tokenhmr_parity fixture layout")
    parser.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    parser.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not (args.fixture_dir / "fixture_config.json").is_file():
        print(f"error: {args.fixture_dir} has no fixture_config.json; pass a parity fixture folder", file=sys.stderr)
        return 2
    rows = run(args.fixture_dir, args.rtol, args.atol)
    print(format_table(rows))
    failed = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} keys within rtol={args.rtol}, atol={args.atol}")
    if failed:
        print("FAILED: " + ", ".join(f"{r.group}/{r.key}" for r in failed))
        return 1
    print("PARITY OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
